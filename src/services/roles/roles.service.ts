import { appError } from '../../core/errors.js';
import { canonicalId, newId } from '../../core/ids.js';
import { violatedConstraint, type Database } from '../../infra/database/index.js';
import { accessFilter, can } from '../access/index.js';
import { actorOf, type Audit } from '../auth/audit.js';
import { signedIn, type ServiceContext } from '../context.js';
import { TOPIC } from '../events/catalog.js';
import { countWhere } from '../shared/count.js';
import { FieldProblems, onlyFields } from '../shared/input.js';
import { pageBounds, toPage, type Page, type PageRequest } from '../shared/pagination.js';
import { nameCharacterProblem } from '../shared/text.js';
import type { UnitOfWork } from '../shared/unit-of-work.js';
import { permissionView, roleView, type PermissionView, type RoleView } from '../shared/views.js';
import {
  assertNotAdminRole,
  grantor,
  groupBy,
  insertPermission,
  permissionFromInput,
  permissionNotFound,
  readableRole,
  ROLE_COLUMNS,
  roleRecord,
} from './common.js';
import { previewPermission, type PermissionPreview } from './preview.js';

export interface RolesDeps {
  database: Database;
  audit: Audit;
  work: UnitOfWork;
}

export interface RoleDetail extends RoleView {
  permissions: PermissionView[];
}

const PERMISSION_COLUMNS = ['permissions.id', 'permissions.resource_type', 'permissions.action', 'permissions.conditions'] as const;

function roleFields(input: Record<string, unknown>, creating: boolean): { name?: string; description?: string } {
  const problems = new FieldProblems();
  onlyFields(input, ['name', 'description'], problems);
  const fields: { name?: string; description?: string } = {};
  if (creating || 'name' in input) {
    const name = typeof input.name === 'string' ? input.name.trim().normalize('NFC') : '';
    const refused = nameCharacterProblem(name);
    if ([...name].length < 1 || [...name].length > 100) problems.add('name', 'must be 1 to 100 characters');
    else if (refused) problems.add('name', refused);
    fields.name = name;
  }
  if ('description' in input) {
    if (typeof input.description !== 'string' || [...input.description].length > 1000)
      problems.add('description', 'must be a string of at most 1000 characters');
    else fields.description = input.description.trim();
  }
  problems.throwIfAny();
  return fields;
}

/**
 * Roles and their permissions (DESIGN §5 "Permissions"): what a role is and what it allows.
 * Who holds which role, and permissions held directly, are grants.service.ts. Changing a
 * role's permissions changes its holders' access: their cached grants go with the change,
 * and `role.changed` tells every instance.
 */
export class RolesService {
  readonly #d: RolesDeps;

  constructor(deps: RolesDeps) {
    this.#d = deps;
  }

  async list(ctx: ServiceContext, page: PageRequest): Promise<Page<RoleView>> {
    const caller = signedIn(ctx).principal;
    const { limit, after } = pageBounds(page);
    const filter = accessFilter(caller.ability, 'read', 'role');
    if (filter.kind === 'none') return { items: [], nextCursor: null };
    let query = this.#d.database.db
      .selectFrom('roles')
      .select(ROLE_COLUMNS)
      .orderBy('roles.id')
      .limit(limit + 1);
    if (after) query = query.where('roles.id', '>', after);
    if (filter.kind === 'where') query = query.where(filter.expression);
    return toPage(await query.execute(), limit, roleView);
  }

