import { isAppError } from '../../core/errors.js';
import type { SessionsRevokedPayload } from '../events/catalog.js';
import type { Principal } from './principals.js';
import type { ClientInfo } from './sessions.js';

/**
 * The time the service reads and the timer it runs on. `now()` is monotonic milliseconds
 * (performance.now() in production): the live feeds stamp their `revoked` signals with the
 * same clock, and `refresh(after)` compares against those stamps.
 */
export interface FreshnessClock {
  now(): number;
  /** Runs `tick` every `ms`; returns what stops it. */
  every(ms: number, tick: () => void): () => void;
}

export const systemClock: FreshnessClock = {
  now: () => performance.now(),
  every: (ms, tick) => {
    const timer = setInterval(tick, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
};

export interface SessionFreshnessDeps {
  /** Looks a token's caller up: from the cache when warm, or with grants read from the database. */
  authenticate(token: string, client: ClientInfo, options: { freshGrants: boolean }): Promise<Principal | undefined>;
  /** How often every tracked session is checked again (`websocket.authCheckIntervalMs`). */
  intervalMs: number;
  /** Where revocations are told: this instance's, and the `session.revoked` events of the others. */
  revocations: readonly ((listener: (revoked: SessionsRevokedPayload) => void) => () => void)[];
  clock?: FreshnessClock;
}

/** What the service tells the holder of a tracked session (a WebSocket connection). */
export interface FreshnessEvents {
  /** The session ended (logout, revocation, expiry, deleted user): stop serving it. */
  ended(): void;
  /** The session could not be checked for too long (its lookups fail or hang): reconnect. */
  unverifiable(): void;
  /** The caller's grants changed: what it was let into must be checked again. */
  grantsChanged(): void;
}

/**
 * How long after a lookup with grants from the database a lookup served by the cache is not
 * believed over it: without a shared cache, an instance may hold grants up to a second old
 * (wiring/identity.ts), and the periodic check must not put back what the database denied.
 */
export const DATABASE_PRECEDENCE_MS = 2000;

/** A lookup that failed because the session is no more (as opposed to a store that cannot answer). */
const isDeadSession = (err: unknown) => isAppError(err) && err.code === 'UNAUTHORIZED';

/**
 * One long-lived caller (a WebSocket connection's), kept fresh by the service: `principal` is
 * the caller as last checked, what subscriptions check each event against so an event costs
 * no session lookup per subscriber.
 */
export class TrackedSession {
  /** The caller as last checked (at tracking, then by the sweep and lookups); undefined when anonymous. */
  principal: Principal | undefined;
  /** When `principal` was last confirmed. */
  checkedAt: number;
  /** Lookups started, and the newest applied: an older lookup finishing late changes nothing. */
  #lookups = 0;
  #applied = 0;
  /** A sweep check under way: the next sweep does not pile up another. */
  checking = false;
  /** The newest lookup with grants from the database, and when it started. */
  #fresh?: { startedAt: number; lookup: Promise<Principal | undefined> };

  constructor(
    readonly token: string | undefined,
    readonly client: ClientInfo,
    principal: Principal | undefined,
    readonly events: FreshnessEvents,
    private readonly deps: Required<Pick<SessionFreshnessDeps, 'authenticate' | 'clock'>>,
  ) {
    this.principal = principal;
    this.checkedAt = deps.clock.now();
  }

  /** The caller looked up as a request would (the cache when warm), without changing `principal`. */
  async current(): Promise<Principal | undefined> {
    if (this.token === undefined) return undefined;
    try {
      return await this.deps.authenticate(this.token, this.client, { freshGrants: false });
    } catch (err) {
      if (isDeadSession(err)) this.events.ended();
      throw err;
    }
  }

  /**
   * Looks the caller up as a request would (the cache when warm), now; changed grants are
   * told (`grantsChanged`), as the sweep does.
   */
  async lookUp(): Promise<void> {
    const seq = ++this.#lookups;
    const startedAt = this.deps.clock.now();
    const principal = await this.current();
    if (this.apply(seq, principal, true, startedAt)) this.events.grantsChanged();
  }

  /**
   * Looks the caller up again, its grants read from the database. With `after` (a `revoked`
   * signal's time on the clock), a lookup started since then serves too: every feed of a
   * connection gets the signal, and one lookup answers them all.
   */
  refresh(after?: number): Promise<Principal | undefined> {
    const shared = this.#fresh;
    // Strictly after: a lookup that started in the same instant may have started before.
    if (after !== undefined && shared && shared.startedAt > after) return shared.lookup;
    const seq = ++this.#lookups;
    const startedAt = this.deps.clock.now();
    const lookup = this.token === undefined ? Promise.resolve(undefined) : this.deps.authenticate(this.token, this.client, { freshGrants: true });
    const applied = lookup.then(
      (principal) => {
        this.apply(seq, principal, false, startedAt);
        return this.principal;
      },
      (err: unknown) => {
        if (isDeadSession(err)) this.events.ended();
        throw err;
      },
    );
    this.#fresh = { startedAt, lookup: applied };
    return applied;
  }

  /** The sweep's check, sharing `lookup` with the other connections of the same session. */
  sweepWith(lookup: Promise<Principal | undefined>): void {
    this.checking = true;
    const seq = ++this.#lookups;
    const startedAt = this.deps.clock.now();
    lookup
      .then(
        (principal) => {
          if (this.apply(seq, principal, true, startedAt)) this.events.grantsChanged();
        },
        (err: unknown) => {
          // Only a dead session ends; a database hiccup does not.
          if (isDeadSession(err)) this.events.ended();
        },
      )
      .finally(() => (this.checking = false));
  }

  /**
   * Keeps the result of lookup number `seq`, unless a newer lookup came back first, or it came
   * from the cache shortly after one from the database started; says whether the grants changed.
   */
  private apply(seq: number, principal: Principal | undefined, fromCache: boolean, startedAt: number): boolean {
    if (seq <= this.#applied) return false;
    if (fromCache && this.#fresh && startedAt - this.#fresh.startedAt < DATABASE_PRECEDENCE_MS) {
      this.checkedAt = this.deps.clock.now();
      return false;
    }
    const before = this.principal;
    this.#applied = seq;
    this.principal = principal;
    this.checkedAt = this.deps.clock.now();
    return principal !== undefined && principal.ability !== before?.ability;
  }
}

/**
 * Keeps long-lived callers fresh (DESIGN §5, WebSocket): every `intervalMs` each signed-in
 * tracked session is looked up again (one lookup per token, however many connections share
 * it); one that ended otherwise than by a revocation (expiry) is told `ended`, changed grants
 * `grantsChanged`, and one that cannot be checked for three intervals and five seconds
 * `unverifiable`. A revocation on any instance ends the sessions it names at once.
 */
export class SessionFreshness {
  readonly #sessions = new Set<TrackedSession>();
  readonly #deps: Required<Pick<SessionFreshnessDeps, 'authenticate' | 'clock'>>;
  readonly #staleAfterMs: number;
  readonly #stop: (() => void)[];

  constructor(deps: SessionFreshnessDeps) {
    const clock = deps.clock ?? systemClock;
    this.#deps = { authenticate: deps.authenticate, clock };
    this.#staleAfterMs = 3 * deps.intervalMs + 5000;
    const revoked = (payload: SessionsRevokedPayload) => this.sessionsRevoked(payload);
    this.#stop = [clock.every(deps.intervalMs, () => this.sweep()), ...deps.revocations.map((listen) => listen(revoked))];
  }

  /** A token's caller, looked up as a request would be (the cache when warm). */
  authenticate(token: string, client: ClientInfo): Promise<Principal | undefined> {
    return this.#deps.authenticate(token, client, { freshGrants: false });
  }

  /** Starts keeping a caller fresh; `untrack` when its connection closes. */
  track(token: string | undefined, client: ClientInfo, principal: Principal | undefined, events: FreshnessEvents): TrackedSession {
    const session = new TrackedSession(token, client, principal, events, this.#deps);
    this.#sessions.add(session);
    return session;
  }

  untrack(session: TrackedSession): void {
    this.#sessions.delete(session);
  }

  /** How many sessions are tracked. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Ends the tracked sessions a revocation names. */
  sessionsRevoked(revoked: SessionsRevokedPayload): void {
    const ended = new Set(revoked.sessionIds);
    for (const session of this.#sessions) {
      const principal = session.principal;
      if (principal?.user.id === revoked.userId && ended.has(principal.sessionId)) session.events.ended();
    }
  }

  /** One round of checks (the timer's). */
  sweep(): void {
    const lookups = new Map<string, Promise<Principal | undefined>>();
    const now = this.#deps.clock.now();
    for (const session of this.#sessions) {
      const token = session.token;
      if (token === undefined) continue;
      if (now - session.checkedAt > this.#staleAfterMs) {
        session.events.unverifiable();
        continue;
      }
      if (session.checking) continue;
      let lookup = lookups.get(token);
      if (!lookup) lookups.set(token, (lookup = this.#deps.authenticate(token, session.client, { freshGrants: false })));
      session.sweepWith(lookup);
    }
  }

  /** Stops the timer and the revocation listeners (on shutdown). */
  close(): void {
    for (const stop of this.#stop) stop();
    this.#sessions.clear();
  }
}
