import { appError } from '../../core/errors.js';
import { canonicalId, newId } from '../../core/ids.js';
import { violatedConstraint, type Database } from '../../infra/database/index.js';
import { accessFilter, can, canUnconditionally, validatePermissionInput, type ValidPermission } from '../access/index.js';
import { actor, type Audit } from '../auth/audit.js';
import { requireSignedIn, type GrantsStore, type Principal } from '../auth/principals.js';
import { TOPIC, type RoleChangedPayload, type UserPermissionPayload } from '../events/catalog.js';
import type { Outbox } from '../shared/outbox.js';
import { pageBounds, toPage, type Page, type PageRequest } from '../shared/pagination.js';
import { nameCharacterProblem } from '../shared/text.js';
import { permissionView, roleView, type PermissionView, type RoleView } from '../shared/views.js';
import { FieldProblems, onlyFields } from '../shared/input.js';
import { ADMIN_ROLE_ID } from './builtin.js';
import { assertNotLastAdmin, countWhere, userNotFound } from '../users/users.service.js';

export interface RolesDeps {
  database: Database;
  grants: GrantsStore;
  audit: Audit;
  outbox: Outbox;
}

export interface RoleDetail extends RoleView {
  permissions: PermissionView[];
}

const ROLE_COLUMNS = ['roles.id', 'roles.name', 'roles.description', 'roles.builtin', 'roles.created_at', 'roles.updated_at'] as const;
const PERMISSION_COLUMNS = ['permissions.id', 'permissions.resource_type', 'permissions.action', 'permissions.conditions'] as const;

const roleNotFound = () => appError('NOT_FOUND', 'No such role.');
const permissionNotFound = () => appError('NOT_FOUND', 'No such permission.');
const roleRecord = (role: { id: string; name: string }) => ({ id: role.id, name: role.name });

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
 * Roles, their permissions, and who holds what (DESIGN §5 "Permissions"). Granting (a role
 * to a user, a permission to a role or user) needs the unconditional right to manage roles,
 * so nobody can widen their own access without it.
 */
export class RolesService {
  readonly #d: RolesDeps;

  constructor(deps: RolesDeps) {
    this.#d = deps;
  }

  async list(principal: Principal | undefined, page: PageRequest): Promise<Page<RoleView>> {
    const caller = requireSignedIn(principal);
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

  async count(principal: Principal | undefined): Promise<number> {
    const caller = requireSignedIn(principal);
    return countWhere(this.#d.database, accessFilter(caller.ability, 'read', 'role'), 'roles');
  }

  async get(principal: Principal | undefined, rawId: string): Promise<RoleDetail> {
    const caller = requireSignedIn(principal);
    const role = await this.#readable(caller, rawId);
    const permissions = (await this.permissionsOfRoles([role.id])).get(role.id) ?? [];
    return { ...role, permissions };
  }

  async create(principal: Principal | undefined, input: Record<string, unknown>): Promise<RoleDetail> {
    const caller = requireSignedIn(principal);
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
    this.#d.audit('role.created', { ...actor(caller), roleId: row.id, name: row.name });
    return { ...roleView(row), permissions: [] };
  }

  async update(principal: Principal | undefined, rawId: string, input: Record<string, unknown>): Promise<RoleDetail> {
    const caller = requireSignedIn(principal);
    const fields = roleFields(input, false);
    const role = await this.#readable(caller, rawId);
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
      // Holders' cached grants name the role; invalidated first (see #changeGrants).
      await this.#changeGrants(await this.#holders(id), () =>
        this.#d.database.db
          .transaction()
          .execute(async (tx) => {
            await tx
              .updateTable('roles')
              .set({ ...fields, updated_at: new Date() })
              .where('id', '=', id)
              .execute();
            await this.#roleChanged(tx, caller, id, 'updated');
          })
          .catch((err: unknown) => {
            throw nameTaken(err) ?? err;
          }),
      );
      this.#d.outbox.committed();
      this.#d.audit('role.updated', { ...actor(caller), roleId: id, fields: Object.keys(fields) });
    }
    return this.get(caller, id);
  }

