import { sql } from 'kysely';
import { appError } from '../../core/errors.js';
import { canonicalId } from '../../core/ids.js';
import type { Database } from '../../infra/database/index.js';
import type { Logger } from '../../infra/telemetry/logger.js';
import { accessFilter, can, type AccessFilter } from '../access/index.js';
import { actor, type Audit } from '../auth/audit.js';
import type { PasswordHasher } from '../auth/password.js';
import { requireSignedIn, type GrantsStore, type Principal } from '../auth/principals.js';
import { currentPasswordField, type Reauthentication } from '../auth/reauthentication.js';
import type { SessionStore } from '../auth/sessions.js';
import { ADMIN_ROLE_ID } from '../roles/builtin.js';
import { pageBounds, toPage, type Page, type PageRequest } from '../shared/pagination.js';
import { resourceCacheKey } from '../shared/cache-keys.js';
import type { Outbox } from '../shared/outbox.js';
import { TOPIC } from '../events/catalog.js';
import { INVALIDATION_HOLD_MS, type TolerantCache } from '../shared/tolerant-cache.js';
import { iso, userView, type UserView } from '../shared/views.js';
import { createAccount, emailTaken, validateNewAccount } from '../auth/accounts.js';
import { FieldProblems, normaliseEmail, normaliseName, onlyFields } from '../shared/input.js';

export interface UsersDeps {
  database: Database;
  hasher: PasswordHasher;
  sessions: SessionStore;
  grants: GrantsStore;
  /** Confirms the caller's password before it changes its own email. */
  reauthentication: Reauthentication;
  audit: Audit;
  log: Logger;
  /** For the cached reads of resources a deleted user hands over. */
  cache: TolerantCache;
  /** Woken when a deletion handed resources over (their events are in the outbox). */
  outbox: Outbox;
}

const USER_COLUMNS = ['users.id', 'users.email', 'users.name', 'users.created_at', 'users.updated_at'] as const;
const UPDATABLE = ['name', 'email'] as const;

export const userNotFound = () => appError('NOT_FOUND', 'No such user.');

/** What permission conditions on users see (DESIGN §5 "Permissions"). */
function userRecord(user: UserView) {
  return { id: user.id, email: user.email, name: user.name, createdAt: user.createdAt };
}

/**
 * Users (DESIGN §5 "Identity"). Every method checks the caller's permissions: a user it may
 * not read is NOT_FOUND exactly like a missing one; one it may read but not change is FORBIDDEN.
 */
export class UsersService {
  readonly #d: UsersDeps;

  constructor(deps: UsersDeps) {
    this.#d = deps;
  }

  /** A page of the users the caller may read; the permission conditions run in SQL. */
  async list(principal: Principal | undefined, page: PageRequest): Promise<Page<UserView>> {
    const caller = requireSignedIn(principal);
    const { limit, after } = pageBounds(page);
    const filter = accessFilter(caller.ability, 'read', 'user');
    if (filter.kind === 'none') return { items: [], nextCursor: null };
    let query = this.#d.database.db
      .selectFrom('users')
      .select(USER_COLUMNS)
      .orderBy('users.id')
      .limit(limit + 1);
    if (after) query = query.where('users.id', '>', after);
    if (filter.kind === 'where') query = query.where(filter.expression);
    return toPage(await query.execute(), limit, userView);
  }

