import { sql } from 'kysely';
import { appError } from '../../core/errors.js';
import { canonicalId, newId } from '../../core/ids.js';
import type { Database } from '../../infra/database/index.js';
import { can } from '../access/index.js';
import { createAccount, validateNewAccount } from './accounts.js';
import { checkPassword, FieldProblems, normaliseEmail } from '../shared/input.js';
import type { AppAbility } from '../access/index.js';
import { iso, type PermissionView, type RoleRef, type SessionView, type StorageUsage, type UserView } from '../shared/views.js';
import { actorOf, originOf, type Audit } from './audit.js';
import type { LoginLimiter } from './login-limiter.js';
import type { PasswordHasher } from './password.js';
import { currentPasswordField, type Reauthentication } from './reauthentication.js';
import { signedIn, type ServiceContext } from '../context.js';
import type { GrantsStore, Principal } from './principals.js';
import type { ClientInfo, SessionStore } from './sessions.js';
import type { UnitOfWork } from '../shared/unit-of-work.js';
import { hashToken, issueToken } from './tokens.js';

export type RegistrationMode = 'open' | 'invite' | 'closed';

export interface AuthDeps {
  database: Database;
  hasher: PasswordHasher;
  sessions: SessionStore;
  grants: GrantsStore;
  limiter: LoginLimiter;
  reauthentication: Reauthentication;
  audit: Audit;
  work: UnitOfWork;
  registration: RegistrationMode;
  /** Whether the very first account to register becomes an admin (`auth.firstUserAdmin`). */
  firstUserAdmin: boolean;
  invitationTtlMs: number;
  /** What a user's resources hold against its quota, shown in `me` (resources measure it). */
  storageUsage: (userId: string) => Promise<StorageUsage>;
}

export interface LoginResult {
  token: string;
  expiresAt: string;
  user: UserView;
}

export interface Me {
  user: UserView;
  roles: RoleRef[];
  permissions: PermissionView[];
  /** What the caller's resources hold, against its quota. */
  usage: StorageUsage;
}

export interface Invitation {
  id: string;
  email: string;
  /** Shown once, to the admin who created it, to pass on. */
  token: string;
  expiresAt: string;
}

/** The conditions of a `create user` permission see the user as it would be created. */
const canCreateUser = (ability: AppAbility, user: { email: string; name?: string; createdAt?: string }): boolean =>
  can(ability, 'create', 'user', { ...user, createdAt: user.createdAt ?? new Date().toISOString() });

const badCredentials = () => appError('UNAUTHORIZED', 'The email or password is incorrect.');

/**
 * Accounts and sessions (DESIGN §5 "Identity"): who is calling. Every transport turns a
 * bearer token into a Principal through `authenticate`, once per request.
 */
export class AuthService {
  readonly #d: AuthDeps;

  constructor(deps: AuthDeps) {
    this.#d = deps;
  }

  /**
   * token → session → user → roles → permissions; served from the cache when warm. With
   * `freshGrants`, the grants are read from the database: for a caller told its grants
   * changed, which an instance without a shared cache may not have heard of yet.
   */
  async authenticate(token: string, client?: ClientInfo, options?: { freshGrants?: boolean }): Promise<Principal> {
    const session = await this.#d.sessions.resolve(token);
    const grants = options?.freshGrants ? await this.#d.grants.load(session.userId) : await this.#d.grants.grants(session.userId);
    // A user deleted a moment ago: its sessions are going too.
    if (!grants) throw appError('UNAUTHORIZED', 'The token is invalid or expired.');
    return { user: grants.user, roles: grants.roles, permissions: grants.permissions, ability: this.#d.grants.ability(grants), sessionId: session.id, client };
  }

  async register(ctx: ServiceContext, input: { email: unknown; name: unknown; password: unknown; invitation?: unknown }): Promise<UserView> {
    const mode = this.#d.registration;
    if (mode === 'closed') throw appError('FORBIDDEN', 'Registration is closed; ask an administrator for an account.');
    let invitation: { id: string; email: string; invitedBy: string | null } | undefined;
    if (mode === 'invite') {
      invitation = await this.#invitation(input.invitation);
      // Outside the creating transaction: PGlite has one connection, which it holds.
      const fields = validateNewAccount(input);
      await this.#inviterMayCreate(invitation.invitedBy, { email: fields.email, name: fields.name });
    }
    const user = await createAccount(this.#d.database, this.#d.hasher, input, {
      firstIsAdmin: this.#d.firstUserAdmin,
      within: invitation
        ? async (tx, created) => {
            if (created.email !== invitation.email) {
              throw appError('INVALID_INPUT', 'The invitation is for another email address.', {
                errors: [{ field: 'email', message: 'does not match the invitation' }],
              });
            }
            const accepted = await tx
              .updateTable('invitations')
              .set({ accepted_at: new Date() })
              .where('id', '=', invitation.id)
              .where('accepted_at', 'is', null)
              .executeTakeFirst();
            if (accepted.numUpdatedRows === 0n) throw appError('CONFLICT', 'The invitation has already been used.');
          }
        : undefined,
    });
    this.#d.audit('auth.register', { ...originOf(ctx), actorId: user.id });
    return user;
  }