  async delete(principal: Principal | undefined, rawId: string): Promise<void> {
    const caller = requireSignedIn(principal);
    const role = await this.#readable(caller, rawId);
    const id = role.id;
    if (!can(caller.ability, 'delete', 'role', roleRecord(role))) throw appError('FORBIDDEN', 'You may not delete this role.');
    if (role.builtin) throw appError('CONFLICT', 'A built-in role cannot be deleted.');
    const lateHolders = await this.#changeGrants(await this.#holders(id), () =>
      this.#d.database.db.transaction().execute(async (tx) => {
        // Whoever holds it at the moment it goes, including anyone assigned meanwhile.
        const holders = await tx.deleteFrom('user_roles').where('role_id', '=', id).returning('user_id').execute();
        // The role's permissions belong to it alone; they go with it.
        const owned = tx.selectFrom('role_permissions').select('permission_id').where('role_id', '=', id);
        await tx.deleteFrom('permissions').where('id', 'in', owned).execute();
        await tx.deleteFrom('roles').where('id', '=', id).execute();
        await this.#roleChanged(tx, caller, id, 'deleted');
        // Each holder lost the role: it is told, as when the role is taken from it alone.
        const holderIds = holders.map((h) => h.user_id);
        await this.#roleAssignment(tx, TOPIC.roleUnassigned, caller, holderIds, role);
        return holderIds;
      }),
    );
    this.#d.outbox.committed();
    await this.#d.grants.invalidate(lateHolders).catch(() => undefined);
    this.#d.audit('role.deleted', { ...actor(caller), roleId: id, name: role.name });
  }

  async addPermission(principal: Principal | undefined, rawRoleId: string, input: Record<string, unknown>): Promise<PermissionView> {
    const caller = this.#grantor(principal);
    const permission = permissionFromInput(input);
    const role = await this.#readable(caller, rawRoleId);
    assertNotAdminRole(role);
    const created = await this.#changeGrants(await this.#holders(role.id), () =>
      this.#insertPermission(permission, { role_id: role.id }, (tx) => this.#roleChanged(tx, caller, role.id, 'permission_added')),
    );
    this.#d.audit('permission.granted', {
      ...actor(caller),
      roleId: role.id,
      permissionId: created.id,
      resourceType: created.resourceType,
      action: created.action,
    });
    return created;
  }

  async removePermission(principal: Principal | undefined, rawRoleId: string, rawPermissionId: string): Promise<void> {
    const caller = this.#grantor(principal);
    const role = await this.#readable(caller, rawRoleId);
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
    await this.#changeGrants(await this.#holders(role.id), () =>
      this.#d.database.db.transaction().execute(async (tx) => {
        await tx.deleteFrom('permissions').where('id', '=', linked.permission_id).execute();
        await this.#roleChanged(tx, caller, role.id, 'permission_removed');
      }),
    );
    this.#d.outbox.committed();
    this.#d.audit('permission.revoked', { ...actor(caller), roleId: role.id, permissionId: linked.permission_id });
  }

  /** Gives a user a role; idempotent. */
  async assign(principal: Principal | undefined, rawUserId: string, rawRoleId: string): Promise<void> {
    const caller = this.#grantor(principal);
    const userId = await this.#existingUser(rawUserId);
    const role = await this.#readable(caller, rawRoleId);
    await this.#changeGrants([userId], () =>
      this.#d.database.db.transaction().execute(async (tx) => {
        const added = await tx
          .insertInto('user_roles')
          .values({ user_id: userId, role_id: role.id })
          .onConflict((oc) => oc.doNothing())
          .returning('user_id')
          .executeTakeFirst();
        // Assigning a role the user already has changes nothing, and says nothing.
        if (added) await this.#roleAssignment(tx, TOPIC.roleAssigned, caller, [userId], role);
      }),
    );
    this.#d.outbox.committed();
    this.#d.audit('role.assigned', { ...actor(caller), userId, roleId: role.id });
  }

  /** Takes a role from a user; idempotent, except that the last admin keeps the admin role. */
  async unassign(principal: Principal | undefined, rawUserId: string, rawRoleId: string): Promise<void> {
    const caller = this.#grantor(principal);
    const userId = await this.#existingUser(rawUserId);
    const role = await this.#readable(caller, rawRoleId);
    await this.#changeGrants([userId], () =>
      this.#d.database.db.transaction().execute(async (tx) => {
        await assertNotLastAdmin(tx, userId, role.id);
        const removed = await tx.deleteFrom('user_roles').where('user_id', '=', userId).where('role_id', '=', role.id).returning('user_id').executeTakeFirst();
        if (removed) await this.#roleAssignment(tx, TOPIC.roleUnassigned, caller, [userId], role);
      }),
    );
    this.#d.outbox.committed();
    this.#d.audit('role.unassigned', { ...actor(caller), userId, roleId: role.id });
  }

  /** A permission held by one user directly, not through a role. */
  async grantToUser(principal: Principal | undefined, rawUserId: string, input: Record<string, unknown>): Promise<PermissionView> {
    const caller = this.#grantor(principal);
    const permission = permissionFromInput(input);
    const userId = await this.#existingUser(rawUserId);
    const created = await this.#changeGrants([userId], () =>
      this.#insertPermission(permission, { user_id: userId }, (tx, view) => this.#userPermission(tx, TOPIC.permissionGranted, caller, userId, view)),
    );
    this.#d.audit('permission.granted', { ...actor(caller), userId, permissionId: created.id, resourceType: created.resourceType, action: created.action });
    return created;
  }

  async revokeFromUser(principal: Principal | undefined, rawUserId: string, rawPermissionId: string): Promise<void> {
    const caller = this.#grantor(principal);
    const userId = await this.#existingUser(rawUserId);
    const permissionId = canonicalId(rawPermissionId);
    const linked = permissionId
      ? await this.#d.database.db
          .selectFrom('user_permissions')
          .select('permission_id')
          .where('user_id', '=', userId)
          .where('permission_id', '=', permissionId)
          .executeTakeFirst()
      : undefined;
    if (!linked) throw permissionNotFound();
    await this.#changeGrants([userId], () =>
      this.#d.database.db.transaction().execute(async (tx) => {
        const removed = await tx
          .deleteFrom('permissions')
          .where('id', '=', linked.permission_id)
          .returning(['id', 'resource_type', 'action', 'conditions'])
          .executeTakeFirst();
        if (removed) await this.#userPermission(tx, TOPIC.permissionRevoked, caller, userId, permissionView(removed));
      }),
    );
    this.#d.outbox.committed();
    this.#d.audit('permission.revoked', { ...actor(caller), userId, permissionId: linked.permission_id });
  }

  /**
   * Runs a change to who may do what. The affected users' cached grants are invalidated
   * first: if the cache fails, the request fails (503) with nothing changed and can simply
   * be retried; the markers then keep any read racing the change from caching old grants.
   */
  async #changeGrants<T>(userIds: readonly string[], change: () => Promise<T>): Promise<T> {
    await this.#d.grants.invalidate(userIds);
    return change();
  }

  /** Roles of each user, for lists of users (one query per batch). */
  async rolesOfUsers(userIds: readonly string[]): Promise<Map<string, RoleView[]>> {
    if (userIds.length === 0) return new Map();
    const rows = await this.#d.database.db
      .selectFrom('user_roles')
      .innerJoin('roles', 'roles.id', 'user_roles.role_id')
      .select(['user_roles.user_id', ...ROLE_COLUMNS])
      .where('user_roles.user_id', 'in', userIds)
      .orderBy('roles.name')
      .execute();
    return groupBy(rows, (r) => r.user_id, roleView);
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

  /** A new permission row and its link to one role or one user, in one transaction. */
  async #insertPermission(
    permission: ValidPermission,
    link: { role_id: string } | { user_id: string },
    recordEvent: (tx: Database['db'], created: PermissionView) => Promise<void>,
  ): Promise<PermissionView> {
    const created = await this.#d.database.db.transaction().execute(async (tx) => {
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
      const view = permissionView(row);
      await recordEvent(tx, view);
      return view;
    });
    this.#d.outbox.committed();
    return created;
  }

  #roleChanged(tx: Database['db'], caller: Principal, roleId: string, change: RoleChangedPayload['change']): Promise<void> {
    return this.#d.outbox.write(tx, { topic: TOPIC.roleChanged, payload: { roleId, change, actorId: caller.user.id } });
  }

  #roleAssignment(
    tx: Database['db'],
    topic: typeof TOPIC.roleAssigned | typeof TOPIC.roleUnassigned,
    caller: Principal,
    userIds: readonly string[],
    role: RoleView,
  ): Promise<void> {
    return this.#d.outbox.write(
      tx,
      userIds.map((userId) => ({ topic, payload: { userId, roleId: role.id, roleName: role.name, actorId: caller.user.id } })),
    );
  }

  #userPermission(
    tx: Database['db'],
    topic: typeof TOPIC.permissionGranted | typeof TOPIC.permissionRevoked,
    caller: Principal,
    userId: string,
    permission: PermissionView,
  ): Promise<void> {
    const payload: UserPermissionPayload = {
      userId,
      permissionId: permission.id,
      resourceType: permission.resourceType,
      action: permission.action,
      actorId: caller.user.id,
    };
    return this.#d.outbox.write(tx, { topic, payload });
  }

  #grantor(principal: Principal | undefined): Principal {
    const caller = requireSignedIn(principal);
    if (!canUnconditionally(caller.ability, 'manage', 'role')) throw appError('FORBIDDEN', 'Only administrators may grant roles and permissions.');
    return caller;
  }

  async #readable(caller: Principal, rawId: string): Promise<RoleView> {
    const id = canonicalId(rawId);
    if (!id) throw roleNotFound();
    const row = await this.#d.database.db.selectFrom('roles').select(ROLE_COLUMNS).where('roles.id', '=', id).executeTakeFirst();
    if (!row || !can(caller.ability, 'read', 'role', roleRecord(row))) throw roleNotFound();
    return roleView(row);
  }

  /** The canonical id of an existing user; NOT_FOUND otherwise. */
  async #existingUser(rawId: string): Promise<string> {
    const id = canonicalId(rawId);
    const row = id ? await this.#d.database.db.selectFrom('users').select('id').where('id', '=', id).executeTakeFirst() : undefined;
    if (!row) throw userNotFound();
    return row.id;
  }

  async #holders(roleId: string): Promise<string[]> {
    const rows = await this.#d.database.db.selectFrom('user_roles').select('user_id').where('role_id', '=', roleId).execute();
    return rows.map((r) => r.user_id);
  }
}

