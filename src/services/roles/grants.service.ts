import { appError } from '../../core/errors.js';
import { canonicalId } from '../../core/ids.js';
import type { Database } from '../../infra/database/index.js';
import { can } from '../access/index.js';
import { actorOf, type Audit } from '../auth/audit.js';
import type { CallerContext, ServiceContext } from '../context.js';
import { TOPIC, type UserPermissionPayload } from '../events/catalog.js';
import type { UnitOfWork } from '../shared/unit-of-work.js';
import { permissionView, roleView, type PermissionView, type RoleView } from '../shared/views.js';
import { assertNotLastAdmin } from './builtin.js';
import { grantor, groupBy, insertPermission, permissionFromInput, permissionNotFound, readableRole, ROLE_COLUMNS } from './common.js';

export interface GrantsDeps {
  database: Database;
  audit: Audit;
  work: UnitOfWork;
}

const userNotFound = () => appError('NOT_FOUND', 'No such user.');

/**
 * Who holds what (DESIGN §5 "Permissions"): roles assigned to users, and permissions held by
 * one user directly. Every change needs the unconditional right to manage roles (`grantor`);
 * the user's cached grants go with it, and the user hears of it (`user.*` events).
 */
export class GrantsService {
  readonly #d: GrantsDeps;

  constructor(deps: GrantsDeps) {
    this.#d = deps;
  }

