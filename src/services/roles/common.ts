import { appError } from '../../core/errors.js';
import { canonicalId, newId } from '../../core/ids.js';
import type { Database } from '../../infra/database/index.js';
import { can, canUnconditionally, validatePermissionInput, type ValidPermission } from '../access/index.js';
import type { Principal } from '../auth/principals.js';
import { signedIn, type CallerContext, type ServiceContext } from '../context.js';
import { FieldProblems, onlyFields } from '../shared/input.js';
import { permissionView, roleView, type PermissionView, type RoleView } from '../shared/views.js';
import { ADMIN_ROLE_ID } from './builtin.js';

/** What roles and grants share: the role's columns and access rules, and how a permission is made. */
export const ROLE_COLUMNS = ['roles.id', 'roles.name', 'roles.description', 'roles.builtin', 'roles.created_at', 'roles.updated_at'] as const;

export const permissionNotFound = () => appError('NOT_FOUND', 'No such permission.');
const roleNotFound = () => appError('NOT_FOUND', 'No such role.');

/** What permission conditions on roles see. */
export const roleRecord = (role: { id: string; name: string }) => ({ id: role.id, name: role.name });

/** A role the caller may read; NOT_FOUND otherwise, exactly like a missing one. */
export async function readableRole(db: Database['db'], caller: Principal, rawId: string): Promise<RoleView> {
  const id = canonicalId(rawId);
  if (!id) throw roleNotFound();
  const row = await db.selectFrom('roles').select(ROLE_COLUMNS).where('roles.id', '=', id).executeTakeFirst();
  if (!row || !can(caller.ability, 'read', 'role', roleRecord(row))) throw roleNotFound();
  return roleView(row);
}

/**
 * Granting (a role to a user, a permission to a role or user) needs the unconditional right
 * to manage roles, so nobody can widen their own access without it.
 */
export function grantor(ctx: ServiceContext): CallerContext {
  const caller = signedIn(ctx);
  if (!canUnconditionally(caller.principal.ability, 'manage', 'role')) throw appError('FORBIDDEN', 'Only administrators may grant roles and permissions.');
  return caller;
}

/**
 * The admin role's permissions are fixed: removing one would leave nobody able to grant
 * anything again (not even the admins, to put it back).
 */
export function assertNotAdminRole(role: RoleView): void {
  if (role.id === ADMIN_ROLE_ID) throw appError('CONFLICT', "The admin role's permissions cannot be changed.");
}

/** A permission from request input: its three fields validated, any other field refused. */
export function permissionFromInput(input: Record<string, unknown>): ValidPermission {
  const problems = new FieldProblems();
  onlyFields(input, ['resourceType', 'action', 'conditions'], problems);
  problems.throwIfAny();
  return validatePermissionInput({ resourceType: input.resourceType, action: input.action, conditions: input.conditions });
}

/** A new permission row and its link to one role or one user, in the caller's transaction. */
export async function insertPermission(
  tx: Database['db'],
  permission: ValidPermission,
  link: { role_id: string } | { user_id: string },
): Promise<PermissionView> {
  const row = await tx
    .insertInto('permissions')
    .values({
      id: newId(),
      resource_type: permission.resourceType,
      action: permission.action,
      conditions: permission.conditions === null ? null : JSON.stringify(permission.conditions),
    })
    .returning(['id', 'resource_type', 'action', 'conditions'])
    .executeTakeFirstOrThrow();
  if ('role_id' in link) await tx.insertInto('role_permissions').values({ role_id: link.role_id, permission_id: row.id }).execute();
  else await tx.insertInto('user_permissions').values({ user_id: link.user_id, permission_id: row.id }).execute();
  return permissionView(row);
}

/** Rows grouped by key, each turned into its view; keys without rows are absent. */
export function groupBy<R, T>(rows: readonly R[], keyOf: (row: R) => string, view: (row: R) => T): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const key = keyOf(row);
    const group = groups.get(key);
    if (group) group.push(view(row));
    else groups.set(key, [view(row)]);
  }
  return groups;
}