/**
 * The admin role's permissions are fixed: removing one would leave nobody able to grant
 * anything again (not even the admins, to put it back).
 */
function assertNotAdminRole(role: RoleView): void {
  if (role.id === ADMIN_ROLE_ID) throw appError('CONFLICT', "The admin role's permissions cannot be changed.");
}

/** A permission from request input: its three fields validated, any other field refused. */
function permissionFromInput(input: Record<string, unknown>): ValidPermission {
  const problems = new FieldProblems();
  onlyFields(input, ['resourceType', 'action', 'conditions'], problems);
  problems.throwIfAny();
  return validatePermissionInput({ resourceType: input.resourceType, action: input.action, conditions: input.conditions });
}

/** Rows grouped by key, each turned into its view; keys without rows are absent. */
function groupBy<R, T>(rows: readonly R[], keyOf: (row: R) => string, view: (row: R) => T): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const key = keyOf(row);
    const group = groups.get(key);
    if (group) group.push(view(row));
    else groups.set(key, [view(row)]);
  }
  return groups;
}

function nameTaken(err: unknown) {
  return violatedConstraint(err) === 'roles_name_key'
    ? appError('CONFLICT', 'A role with this name already exists.', { errors: [{ field: 'name', message: 'is taken' }] })
    : undefined;
}
