import { LRUCache } from 'lru-cache';
import { normaliseTtl, type Cache } from './port.js';
import { deepFreeze } from '../../core/freeze.js';

export interface MemoryCacheOptions {
  maxEntries: number;
  defaultTtlMs: number;
}

// lru-cache refuses null and undefined as values, and null is valid JSON worth caching,
// so every value travels in a box. The box holds the caller's object itself: no copy.
interface Entry {
  readonly value: unknown;
}

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
    return this.#entries.get(key)?.value as T | undefined;
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

  async delete(...keys: string[]): Promise<void> {
    for (const key of keys) this.#entries.delete(key);
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.#entries.clear();
  }
}