  async login(ctx: ServiceContext, input: { email: unknown; password: unknown }): Promise<LoginResult> {
    const client: ClientInfo = ctx.client ?? {};
    const problems = new FieldProblems();
    const email = normaliseEmail(input.email, 'email', problems);
    if (typeof input.password !== 'string') problems.add('password', 'must be a string');
    // An over-long password is refused before it is hashed: no megabyte goes through argon2.
    else if (input.password.length > 1024) problems.add('password', 'is too long');
    problems.throwIfAny();
    const password = input.password as string;

    try {
      await this.#d.limiter.attempt(email, client.ip);
    } catch (err) {
      this.#d.audit('auth.login.blocked', { ...originOf(ctx) });
      throw err;
    }
    const row = await this.#d.database.db
      .selectFrom('users')
      .select(['id', 'password_hash'])
      .where(sql<string>`lower(email)`, '=', email)
      .executeTakeFirst();
    // Unknown account and wrong password take the same path and about the same time.
    const verdict = row
      ? await this.#d.hasher.verify(row.password_hash, password)
      : (await this.#d.hasher.verifyDummy(password), { ok: false, needsRehash: false });
    if (!row || !verdict.ok) {
      await this.#d.limiter.recordFailure(email, client.ip);
      this.#d.audit('auth.login.failed', { ...originOf(ctx), actorId: row?.id, reason: row ? 'wrong password' : 'unknown account' });
      throw badCredentials();
    }
    await this.#d.limiter.recordSuccess(email, client.ip);
    const verifiedHash = verdict.needsRehash ? await this.#rehash(row.id, row.password_hash, password) : row.password_hash;
    const grants = await this.#d.grants.grants(row.id);
    // A password change that landed while this login was checking the old password wins.
    const opened = grants && (await this.#d.sessions.open(ctx, row.id, verifiedHash));
    if (!grants || !opened) throw badCredentials();
    const { token, session } = opened;
    this.#d.audit('auth.login.succeeded', { ...originOf(ctx), actorId: row.id, sessionId: session.id });
    return { token, expiresAt: iso(new Date(session.expiresAt)), user: grants.user };
  }

  async logout(ctx: ServiceContext): Promise<void> {
    const caller = signedIn(ctx);
    const { user, sessionId } = caller.principal;
    await this.#d.sessions.revoke(caller, user.id, sessionId, 'logout');
    this.#d.audit('auth.logout', { ...actorOf(caller), sessionId });
  }

  async me(ctx: ServiceContext): Promise<Me> {
    const caller = signedIn(ctx).principal;
    const usage = await this.#d.storageUsage(caller.user.id);
    return { user: caller.user, roles: caller.roles, permissions: caller.permissions, usage };
  }

  async sessions(ctx: ServiceContext): Promise<SessionView[]> {
    const caller = signedIn(ctx).principal;
    return this.#d.sessions.list(caller.user.id, caller.sessionId);
  }

  /** Revokes one of the caller's own sessions; another user's session is NOT_FOUND like a missing one. */
  async revokeSession(ctx: ServiceContext, sessionId: string): Promise<void> {
    const caller = signedIn(ctx);
    const id = canonicalId(sessionId);
    if (!id || !(await this.#d.sessions.revoke(caller, caller.principal.user.id, id, 'revoked'))) throw appError('NOT_FOUND', 'No such session.');
    this.#d.audit('auth.session.revoked', { ...actorOf(caller), sessionId: id });
  }

  /** Changes the caller's password and signs out its other sessions. */
  async changePassword(ctx: ServiceContext, input: { currentPassword: unknown; newPassword: unknown }): Promise<void> {
    const caller = signedIn(ctx);
    const { user, sessionId } = caller.principal;
    const problems = new FieldProblems();
    const current = currentPasswordField(input.currentPassword, 'currentPassword', problems);
    const next = checkPassword(input.newPassword, 'newPassword', problems);
    problems.throwIfAny();
    await this.#d.reauthentication.confirm(caller, current, 'currentPassword');
    const hash = await this.#d.hasher.hash(next);
    // The new password and the end of the other sessions commit together: no session outlives the old password.
    const revoked = await this.#d.work.run(caller, async (tx, effects) => {
      await tx.updateTable('users').set({ password_hash: hash, updated_at: new Date() }).where('id', '=', user.id).execute();
      return this.#d.sessions.revokeWithin(tx, effects, user.id, { except: sessionId }, 'password_changed');
    });
    this.#d.sessions.announce(revoked);
    this.#d.audit('auth.password.changed', { ...actorOf(caller), revokedSessions: revoked.sessionIds.length });
  }

  /**
   * An invitation to register (invite-only mode); needs permission to create the user it
   * invites, conditions included (checked again, with the name, when it is accepted).
   */
  async invite(ctx: ServiceContext, input: { email: unknown }): Promise<Invitation> {
    const caller = signedIn(ctx).principal;
    if (!can(caller.ability, 'create', 'user')) throw appError('FORBIDDEN', 'You may not invite users.');
    const problems = new FieldProblems();
    const email = normaliseEmail(input.email, 'email', problems);
    problems.throwIfAny();
    // An invitation is a deferred `create user`: a conditional grant (say, only addresses of
    // one domain) bounds whom it invites. The name is the invitee's to choose; it is checked
    // when the invitation is accepted.
    if (!canCreateUser(caller.ability, { email })) throw appError('FORBIDDEN', 'You may not invite this address.');
    const { token, hash } = issueToken();
    const id = newId();
    const expiresAt = new Date(Date.now() + this.#d.invitationTtlMs);
    await this.#d.database.db.insertInto('invitations').values({ id, email, token: hash, invited_by: caller.user.id, expires_at: expiresAt }).execute();
    this.#d.audit('auth.invitation.created', { ...actorOf(signedIn(ctx)), invitationId: id });
    return { id, email, token, expiresAt: expiresAt.toISOString() };
  }

  /**
   * The inviter must still be allowed to create this user, name included: an invitation
   * carries no more than its author's permission, and goes when that does (or its author).
   */
  async #inviterMayCreate(inviterId: string | null, created: { email: string; name: string }): Promise<void> {
    const grants = inviterId === null ? undefined : await this.#d.grants.load(inviterId);
    if (!grants || !canCreateUser(this.#d.grants.ability(grants), created)) {
      throw appError('FORBIDDEN', 'Registration needs a valid invitation.', {
        errors: [{ field: 'invitation', message: 'its author may no longer create this user' }],
      });
    }
  }

  async #invitation(token: unknown): Promise<{ id: string; email: string; invitedBy: string | null }> {
    const invalid = () =>
      appError('FORBIDDEN', 'Registration needs a valid invitation.', { errors: [{ field: 'invitation', message: 'is missing, unknown, used or expired' }] });
    const hash = typeof token === 'string' ? hashToken(token) : undefined;
    if (!hash) throw invalid();
    const row = await this.#d.database.db
      .selectFrom('invitations')
      .select(['id', 'email', 'invited_by as invitedBy'])
      .where('token', '=', hash)
      .where('accepted_at', 'is', null)
      .where('expires_at', '>', new Date())
      .executeTakeFirst();
    if (!row) throw invalid();
    return row;
  }

  /** Stores a stronger hash of a verified password, unless the password changed meanwhile; the hash now stored. */
  async #rehash(userId: string, oldHash: string, password: string): Promise<string> {
    const hash = await this.#d.hasher.hash(password);
    const updated = await this.#d.database.db
      .updateTable('users')
      .set({ password_hash: hash })
      .where('id', '=', userId)
      .where('password_hash', '=', oldHash)
      .executeTakeFirst();
    if (updated.numUpdatedRows === 0n) return oldHash;
    this.#d.audit('auth.password.rehashed', { actorId: userId });
    return hash;
  }
}
