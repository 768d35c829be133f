import type { Database } from '../../infra/database/index.js';
import type { DomainEvent } from '../events/catalog.js';
import type { ServiceContext } from '../context.js';
import type { Outbox } from './outbox.js';
import { INVALIDATION_HOLD_MS, type TolerantCache } from './tolerant-cache.js';

/** What a change may do besides its own SQL: write events, and name what it makes stale. */
export interface ChangeEffects {
  /** Appends events to the outbox in the change's transaction; the context's trace id is stamped on each. */
  emit(event: DomainEvent | readonly DomainEvent[]): Promise<void>;
  /**
   * Cache keys the change makes stale; invalidated after the commit, across instances, for
   * the standard hold, or `minHoldMs` when an entry may live longer than that.
   */
  invalidate(keys: readonly string[], minHoldMs?: number): void;
  /** Users whose grants (roles, permissions, shares) the change alters; their cached grants go after the commit. */
  invalidateGrants(userIds: readonly string[]): void;
  /**
   * A fresh outbox event id, remembered as this instance's, for a change that writes its
   * outbox row inside a larger statement of its own (one round trip instead of several).
   */
  eventId(): string;
  /**
   * Invalidates these keys at once, before the commit, and again after it (best effort: the
   * first marker already holds). For entries other instances must not serve once the change
   * is visible: a shared cache read between the commit and an after-commit invalidation
   * would still give the old value.
   */
  invalidateNow(keys: readonly string[]): Promise<void>;
  /** `invalidateNow` for users' grants: for changes that take access away (or must show at once). */
  invalidateGrantsNow(userIds: readonly string[]): Promise<void>;
}

/** What a change made of one statement may do: that statement writes its own outbox row (`eventId`). */
export type StatementEffects = Pick<ChangeEffects, 'eventId' | 'invalidate' | 'invalidateGrants'>;

/** What a change leaves for after its commit: the relay to nudge, keys and grants to invalidate. */
class Pending {
  /** Each key with the longest hold asked for it. */
  readonly keys = new Map<string, number>();
  readonly users = new Set<string>();
  emitted = false;

  constructor(readonly outbox: Outbox) {}

  /** The effects every change has, a one-statement change included. */
  effects(): StatementEffects {
    return {
      invalidate: (stale, minHoldMs = 0) => {
        const holdMs = Math.max(INVALIDATION_HOLD_MS, minHoldMs);
        for (const key of stale) this.keys.set(key, Math.max(holdMs, this.keys.get(key) ?? 0));
      },
      invalidateGrants: (ids) => {
        for (const id of ids) this.users.add(id);
      },
      eventId: () => {
        this.emitted = true;
        return this.outbox.newEventId();
      },
    };
  }
}

/** The grants side of invalidation, as the unit of work needs it. */
export interface GrantsInvalidator {
  invalidate(userIds: readonly string[]): Promise<void>;
}

export interface UnitOfWorkDeps {
  database: Database;
  outbox: Outbox;
  cache: TolerantCache;
  grants: GrantsInvalidator;
}

/**
 * One change, its outbox events and its cache invalidations as one unit (DESIGN §4): the SQL
 * and the events commit together or not at all; after the commit the relay is told and the
 * stale entries are invalidated (a failed invalidation fails the caller with 503, so a
 * retry cannot act on revoked data). No service writes outbox rows or hold times by hand.
 */
export class UnitOfWork {
  readonly #d: UnitOfWorkDeps;

  constructor(deps: UnitOfWorkDeps) {
    this.#d = deps;
  }

  /** Runs `work` in one transaction; see the class comment for what happens after the commit. */
  async run<T>(ctx: Pick<ServiceContext, 'traceId'>, work: (tx: Database['db'], effects: ChangeEffects) => Promise<T>): Promise<T> {
    const pending = new Pending(this.#d.outbox);
    const keysAgain = new Set<string>();
    const usersAgain = new Set<string>();
    const { outbox, cache, grants } = this.#d;
    const result = await this.#d.database.db.transaction().execute((tx) =>
      work(tx, {
        ...pending.effects(),
        async emit(eventOrEvents) {
          const events: readonly DomainEvent[] = Array.isArray(eventOrEvents) ? eventOrEvents : [eventOrEvents as DomainEvent];
          if (events.length === 0) return;
          pending.emitted = true;
          await outbox.write(
            tx,
            events.map((event) => ({ ...event, traceId: event.traceId ?? ctx.traceId })),
          );
        },
        async invalidateNow(k) {
          await cache.invalidate(k, INVALIDATION_HOLD_MS);
          for (const key of k) keysAgain.add(key);
        },
        async invalidateGrantsNow(ids) {
          await grants.invalidate(ids);
          for (const id of ids) usersAgain.add(id);
        },
      }),
    );
    // Best effort: each of these was invalidated before the commit already.
    if (keysAgain.size > 0) await cache.invalidate([...keysAgain], INVALIDATION_HOLD_MS).catch(() => undefined);
    if (usersAgain.size > 0) await grants.invalidate([...usersAgain]).catch(() => undefined);
    await this.#afterCommit(pending);
    return result;
  }

  /**
   * A change made by one statement, which is atomic on its own: no BEGIN and COMMIT around
   * it (two round trips fewer). Its events are written by that statement (`eventId`), since
   * a second statement would not commit with it; after it, the same as `run`.
   */
  async statement<T>(work: (db: Database['db'], effects: StatementEffects) => Promise<T>): Promise<T> {
    const pending = new Pending(this.#d.outbox);
    const result = await work(this.#d.database.db, pending.effects());
    await this.#afterCommit(pending);
    return result;
  }

  async #afterCommit({ emitted, keys, users }: Pending): Promise<void> {
    if (emitted) this.#d.outbox.committed();
    const byHold = new Map<number, string[]>();
    for (const [key, holdMs] of keys) byHold.set(holdMs, [...(byHold.get(holdMs) ?? []), key]);
    for (const [holdMs, stale] of byHold) await this.#d.cache.invalidate(stale, holdMs);
    if (users.size > 0) await this.#d.grants.invalidate([...users]);
  }
}
