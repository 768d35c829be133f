import { LRUCache } from 'lru-cache';
import { appError } from '../../core/errors.js';
import type { Cache } from '../../infra/cache/index.js';
import type { Logger } from '../../infra/telemetry/logger.js';

/** What an invalidated entry holds until its hold time ends. */
export interface Invalidated {
  invalidated: true;
}
const INVALIDATED: Invalidated = Object.freeze({ invalidated: true });

export function isInvalidated(value: unknown): value is Invalidated {
  return typeof value === 'object' && value !== null && (value as Partial<Invalidated>).invalidated === true;
}

/**
 * How long an invalidation marker stays: longer than any database read that could have
 * started before the change (statements are bounded, reads of sessions and grants are
 * index lookups), and short enough that the entry is soon cached again.
 */
export const INVALIDATION_HOLD_MS = 10_000;

/**
 * A shared (Redis) cache costs a network round trip per read; a near cache keeps what was
 * read for ttlMs in the process as well. Invalidations clear it at once on the instance that
 * makes them and reach the others when their copy expires, so ttlMs bounds how long another
 * instance can act on revoked data.
 */
export interface NearCacheOptions {
  ttlMs: number;
  maxEntries: number;
}

/**
 * The cache as services use it for data whose source of truth is the database. A failing
 * cache (Redis down) makes reads miss and writes no-ops, so requests fall back to the
 * database and the instance degrades instead of failing. Invalidations are different: they
 * revoke access, and one that did not happen would leave a revoked session usable once the
 * cache is back, so a failed invalidation fails the caller (503) and it can retry.
 */
export class TolerantCache {
  readonly #cache: Cache;
  readonly #log: Logger;
  /** In-process copies of shared entries, kept briefly (see NearCacheOptions). */
  readonly #near: LRUCache<string, { value: unknown }> | undefined;
  /**
   * The invalidation count when each key was last invalidated here: a read that was already
   * on its way to Redis when its key was invalidated must not refill the near cache.
   */
  readonly #invalidatedAt = new LRUCache<string, number>({ max: 10_000 });
  #invalidations = 0;
  #lastWarning = 0;

  constructor(cache: Cache, log: Logger, near?: NearCacheOptions) {
    this.#cache = cache;
    this.#log = log;
    if (near && near.ttlMs > 0) this.#near = new LRUCache({ max: near.maxEntries, ttl: near.ttlMs });
  }

  get kind(): Cache['kind'] {
    return this.#cache.kind;
  }

  async get<T>(key: string): Promise<T | undefined> {
    const near = this.#near?.get(key);
    if (near) return near.value as T;
    const seen = this.#invalidations;
    try {
      const value = await this.#cache.get<T>(key);
      if (value !== undefined) this.#keepNear(key, value, seen);
      return value;
    } catch (err) {
      this.#warn(err);
      return undefined;
    }
  }

  /** Stores only where nothing is stored (see `Cache.add`); false when the cache fails. */
  async add<T>(key: string, value: T, ttlMs: number): Promise<boolean> {
    const seen = this.#invalidations;
    try {
      const added = await this.#cache.add(key, value, ttlMs);
      if (added) this.#keepNear(key, value, seen);
      return added;
    } catch (err) {
      this.#warn(err);
      return false;
    }
  }

  /**
   * Replaces entries with an invalidation marker for holdMs. A reader that loaded the old
   * value from the database before the change cannot put it back (it only `add`s), so the
   * change holds even against a request racing it. Fails like `delete`.
   */
  async invalidate(keys: readonly string[], holdMs: number): Promise<void> {
    this.#forgetNear(keys);
    for (let i = 0; i < keys.length; i += 100) {
      const chunk = keys.slice(i, i + 100);
      try {
        await Promise.all(chunk.map((key) => this.#cache.set(key, INVALIDATED, holdMs)));
      } catch (err) {
        throw appError('SERVICE_UNAVAILABLE', 'The cache is unavailable; retry shortly.', { cause: err, headers: { 'retry-after': '1' } });
      }
    }
  }

  /**
   * Another instance changed what these keys stand for (its event says so): this process stops
   * serving its own copies at once, the near ones and, when the cache is this process's own
   * (no shared cache), the entries, replaced by a marker as `invalidate` does, so a read
   * racing the event cannot put the old value back. With `onlyHeld`, keys it does not hold
   * get no marker (for keys that every change elsewhere names, which would fill the cache
   * with markers). A shared cache was invalidated by the instance that made the change.
   * Never fails: nothing here leaves the process.
   */
  async forgetCopies(keys: readonly string[], holdMs: number, onlyHeld = false): Promise<void> {
    this.#forgetNear(keys);
    if (this.#cache.kind !== 'memory') return;
    for (const key of keys) {
      if (!onlyHeld || (await this.#cache.get(key)) !== undefined) await this.#cache.set(key, INVALIDATED, holdMs);
    }
  }

  #forgetNear(keys: readonly string[]): void {
    if (!this.#near) return;
    this.#invalidations += 1;
    for (const key of keys) {
      this.#near.delete(key);
      this.#invalidatedAt.set(key, this.#invalidations);
    }
  }

  #keepNear(key: string, value: unknown, seen: number): void {
    if (this.#near && (this.#invalidatedAt.get(key) ?? 0) <= seen) this.#near.set(key, { value });
  }

  // The Redis adapter already logs the outage; this only notes that requests go to the
  // database meanwhile, at most once every 10 s.
  #warn(err: unknown): void {
    const now = Date.now();
    if (now - this.#lastWarning < 10_000) return;
    this.#lastWarning = now;
    this.#log.warn({ err }, 'cache unavailable; serving from the database');
  }
}
