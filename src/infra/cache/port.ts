/**
 * The cache port (DESIGN §3): a small key-value store with per-entry expiry. Services
 * depend on this interface only; `createCache` picks the adapter from config.
 *
 * Values must be JSON-serialisable, because the Redis adapter stores them as JSON and both
 * adapters have to answer the same. Callers treat what `get` returns as immutable: the
 * in-process adapter hands out the stored object itself, frozen, rather than a copy.
 */
export interface Cache {
  readonly kind: 'memory' | 'redis';
  /** The value stored under key, or undefined when absent or expired. */
  get<T>(key: string): Promise<T | undefined>;
  /**
   * Stores a JSON-serialisable value; ttlMs defaults to the adapter's defaultTtlMs.
   * Storing `undefined` removes the key, since `get` could not tell it from absence anyway.
   */
  set<T>(key: string, value: T, ttlMs?: number): Promise<void>;
  /**
   * Stores a value only when the key holds none (or has expired); true when it was stored.
   * Lets a reader that filled an entry from the database lose to a writer that invalidated
   * it meanwhile: the writer leaves a marker the late reader cannot overwrite.
   */
  add<T>(key: string, value: T, ttlMs?: number): Promise<boolean>;
  /** Removes keys; absent keys are fine. Removing a counter's key resets the counter. */
  delete(...keys: string[]): Promise<void>;
  /**
   * Adds one to the counter at key, creating it with a window of windowMs if absent or
   * expired. Atomic across instances sharing Redis.
   *
   * The window is fixed: it starts with the first increment and later increments never move
   * its end, so resetInMs only shrinks. windowMs is checked like a ttl (`normaliseTtl`).
   * Keep counter keys apart from keys written by `set`: incrementing a key that holds
   * anything but a counter rejects, or at best counts on from a number it happens to hold.
   */
  increment(key: string, windowMs: number): Promise<CounterState>;
  /** The counter at key without changing it; undefined when absent or expired. */
  readCounter(key: string): Promise<CounterState | undefined>;
  /** Resolves when the store answers, rejects otherwise (used by readiness checks). */
  ping(): Promise<void>;
  /** Releases connections; idempotent. */
  close(): Promise<void>;
}

/** A fixed-window counter as it stands after (or without) an increment. */
export interface CounterState {
  /** Increments so far in the current window, at least 1. */
  count: number;
  /** Milliseconds until the window ends and the counter disappears. */
  resetInMs: number;
}

export interface CacheOptions {
  /** Redis URL (redis:// or rediss://); empty string means the in-process adapter. */
  redisUrl: string;
  /** Prefix of every Redis key, so several deployments or tests can share one Redis. */
  keyPrefix: string;
  /** Entries the in-process adapter keeps before evicting the least recently used. */
  maxEntries: number;
  defaultTtlMs: number;
}

/**
 * A ttl both stores accept: a whole number of milliseconds, at least 1. lru-cache throws on
 * fractions and Redis `PX` rejects them, so rounding up here keeps the adapters in step.
 * A ttl of zero or less, or not finite, is a caller bug and throws a RangeError.
 */
export function normaliseTtl(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new RangeError(`cache ttl must be a positive number of milliseconds, got ${ttlMs}`);
  }
  return Math.ceil(ttlMs);
}