  async count(ctx: ServiceContext): Promise<number> {
    const caller = signedIn(ctx).principal;
    return countWhere(this.#d.database, accessFilter(caller.ability, 'read', 'role'), 'roles');
  }

  async get(ctx: ServiceContext, rawId: string): Promise<RoleDetail> {
    const caller = signedIn(ctx).principal;
    const role = await readableRole(this.#d.database.db, caller, rawId);
    const permissions = (await this.permissionsOfRoles([role.id])).get(role.id) ?? [];
    return { ...role, permissions };
  }

  async create(ctx: ServiceContext, input: Record<string, unknown>): Promise<RoleDetail> {
    const callerCtx = signedIn(ctx);
    const caller = callerCtx.principal;
    if (!can(caller.ability, 'create', 'role')) throw appError('FORBIDDEN', 'You may not create roles.');
    const fields = roleFields(input, true);
    const id = newId();
    // The permission's conditions apply to the role that would be created.
    if (!can(caller.ability, 'create', 'role', { id, name: fields.name })) throw appError('FORBIDDEN', 'You may not create this role.');
    const now = new Date();
    const row = await this.#d.database.db
      .insertInto('roles')
      .values({ id, name: fields.name!, description: fields.description ?? '', created_at: now, updated_at: now })
      .returning(ROLE_COLUMNS)
      .executeTakeFirstOrThrow()
      .catch((err: unknown) => {
        throw nameTaken(err) ?? err;
      });
    this.#d.audit('role.created', { ...actorOf(callerCtx), roleId: row.id, name: row.name });
    return { ...roleView(row), permissions: [] };
  }

  async update(ctx: ServiceContext, rawId: string, input: Record<string, unknown>): Promise<RoleDetail> {
    const callerCtx = signedIn(ctx);
    const caller = callerCtx.principal;
    const fields = roleFields(input, false);
    const role = await readableRole(this.#d.database.db, caller, rawId);
    const id = role.id;
    // As it is and as it would be: leave to change roles named "x" is not leave to rename them to anything.
    if (
      !can(caller.ability, 'update', 'role', roleRecord(role)) ||
      !can(caller.ability, 'update', 'role', roleRecord({ id, name: fields.name ?? role.name }))
    ) {
      throw appError('FORBIDDEN', 'You may not change this role.');
    }
    if (role.builtin && fields.name !== undefined && fields.name !== role.name) throw appError('CONFLICT', 'A built-in role cannot be renamed.');
    if (Object.keys(fields).length > 0) {
      await this.#d.work
        .run(callerCtx, async (tx, effects) => {
          await tx
            .updateTable('roles')
            .set({ ...fields, updated_at: new Date() })
            .where('id', '=', id)
            .execute();
          // Holders' cached grants name the role.
          effects.invalidateGrants(await holders(tx, id));
          await effects.emit({ topic: TOPIC.roleChanged, payload: { roleId: id, change: 'updated', actorId: caller.user.id } });
        })
        .catch((err: unknown) => {
          throw nameTaken(err) ?? err;
        });
      this.#d.audit('role.updated', { ...actorOf(callerCtx), roleId: id, fields: Object.keys(fields) });
    }
    return this.get(callerCtx, id);
  }

  async delete(ctx: ServiceContext, rawId: string): Promise<void> {
    const callerCtx = signedIn(ctx);
    const caller = callerCtx.principal;
    const role = await readableRole(this.#d.database.db, caller, rawId);
    const id = role.id;
    if (!can(caller.ability, 'delete', 'role', roleRecord(role))) throw appError('FORBIDDEN', 'You may not delete this role.');
    if (role.builtin) throw appError('CONFLICT', 'A built-in role cannot be deleted.');
    await this.#d.work.run(callerCtx, async (tx, effects) => {
      // Whoever holds it at the moment it goes, including anyone assigned meanwhile.
      const holderIds = (await tx.deleteFrom('user_roles').where('role_id', '=', id).returning('user_id').execute()).map((h) => h.user_id);
      // The role's permissions belong to it alone; they go with it.
      const owned = tx.selectFrom('role_permissions').select('permission_id').where('role_id', '=', id);
      await tx.deleteFrom('permissions').where('id', 'in', owned).execute();
      await tx.deleteFrom('roles').where('id', '=', id).execute();
      effects.invalidateGrants(holderIds);
      await effects.emit({ topic: TOPIC.roleChanged, payload: { roleId: id, change: 'deleted', actorId: caller.user.id } });
      // Each holder lost the role: it is told, as when the role is taken from it alone.
      await effects.emit(
        holderIds.map((userId) => ({ topic: TOPIC.roleUnassigned, payload: { userId, roleId: id, roleName: role.name, actorId: caller.user.id } })),
      );
    });
    this.#d.audit('role.deleted', { ...actorOf(callerCtx), roleId: id, name: role.name });
  }

  async addPermission(ctx: ServiceContext, rawRoleId: string, input: Record<string, unknown>): Promise<PermissionView> {
    const callerCtx = grantor(ctx);
    const caller = callerCtx.principal;
    const permission = permissionFromInput(input);
    const role = await readableRole(this.#d.database.db, caller, rawRoleId);
    assertNotAdminRole(role);
    const created = await this.#d.work.run(callerCtx, async (tx, effects) => {
      const view = await insertPermission(tx, permission, { role_id: role.id });
      effects.invalidateGrants(await holders(tx, role.id));
      await effects.emit({ topic: TOPIC.roleChanged, payload: { roleId: role.id, change: 'permission_added', actorId: caller.user.id } });
      return view;
    });
    this.#d.audit('permission.granted', {
      ...actorOf(callerCtx),
      roleId: role.id,
      permissionId: created.id,
      resourceType: created.resourceType,
      action: created.action,
    });
    return created;
  }

  async removePermission(ctx: ServiceContext, rawRoleId: string, rawPermissionId: string): Promise<void> {
    const callerCtx = grantor(ctx);
    const caller = callerCtx.principal;
    const role = await readableRole(this.#d.database.db, caller, rawRoleId);
    assertNotAdminRole(role);
    const permissionId = canonicalId(rawPermissionId);
    const linked = permissionId
      ? await this.#d.database.db
          .selectFrom('role_permissions')
          .select('permission_id')
          .where('role_id', '=', role.id)
          .where('permission_id', '=', permissionId)
          .executeTakeFirst()
      : undefined;
    if (!linked) throw permissionNotFound();
    await this.#d.work.run(callerCtx, async (tx, effects) => {
      await tx.deleteFrom('permissions').where('id', '=', linked.permission_id).execute();
      effects.invalidateGrants(await holders(tx, role.id));
      await effects.emit({ topic: TOPIC.roleChanged, payload: { roleId: role.id, change: 'permission_removed', actorId: caller.user.id } });
    });
    this.#d.audit('permission.revoked', { ...actorOf(callerCtx), roleId: role.id, permissionId: linked.permission_id });
  }

  /**
   * The resources a permission would match, with `${user.id}` standing for `userId` (default:
   * the caller), before anyone is granted it. As granting does, it needs the unconditional
   * right to manage roles: a preview reads resources whatever the caller's own access.
   */
  async previewPermission(ctx: ServiceContext, input: Record<string, unknown>): Promise<PermissionPreview> {
    const caller = grantor(ctx);
    return previewPermission(this.#d.database.db, input, caller.principal.user.id);
  }

  /** Permissions of each role (one query per batch). */
  async permissionsOfRoles(roleIds: readonly string[]): Promise<Map<string, PermissionView[]>> {
    if (roleIds.length === 0) return new Map();
    const rows = await this.#d.database.db
      .selectFrom('role_permissions')
      .innerJoin('permissions', 'permissions.id', 'role_permissions.permission_id')
      .select(['role_permissions.role_id', ...PERMISSION_COLUMNS])
      .where('role_permissions.role_id', 'in', roleIds)
      .orderBy('permissions.id')
      .execute();
    return groupBy(rows, (r) => r.role_id, permissionView);
  }
}

/** Who holds a role, read in the change's transaction. */
async function holders(tx: Database['db'], roleId: string): Promise<string[]> {
  return (await tx.selectFrom('user_roles').select('user_id').where('role_id', '=', roleId).execute()).map((r) => r.user_id);
}

function nameTaken(err: unknown) {
  return violatedConstraint(err) === 'roles_name_key'
    ? appError('CONFLICT', 'A role with this name already exists.', { errors: [{ field: 'name', message: 'is taken' }] })
    : undefined;
}
