import { appError } from '../../core/errors.js';
import { canonicalId } from '../../core/ids.js';
import type { Database } from '../../infra/database/index.js';
import { accessFilter, can } from '../access/index.js';
import { actorOf, type Audit } from '../auth/audit.js';
import type { PasswordHasher } from '../auth/password.js';
import { requireSignedIn, type Principal } from '../auth/principals.js';
import { signedIn, type ServiceContext } from '../context.js';
import { currentPasswordField, type Reauthentication } from '../auth/reauthentication.js';
import type { SessionStore } from '../auth/sessions.js';
import { assertNotLastAdmin } from '../roles/builtin.js';
import { countWhere } from '../shared/count.js';
import { pageBounds, toPage, type Page, type PageRequest } from '../shared/pagination.js';
import { resourceCacheKey } from '../shared/cache-keys.js';
import { TOPIC } from '../events/catalog.js';
import { takeOverStorage } from '../resources/quota.js';
import type { UnitOfWork } from '../shared/unit-of-work.js';
import { iso, userView, type UserView } from '../shared/views.js';
import { createAccount, emailTaken, validateNewAccount } from '../auth/accounts.js';
import { FieldProblems, normaliseEmail, normaliseName, onlyFields } from '../shared/input.js';

export interface UsersDeps {
  database: Database;
  hasher: PasswordHasher;
  sessions: SessionStore;
  /** Confirms the caller's password before it changes its own email. */
  reauthentication: Reauthentication;
  audit: Audit;
  work: UnitOfWork;
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
  async list(ctx: ServiceContext, page: PageRequest): Promise<Page<UserView>> {
    const caller = signedIn(ctx).principal;
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
  async count(ctx: ServiceContext): Promise<number> {
    const caller = signedIn(ctx).principal;
    return countWhere(this.#d.database, accessFilter(caller.ability, 'read', 'user'));
  }

  async get(ctx: ServiceContext, id: string): Promise<UserView> {
    return this.#readable(signedIn(ctx).principal, id);
  }

  /** Readable users among ids, in no particular order (DataLoader batches, which know only the caller). */
  async readableByIds(ctx: Pick<ServiceContext, 'principal'>, ids: readonly string[]): Promise<UserView[]> {
    const caller = requireSignedIn(ctx.principal);
    const valid = ids.map(canonicalId).filter((id): id is string => id !== undefined);
    if (valid.length === 0) return [];
    const rows = await this.#d.database.db.selectFrom('users').select(USER_COLUMNS).where('users.id', 'in', valid).execute();
    return rows.map(userView).filter((u) => can(caller.ability, 'read', 'user', userRecord(u)));
  }

  /** An admin creates an account (a member; roles are assigned separately). */
  async create(ctx: ServiceContext, input: Record<string, unknown>): Promise<UserView> {
    const caller = signedIn(ctx).principal;
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
    this.#d.audit('user.created', { ...actorOf(signedIn(ctx)), userId: user.id });
    return user;
  }

  /**
   * Changes name and email; any other field (id, roles, passwordHash, …) is refused and
   * nothing changes. A new email is a way into the account (it is what signs in), so users
   * changing their own confirm it with `currentPassword`, and every other session of the
   * user ends with it (all of them when an administrator changes another user's email).
   */
  async update(ctx: ServiceContext, rawId: string, input: Record<string, unknown>): Promise<UserView> {
    const callerCtx = signedIn(ctx);
    const caller = callerCtx.principal;
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
      await this.#d.reauthentication.confirm(callerCtx, password, 'currentPassword');
    }
    const { row, revoked } = await this.#d.work
      .run(callerCtx, async (tx, effects) => {
        const row = await tx
          .updateTable('users')
          .set({ ...patch, updated_at: new Date() })
          .where('id', '=', id)
          .returning(['id', 'email', 'name', 'created_at', 'updated_at'])
          .executeTakeFirst();
        if (!row) throw userNotFound();
        // Cached grants hold the user's name and email.
        effects.invalidateGrants([id]);
        // With the change: a session opened meanwhile with the old email ends too.
        const revoked = emailChanges
          ? await this.#d.sessions.revokeWithin(tx, effects, id, { except: own ? caller.sessionId : undefined }, 'email_changed')
          : undefined;
        return { row, revoked };
      })
      .catch((err: unknown) => {
        throw emailTaken(err) ?? err;
      });
    if (revoked) this.#d.sessions.announce(revoked);
    this.#d.audit('user.updated', {
      ...actorOf(callerCtx),
      userId: id,
      fields: Object.keys(patch),
      ...(revoked ? { revokedSessions: revoked.sessionIds.length } : {}),
    });
    return userView(row);
  }

  /**
   * Deletes a user and revokes its sessions. Its resources go to `transferTo`; without one,
   * a user who owns resources is a CONFLICT. The last admin cannot be deleted.
   */
  async delete(ctx: ServiceContext, rawId: string, rawTransferTo?: string): Promise<void> {
    const callerCtx = signedIn(ctx);
    const caller = callerCtx.principal;
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
    const revoked = await this.#d.work.run(callerCtx, async (tx, effects) => {
      await assertNotLastAdmin(tx, id);
      // Grants go (the heir's too: shares it had on the resources go), and with a session of
      // the deleted user cached, its grants lookup fails anyway.
      effects.invalidateGrants(transferTo === undefined ? [id] : [id, transferTo]);
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
        // Their cached reads name the old owner.
        effects.invalidate(rows.map((r) => resourceCacheKey(r.id)));
        // Shares the heir had received on them now grant nothing (it owns them) and would
        // only count against its caps and list it as a recipient of its own resources.
        await tx
          .deleteFrom('resource_shares')
          .where('user_id', '=', transferTo)
          .where('resource_id', 'in', tx.selectFrom('resources').select('id').where('owner_id', '=', transferTo))
          .execute();
        // Their bytes now count against the heir's quota. An admin's transfer is never
        // refused for it: the heir may end up over quota, and then only frees space.
        await takeOverStorage(
          tx,
          transferTo,
          rows.reduce((sum, r) => sum + Number(r.storage_bytes), 0),
        );
        // A new owner is a change of each resource: its watchers and its new owner hear of it.
        await effects.emit(
          rows.map((r) => ({
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
          })),
        );
      }
      // Its direct permissions belong to it alone; shares made to it go with it (ON DELETE CASCADE).
      await tx
        .deleteFrom('permissions')
        .where('id', 'in', tx.selectFrom('user_permissions').select('permission_id').where('user_id', '=', id))
        .execute();
      const revoked = await this.#d.sessions.revokeWithin(tx, effects, id, {}, 'user_deleted');
      await tx.deleteFrom('users').where('id', '=', id).execute();
      return revoked;
    });
    this.#d.sessions.announce(revoked);
    this.#d.audit('user.deleted', { ...actorOf(callerCtx), userId: id, transferTo });
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