  /** How many users the caller may read. */
  async count(principal: Principal | undefined): Promise<number> {
    const caller = requireSignedIn(principal);
    return countWhere(this.#d.database, accessFilter(caller.ability, 'read', 'user'));
  }

  async get(principal: Principal | undefined, id: string): Promise<UserView> {
    const caller = requireSignedIn(principal);
    return this.#readable(caller, id);
  }

  /** Readable users among ids, in no particular order (DataLoader batches). */
  async readableByIds(principal: Principal | undefined, ids: readonly string[]): Promise<UserView[]> {
    const caller = requireSignedIn(principal);
    const valid = ids.map(canonicalId).filter((id): id is string => id !== undefined);
    if (valid.length === 0) return [];
    const rows = await this.#d.database.db.selectFrom('users').select(USER_COLUMNS).where('users.id', 'in', valid).execute();
    return rows.map(userView).filter((u) => can(caller.ability, 'read', 'user', userRecord(u)));
  }

  /** An admin creates an account (a member; roles are assigned separately). */
  async create(principal: Principal | undefined, input: Record<string, unknown>): Promise<UserView> {
    const caller = requireSignedIn(principal);
    if (!can(caller.ability, 'create', 'user')) throw appError('FORBIDDEN', 'You may not create users.');
    const problems = new FieldProblems();
    onlyFields(input, ['email', 'name', 'password'], problems);
    problems.throwIfAny();
    const fields = validateNewAccount(input as { email: unknown; name: unknown; password: unknown });
    // The permission's conditions apply to the user that would be created.
    if (!can(caller.ability, 'create', 'user', { email: fields.email, name: fields.name, createdAt: new Date().toISOString() })) {
      throw appError('FORBIDDEN', 'You may not create this user.');
    }
    const user = await createAccount(this.#d.database, this.#d.hasher, fields);
    this.#d.audit('user.created', { ...actor(caller), userId: user.id });
    return user;
  }

  /**
   * Changes name and email; any other field (id, roles, passwordHash, …) is refused and
   * nothing changes. A new email is a way into the account (it is what signs in), so users
   * changing their own confirm it with `currentPassword`, and every other session of the
   * user ends with it (all of them when an administrator changes another user's email).
   */
  async update(principal: Principal | undefined, rawId: string, input: Record<string, unknown>): Promise<UserView> {
    const caller = requireSignedIn(principal);
    const problems = new FieldProblems();
    onlyFields(input, [...UPDATABLE, 'currentPassword'], problems);
    const patch: { name?: string; email?: string } = {};
    if ('name' in input) patch.name = normaliseName(input.name, 'name', problems);
    if ('email' in input) patch.email = normaliseEmail(input.email, 'email', problems);
    const password = 'currentPassword' in input ? currentPasswordField(input.currentPassword, 'currentPassword', problems) : undefined;
    problems.throwIfAny();
    const current = await this.#readable(caller, rawId);
    // Conditions hold for the user as it is and as it would be: a permission to change
    // users named "x" is not a permission to rename them to anything.
    if (!can(caller.ability, 'update', 'user', userRecord(current)) || !can(caller.ability, 'update', 'user', userRecord({ ...current, ...patch }))) {
      throw appError('FORBIDDEN', 'You may not change this user.');
    }
    if (Object.keys(patch).length === 0) return current;
    const id = current.id;
    const own = id === caller.user.id;
    const emailChanges = patch.email !== undefined && patch.email !== current.email;
    if (emailChanges && own) {
      if (password === undefined)
        throw appError('INVALID_INPUT', 'Changing your email needs your current password.', {
          errors: [{ field: 'currentPassword', message: 'is required to change your email' }],
        });
      await this.#d.reauthentication.confirm(caller, password, 'currentPassword');
    }
    // Cached grants hold the user's name and email; invalidated first, so a failing cache
    // fails the request before anything changed.
    await this.#d.grants.invalidate([id]);
    let row;
    try {
      row = await this.#d.database.db
        .updateTable('users')
        .set({ ...patch, updated_at: new Date() })
        .where('id', '=', id)
        .returning(['id', 'email', 'name', 'created_at', 'updated_at'])
        .executeTakeFirst();
    } catch (err) {
      throw emailTaken(err) ?? err;
    }
    if (!row) throw userNotFound();
    // After the change: a session opened meanwhile with the old email ends too.
    const revokedSessions = emailChanges ? await this.#d.sessions.revokeAll(id, 'email_changed', own ? caller.sessionId : undefined) : 0;
    this.#d.audit('user.updated', { ...actor(caller), userId: id, fields: Object.keys(patch), ...(emailChanges ? { revokedSessions } : {}) });
    return userView(row);
  }

  /**
   * Deletes a user and revokes its sessions. Its resources go to `transferTo`; without one,
   * a user who owns resources is a CONFLICT. The last admin cannot be deleted.
   */
  async delete(principal: Principal | undefined, rawId: string, rawTransferTo?: string): Promise<void> {
    const caller = requireSignedIn(principal);
    const target = await this.#readable(caller, rawId);
    const id = target.id;
    if (!can(caller.ability, 'delete', 'user', userRecord(target))) throw appError('FORBIDDEN', 'You may not delete this user.');
    let transferTo: string | undefined;
    if (rawTransferTo !== undefined) {
      const heir = await this.#readable(caller, rawTransferTo).catch(() => {
        throw appError('INVALID_INPUT', 'transferTo must be an existing user.', { errors: [{ field: 'transferTo', message: 'is not a user' }] });
      });
      if (heir.id === id)
        throw appError('INVALID_INPUT', 'transferTo must be another user.', { errors: [{ field: 'transferTo', message: 'is the user being deleted' }] });
      transferTo = heir.id;
    }
    // Grants (the heir's too: shares it had on the resources go), and the cached reads of
    // resources changing owner, are invalidated before the rows change (a failing cache
    // fails the request with nothing deleted); without grants, a cached session of a
    // deleted user fails anyway.
    await this.#d.grants.invalidate(transferTo === undefined ? [id] : [id, transferTo]);
    const owned = (await this.#d.database.db.selectFrom('resources').select('id').where('owner_id', '=', id).execute()).map((r) => resourceCacheKey(r.id));
    if (owned.length > 0 && transferTo === undefined) throw appError('CONFLICT', 'The user owns resources; pass transferTo to hand them to another user.');
    await this.#d.cache.invalidate(owned, INVALIDATION_HOLD_MS);
    const { tokens, transferred, revoked } = await this.#d.database.db.transaction().execute(async (tx) => {
      await assertNotLastAdmin(tx, id);
      let moved: string[] = [];
      const stillOwned = await tx.selectFrom('resources').select('id').where('owner_id', '=', id).limit(1).executeTakeFirst();
      if (stillOwned) {
        if (transferTo === undefined) throw appError('CONFLICT', 'The user owns resources; pass transferTo to hand them to another user.');
        // A new owner is a change of the record: its revision (the ETag) moves on.
        const rows = await tx
          .updateTable('resources')
          .set((eb) => ({ owner_id: transferTo, revision: eb('revision', '+', 1), updated_at: new Date() }))
          .where('owner_id', '=', id)
          .returning(['id', 'owner_id', 'name', 'type', 'metadata', 'version', 'created_at', 'storage_bytes'])
          .execute();
        moved = rows.map((r) => resourceCacheKey(r.id));
        // Shares the heir had received on them now grant nothing (it owns them) and would
        // only count against its caps and list it as a recipient of its own resources.
        await tx
          .deleteFrom('resource_shares')
          .where('user_id', '=', transferTo)
          .where('resource_id', 'in', tx.selectFrom('resources').select('id').where('owner_id', '=', transferTo))
          .execute();
        // Their bytes now count against the heir's quota. An admin's transfer is never
        // refused for it: the heir may end up over quota, and then only frees space.
        const bytes = rows.reduce((sum, r) => sum + Number(r.storage_bytes), 0);
        await tx
          .updateTable('users')
          .set({ storage_bytes: sql<string>`storage_bytes + ${bytes}::bigint` })
          .where('id', '=', transferTo)
          .execute();
        // A new owner is a change of each resource: its watchers and its new owner hear of it.
        const events = rows.map((r) => ({
          topic: TOPIC.resourceUpdated,
          payload: {
            id: r.id,
            ownerId: r.owner_id,
            name: r.name,
            type: r.type,
            createdAt: iso(r.created_at),
            metadata: r.metadata,
            version: r.version,
            actorId: caller.user.id,
          },
        }));
        await this.#d.outbox.write(tx, events);
      }
      // Its direct permissions belong to it alone; shares made to it go with it (ON DELETE CASCADE).
      await tx
        .deleteFrom('permissions')
        .where('id', 'in', tx.selectFrom('user_permissions').select('permission_id').where('user_id', '=', id))
        .execute();
      const sessions = await tx.selectFrom('sessions').select(['id', 'token']).where('user_id', '=', id).execute();
      await tx.deleteFrom('users').where('id', '=', id).execute();
      const revoked = { userId: id, sessionIds: sessions.map((row) => row.id), reason: 'user_deleted' as const };
      await this.#d.outbox.write(tx, this.#d.sessions.revokedEvents(revoked));
      return { tokens: sessions.map((row) => Buffer.from(row.token)), transferred: moved, revoked };
    });
    // Resources created in between went along too; their reads are invalidated as well.
    const seen = new Set(owned);
    await this.#d.cache
      .invalidate(
        transferred.filter((key) => !seen.has(key)),
        INVALIDATION_HOLD_MS,
      )
      .catch(() => undefined);
    // The cascade removed the session rows; marking them revoked in the cache too only
    // spares each a lookup, so a failure here is logged, not reported.
    await this.#d.sessions.forget(tokens).catch((err: unknown) => this.#d.log.warn({ err, userId: id }, 'deleted user sessions stay cached until they expire'));
    if (transferred.length > 0 || revoked.sessionIds.length > 0) this.#d.outbox.committed();
    this.#d.sessions.announce(revoked);
    this.#d.audit('user.deleted', { ...actor(caller), userId: id, transferTo });
  }

  async #readable(caller: Principal, rawId: string): Promise<UserView> {
    const id = canonicalId(rawId);
    if (!id) throw userNotFound();
    const row = await this.#d.database.db.selectFrom('users').select(USER_COLUMNS).where('users.id', '=', id).executeTakeFirst();
    if (!row) throw userNotFound();
    const user = userView(row);
    if (!can(caller.ability, 'read', 'user', userRecord(user))) throw userNotFound();
    return user;
  }
}

/** Refuses to remove the admin role from its last holder (by deletion or unassignment). */
export async function assertNotLastAdmin(db: Database['db'], userId: string, roleId: string = ADMIN_ROLE_ID): Promise<void> {
  if (roleId !== ADMIN_ROLE_ID) return;
  // Locking the admin role's row serialises concurrent removals of admins.
  await db.selectFrom('roles').select('id').where('id', '=', ADMIN_ROLE_ID).forUpdate().execute();
  const admins = await db.selectFrom('user_roles').select('user_id').where('role_id', '=', ADMIN_ROLE_ID).limit(2).execute();
  if (admins.length === 1 && admins[0]!.user_id === userId) {
    throw appError('CONFLICT', 'This is the last admin; make another user an admin first.');
  }
}

/** Rows of a table the caller may read, counted in SQL with the same filter as its pages. */
export async function countWhere(database: Database, filter: AccessFilter, table: 'users' | 'roles' = 'users'): Promise<number> {
  if (filter.kind === 'none') return 0;
  let query = database.db.selectFrom(table).select(sql<string>`count(*)`.as('n'));
  if (filter.kind === 'where') query = query.where(filter.expression);
  const row = await query.executeTakeFirstOrThrow();
  return Number(row.n);
}
