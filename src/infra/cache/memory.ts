import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import { normaliseTtl, type Cache, type CounterState } from './port.js';
import { deepFreeze } from '../../core/freeze.js';

export interface MemoryCacheOptions {
  maxEntries: number;
  defaultTtlMs: number;
}

// lru-cache refuses null and undefined as values, and null is valid JSON worth caching,
// so every value travels in a box. The box holds the caller's object itself: no copy.
interface ValueEntry {
  readonly value: unknown;
}

/**
 * Counted in place rather than replaced on each increment: a `set` would restart the
 * entry's ttl and slide the window, and a fixed window must end where it started.
 * The end is kept here as well so that resetInMs and expiry come from one clock: lru-cache
 * reads a cached time and only drops entries lazily.
 */
class Counter {
  count = 0;
  constructor(readonly endsAt: number) {}

  remainingMs(now: number): number {
    return Math.ceil(this.endsAt - now);
  }
}

type Entry = ValueEntry | Counter;

/**
 * The in-process adapter: a bounded LRU. Expired entries are dropped lazily when read
 * (no purge timer), so an idle cache never keeps the event loop alive.
 */
export class MemoryCache implements Cache {
  readonly kind = 'memory';
  readonly #entries: LRUCache<string, Entry>;

  constructor(options: MemoryCacheOptions) {
    this.#entries = new LRUCache<string, Entry>({
      max: options.maxEntries,
      ttl: normaliseTtl(options.defaultTtlMs),
    });
  }

  async get<T>(key: string): Promise<T | undefined> {
    const entry = this.#entries.get(key);
    // Redis keeps a counter as a plain integer, which reads back as a number; answer the same.
    if (entry instanceof Counter) return (this.#live(key, entry) ? entry.count : undefined) as T | undefined;
    return entry?.value as T | undefined;
  }

  async set<T>(key: string, value: T, ttlMs?: number): Promise<void> {
    const ttl = ttlMs === undefined ? undefined : normaliseTtl(ttlMs);
    if (value === undefined) {
      this.#entries.delete(key);
      return;
    }
    // Shared by every reader of this process (DESIGN §6), so a stray mutation by one
    // request must fail loudly instead of silently changing what the next request sees.
    this.#entries.set(key, { value: deepFreeze(value) }, ttl === undefined ? undefined : { ttl });
  }

  // Synchronous from the check to the write, so two adds in this process cannot both win.
  async add<T>(key: string, value: T, ttlMs?: number): Promise<boolean> {
    const ttl = ttlMs === undefined ? undefined : normaliseTtl(ttlMs);
    if (value === undefined) throw new TypeError(`cache value for "${key}" is undefined`);
    const entry = this.#entries.get(key);
    if (entry !== undefined && (!(entry instanceof Counter) || this.#live(key, entry))) return false;
    this.#entries.set(key, { value: deepFreeze(value) }, ttl === undefined ? undefined : { ttl });
    return true;
  }

  async delete(...keys: string[]): Promise<void> {
    for (const key of keys) this.#entries.delete(key);
  }

  // No await before the counter is updated: the read-modify-write runs in one turn of the
  // event loop, so concurrent increments in this process cannot interleave.
  async increment(key: string, windowMs: number): Promise<CounterState> {
    const window = normaliseTtl(windowMs);
    const now = performance.now();
    let entry = this.#entries.get(key);
    if (entry !== undefined && !(entry instanceof Counter)) {
      throw new TypeError(`cache key "${key}" holds a value, not a counter`);
    }
    if (entry === undefined || !this.#live(key, entry, now)) {
      entry = new Counter(now + window);
      this.#entries.set(key, entry, { ttl: window });
    }
    entry.count += 1;
    return { count: entry.count, resetInMs: entry.remainingMs(now) };
  }

  async readCounter(key: string): Promise<CounterState | undefined> {
    const now = performance.now();
    // peek, not get: reading a counter should not count as use and shield it from eviction.
    const entry = this.#entries.peek(key);
    if (entry === undefined) return undefined;
    if (!(entry instanceof Counter)) throw new TypeError(`cache key "${key}" holds a value, not a counter`);
    return this.#live(key, entry, now) ? { count: entry.count, resetInMs: entry.remainingMs(now) } : undefined;
  }

  /** False, after dropping it, once the counter's window is over. */
  #live(key: string, counter: Counter, now = performance.now()): boolean {
    if (counter.remainingMs(now) > 0) return true;
    this.#entries.delete(key);
    return false;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.#entries.clear();
  }
}
