import { LRUCache } from 'lru-cache';
import { appError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import type { Database } from '../../infra/database/index.js';
import type { Logger } from '../../infra/telemetry/logger.js';
import type { ServiceContext } from '../context.js';
import { TOPIC, type DomainEvent, type SessionCreatedPayload, type SessionsRevokedPayload } from '../events/catalog.js';
import { iso, type SessionView } from '../shared/views.js';
import { isInvalidated, type Invalidated, type TolerantCache } from '../shared/tolerant-cache.js';
import type { ChangeEffects, UnitOfWork } from '../shared/unit-of-work.js';
import type { ClientInfo } from './client.js';
import { hashToken, issueToken } from './tokens.js';

export interface SessionPolicy {
  ttlMs: number;
  idleTimeoutMs: number;
  cacheTtlMs: number;
}

/** What a valid token resolves to; cached under the token's hash. */
export interface ActiveSession {
  id: string;
  userId: string;
  /** Epoch milliseconds. */
  expiresAt: number;
  lastSeenAt: number;
}

/** Why sessions ended early; carried by the `session.revoked` event. */
export type RevocationReason = SessionsRevokedPayload['reason'];

export type { ClientInfo };

/**
 * Idleness is tracked in `last_seen_at`, written at most once a minute per session; a
 * session therefore idles out within a minute of its configured timeout, and a busy client
 * costs one UPDATE a minute rather than one per request.
 */
const TOUCH_INTERVAL_MS = 60_000;

/** Session ids per `session.revoked` event: about 40 KB of JSON, far below any queue's message limit. */
export const SESSION_IDS_PER_EVENT = 1000;

const sessionKey = (hash: Buffer): string => `auth:session:${hash.toString('hex')}`;
const invalidToken = () => appError('UNAUTHORIZED', 'The token is invalid or expired.', { headers: { 'www-authenticate': 'Bearer error="invalid_token"' } });

/** Sessions: opaque bearer tokens whose SHA-256 is the lookup key (DESIGN §4). */
export class SessionStore {
  readonly #database: Database;
  readonly #work: UnitOfWork;
  readonly #cache: TolerantCache;
  readonly #policy: SessionPolicy;
  readonly #log: Logger;
  readonly #listeners = new Set<(revoked: SessionsRevokedPayload) => void>();
  /** When this instance last recorded activity per session: at most one write a minute. */
  readonly #touched = new LRUCache<string, number>({ max: 100_000 });

  constructor(database: Database, cache: TolerantCache, policy: SessionPolicy, log: Logger, work: UnitOfWork) {
    this.#work = work;
    this.#database = database;
    this.#cache = cache;
    this.#policy = policy;
    this.#log = log;
  }

  /**
   * Opens a session; the token is returned once and never stored. Opened only while the
   * user's password hash is still `verifiedHash` (the one the login checked): the user row
   * is share-locked for the insert, so a password change either waits for it (and then
   * revokes the new session with the others) or has already happened (and the login fails).
   * Undefined when the password changed meanwhile.
   */
  async open(ctx: ServiceContext, userId: string, verifiedHash: string): Promise<{ token: string; session: ActiveSession } | undefined> {
    const client: ClientInfo = ctx.client ?? {};
    const { token, hash } = issueToken();
    const now = Date.now();
    const session: ActiveSession = { id: newId(), userId, expiresAt: now + this.#policy.ttlMs, lastSeenAt: now };
    const opened = await this.#work.run(ctx, async (tx, { emit }) => {
      const user = await tx.selectFrom('users').select('password_hash').where('id', '=', userId).forShare().executeTakeFirst();
      if (user?.password_hash !== verifiedHash) return false;
      await tx
        .insertInto('sessions')
        .values({
          id: session.id,
          user_id: userId,
          token: hash,
          expires_at: new Date(session.expiresAt),
          last_seen_at: new Date(now),
          created_at: new Date(now),
          user_agent: client.userAgent?.slice(0, 512) ?? null,
          ip: client.ip?.slice(0, 64) ?? null,
        })
        .execute();
      const event: SessionCreatedPayload = {
        userId,
        sessionId: session.id,
        ip: client.ip?.slice(0, 64) ?? null,
        userAgent: client.userAgent?.slice(0, 512) ?? null,
      };
      await emit({ topic: TOPIC.sessionCreated, payload: event });
      return true;
    });
    if (!opened) return undefined;
    // Expired sessions of this user are swept here, where they are cheap to find.
    await this.#database.db
      .deleteFrom('sessions')
      .where('user_id', '=', userId)
      .where((eb) => eb.or([eb('expires_at', '<', new Date(now)), eb('last_seen_at', '<', new Date(now - this.#policy.idleTimeoutMs))]))
      .execute();
    return { token, session };
  }

  /** The live session of a token; UNAUTHORIZED when malformed, unknown, revoked or expired. */
  async resolve(token: string): Promise<ActiveSession> {
    const hash = hashToken(token);
    if (!hash) throw invalidToken();
    const key = sessionKey(hash);
    const cached = await this.#cache.get<ActiveSession | Invalidated>(key);
    if (isInvalidated(cached)) throw invalidToken();
    let session = cached ?? (await this.#load(hash));
    if (!session) throw invalidToken();
    if (!cached) await this.#remember(key, session);
    const now = Date.now();
    if (now >= session.expiresAt) throw invalidToken();
    if (now - this.#lastSeen(session) >= this.#policy.idleTimeoutMs) {
      // A cached entry can be older than activity recorded since by another instance; the
      // row decides before the session is called idle.
      const fresh = cached ? await this.#load(hash) : undefined;
      if (!fresh || now - fresh.lastSeenAt >= this.#policy.idleTimeoutMs) throw invalidToken();
      session = fresh;
    }
    if (now - this.#lastSeen(session) >= TOUCH_INTERVAL_MS) this.#touch(session, now);
    return session;
  }

  /** Sessions of a user, newest first; the calling one marked `current`. */
  async list(userId: string, currentId: string | undefined): Promise<SessionView[]> {
    const now = Date.now();
    const rows = await this.#database.db
      .selectFrom('sessions')
      .select(['id', 'created_at', 'last_seen_at', 'expires_at', 'user_agent', 'ip'])
      .where('user_id', '=', userId)
      .where('expires_at', '>', new Date(now))
      .where('last_seen_at', '>', new Date(now - this.#policy.idleTimeoutMs))
      .orderBy('id', 'desc')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      createdAt: iso(r.created_at),
      lastSeenAt: iso(r.last_seen_at),
      expiresAt: iso(r.expires_at),
      userAgent: r.user_agent,
      ip: r.ip,
      current: r.id === currentId,
    }));
  }

  /** Revokes one session of a user; false when the user has no such session. */
  async revoke(ctx: ServiceContext, userId: string, sessionId: string, reason: RevocationReason): Promise<boolean> {
    const revoked = await this.#work.run(ctx, (tx, effects) => this.revokeWithin(tx, effects, userId, { only: sessionId }, reason));
    this.announce(revoked);
    return revoked.sessionIds.length > 0;
  }

  /** Revokes every session of a user, except one when given; returns how many. */
  async revokeAll(ctx: ServiceContext, userId: string, reason: RevocationReason, except?: string): Promise<number> {
    const revoked = await this.#work.run(ctx, (tx, effects) => this.revokeWithin(tx, effects, userId, { except }, reason));
    this.announce(revoked);
    return revoked.sessionIds.length;
  }

  /**
   * Revokes sessions of a user as part of a larger change: their rows go in its transaction,
   * with their `session.revoked` events, and their cached entries after its commit. The
   * caller announces the result (`announce`) once the change committed.
   */
  async revokeWithin(
    tx: Database['db'],
    effects: ChangeEffects,
    userId: string,
    filter: { only?: string; except?: string | undefined },
    reason: RevocationReason,
  ): Promise<SessionsRevokedPayload> {
    let query = tx.deleteFrom('sessions').where('user_id', '=', userId);
    if (filter.only) query = query.where('id', '=', filter.only);
    if (filter.except) query = query.where('id', '<>', filter.except);
    const rows = await query.returning(['id', 'token']).execute();
    const revoked: SessionsRevokedPayload = { userId, sessionIds: rows.map((r) => r.id), reason };
    await this.ended(
      effects,
      revoked,
      rows.map((r) => Buffer.from(r.token)),
    );
    return revoked;
  }

  /**
   * What sessions ending in a change owes the rest of the system: their `session.revoked`
   * events (sockets on every instance close when the change commits) and their cache
   * entries, marked revoked for at least as long as an entry could live.
   */
  async ended(effects: ChangeEffects, revoked: SessionsRevokedPayload, tokenHashes: readonly Buffer[]): Promise<void> {
    await effects.emit(this.revokedEvents(revoked));
    effects.invalidate(tokenHashes.map(sessionKey), this.#policy.cacheTtlMs);
  }

  /**
   * Calls `listener` on this instance as soon as sessions are revoked here, after the commit
   * (other instances learn it from the `session.revoked` event); returns the unsubscribe.
   */
  onRevoked(listener: (revoked: SessionsRevokedPayload) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * The `session.revoked` events of a revocation, for a service that deletes session rows
   * itself (in its own transaction): one per chunk of session ids, since a user's sessions
   * are not capped and one event naming them all could outgrow the queue's message limit
   * (about 1 MB) and stop the relay for every event behind it. Consumers close sockets by
   * session id, so several events end the same sessions as one would.
   */
  revokedEvents(revoked: SessionsRevokedPayload): DomainEvent[] {
    const events: DomainEvent[] = [];
    for (let i = 0; i < revoked.sessionIds.length; i += SESSION_IDS_PER_EVENT) {
      events.push({ topic: TOPIC.sessionsRevoked, payload: { ...revoked, sessionIds: revoked.sessionIds.slice(i, i + SESSION_IDS_PER_EVENT) } });
    }
    return events;
  }

  /** Tells this instance's listeners that sessions ended (after the commit that ended them). */
  announce(revoked: SessionsRevokedPayload): void {
    if (revoked.sessionIds.length === 0) return;
    for (const listener of this.#listeners) {
      try {
        listener(revoked);
      } catch (err) {
        this.#log.warn({ err, userId: revoked.userId }, 'a listener of revoked sessions failed');
      }
    }
  }

  async #load(hash: Buffer): Promise<ActiveSession | undefined> {
    const row = await this.#database.db
      .selectFrom('sessions')
      .select(['id', 'user_id', 'expires_at', 'last_seen_at'])
      .where('token', '=', hash)
      .executeTakeFirst();
    return row && { id: row.id, userId: row.user_id, expiresAt: row.expires_at.getTime(), lastSeenAt: new Date(row.last_seen_at).getTime() };
  }

  #lastSeen(session: ActiveSession): number {
    return Math.max(session.lastSeenAt, this.#touched.get(session.id) ?? 0);
  }

  async #remember(key: string, session: ActiveSession): Promise<void> {
    const ttl = Math.min(this.#policy.cacheTtlMs, session.expiresAt - Date.now());
    if (ttl > 0) await this.#cache.add(key, session, ttl);
  }

  // Not awaited: the request does not wait for bookkeeping, and a failed touch only means
  // a later request tries again. The cached entry is left alone (rewriting it could race a
  // revocation); this instance remembers the touch, and other instances read it from the
  // row when their entry expires or looks idle.
  #touch(session: ActiveSession, now: number): void {
    this.#touched.set(session.id, now);
    this.#database.db
      .updateTable('sessions')
      .set({ last_seen_at: new Date(now) })
      .where('id', '=', session.id)
      .executeTakeFirst()
      .catch((err: unknown) => {
        this.#touched.delete(session.id);
        this.#log.warn({ err, sessionId: session.id }, 'could not record session activity');
      });
  }
}