  /** Gives a user a role; idempotent. */
  async assign(ctx: ServiceContext, rawUserId: string, rawRoleId: string): Promise<void> {
    const caller = grantor(ctx);
    const userId = await this.#existingUser(rawUserId);
    const role = await readableRole(this.#d.database.db, caller.principal, rawRoleId);
    await this.#d.work.run(caller, async (tx, effects) => {
      const added = await tx
        .insertInto('user_roles')
        .values({ user_id: userId, role_id: role.id })
        .onConflict((oc) => oc.doNothing())
        .returning('user_id')
        .executeTakeFirst();
      // Assigning a role the user already has changes nothing, and says nothing.
      if (!added) return;
      effects.invalidateGrants([userId]);
      await effects.emit({ topic: TOPIC.roleAssigned, payload: assignment(caller, userId, role) });
    });
    this.#d.audit('role.assigned', { ...actorOf(caller), userId, roleId: role.id });
  }

  /** Takes a role from a user; idempotent, except that the last admin keeps the admin role. */
  async unassign(ctx: ServiceContext, rawUserId: string, rawRoleId: string): Promise<void> {
    const caller = grantor(ctx);
    const userId = await this.#existingUser(rawUserId);
    const role = await readableRole(this.#d.database.db, caller.principal, rawRoleId);
    await this.#d.work.run(caller, async (tx, effects) => {
      await assertNotLastAdmin(tx, userId, role.id);
      const removed = await tx.deleteFrom('user_roles').where('user_id', '=', userId).where('role_id', '=', role.id).returning('user_id').executeTakeFirst();
      if (!removed) return;
      effects.invalidateGrants([userId]);
      await effects.emit({ topic: TOPIC.roleUnassigned, payload: assignment(caller, userId, role) });
    });
    this.#d.audit('role.unassigned', { ...actorOf(caller), userId, roleId: role.id });
  }

  /** A permission held by one user directly, not through a role. */
  async grantToUser(ctx: ServiceContext, rawUserId: string, input: Record<string, unknown>): Promise<PermissionView> {
    const caller = grantor(ctx);
    const permission = permissionFromInput(input);
    const userId = await this.#existingUser(rawUserId);
    const created = await this.#d.work.run(caller, async (tx, effects) => {
      const view = await insertPermission(tx, permission, { user_id: userId });
      effects.invalidateGrants([userId]);
      await effects.emit({ topic: TOPIC.permissionGranted, payload: userPermission(caller, userId, view) });
      return view;
    });
    this.#d.audit('permission.granted', { ...actorOf(caller), userId, permissionId: created.id, resourceType: created.resourceType, action: created.action });
    return created;
  }

  async revokeFromUser(ctx: ServiceContext, rawUserId: string, rawPermissionId: string): Promise<void> {
    const caller = grantor(ctx);
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
    await this.#d.work.run(caller, async (tx, effects) => {
      const removed = await tx
        .deleteFrom('permissions')
        .where('id', '=', linked.permission_id)
        .returning(['id', 'resource_type', 'action', 'conditions'])
        .executeTakeFirst();
      if (!removed) return;
      effects.invalidateGrants([userId]);
      await effects.emit({ topic: TOPIC.permissionRevoked, payload: userPermission(caller, userId, permissionView(removed)) });
    });
    this.#d.audit('permission.revoked', { ...actorOf(caller), userId, permissionId: linked.permission_id });
  }

  /**
   * What one user holds: its roles, and the permissions granted to it directly (not those of
   * its roles, which the roles list). Seeing who holds what is the grantor's view, so it needs
   * what granting needs.
   */
  async grantsOfUser(ctx: ServiceContext, rawUserId: string): Promise<{ roles: RoleView[]; permissions: PermissionView[] }> {
    grantor(ctx);
    const userId = await this.#existingUser(rawUserId);
    const db = this.#d.database.db;
    const [roles, permissions] = await Promise.all([
      db
        .selectFrom('user_roles')
        .innerJoin('roles', 'roles.id', 'user_roles.role_id')
        .select(ROLE_COLUMNS)
        .where('user_roles.user_id', '=', userId)
        .orderBy('roles.name')
        .execute(),
      db
        .selectFrom('user_permissions')
        .innerJoin('permissions', 'permissions.id', 'user_permissions.permission_id')
        .select(['permissions.id', 'permissions.resource_type', 'permissions.action', 'permissions.conditions'])
        .where('user_permissions.user_id', '=', userId)
        .orderBy('permissions.id')
        .execute(),
    ]);
    return { roles: roles.map(roleView), permissions: permissions.map(permissionView) };
  }

  /**
   * The roles of each user as the caller may see them (one query per batch): all of its own;
   * another user's only where it may read the role. An anonymous caller sees a user only as
   * the result of its own register or login, so it sees that user's roles whole.
   */
  async rolesOfUsers(ctx: ServiceContext, userIds: readonly string[]): Promise<Map<string, RoleView[]>> {
    if (userIds.length === 0) return new Map();
    const rows = await this.#d.database.db
      .selectFrom('user_roles')
      .innerJoin('roles', 'roles.id', 'user_roles.role_id')
      .select(['user_roles.user_id', ...ROLE_COLUMNS])
      .where('user_roles.user_id', 'in', userIds)
      .orderBy('roles.name')
      .execute();
    const held = groupBy(rows, (r) => r.user_id, roleView);
    const caller = ctx.principal;
    if (!caller) return held;
    for (const [userId, roles] of held) {
      if (userId !== caller.user.id)
        held.set(
          userId,
          roles.filter((role) => can(caller.ability, 'read', 'role', { id: role.id, name: role.name })),
        );
    }
    return held;
  }

  /** The canonical id of an existing user; NOT_FOUND otherwise. */
  async #existingUser(rawId: string): Promise<string> {
    const id = canonicalId(rawId);
    const row = id ? await this.#d.database.db.selectFrom('users').select('id').where('id', '=', id).executeTakeFirst() : undefined;
    if (!row) throw userNotFound();
    return row.id;
  }
}

const assignment = (caller: CallerContext, userId: string, role: RoleView) => ({
  userId,
  roleId: role.id,
  roleName: role.name,
  actorId: caller.principal.user.id,
});

const userPermission = (caller: CallerContext, userId: string, permission: PermissionView): UserPermissionPayload => ({
  userId,
  permissionId: permission.id,
  resourceType: permission.resourceType,
  action: permission.action,
  actorId: caller.principal.user.id,
});
