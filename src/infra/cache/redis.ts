import type { Redis } from 'ioredis';
import { closeRedisClient, createRedisClient } from '../redis/client.js';
import type { Logger } from '../telemetry/logger.js';
import { normaliseTtl, type Cache, type CounterState } from './port.js';
import { deepFreeze } from '../../core/freeze.js';

export interface RedisCacheOptions {
  /** redis:// or rediss:// URL; may hold a password, so it is never logged. */
  url: string;
  keyPrefix: string;
  defaultTtlMs: number;
  /** Bound on opening a connection and on each command; 2000 ms when absent. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 2000;
/** Longest wait between reconnection attempts while Redis is down. */
const MAX_RECONNECT_DELAY_MS = 5000;

/**
 * INCR and the window's start in one atomic step, so no other instance can slip between
 * them. The expiry is set whenever the key has none, which covers a new key (INCR creates it
 * without one) and also heals a counter left without expiry, which would otherwise lock its
 * caller out for good. PTTL comes back with the count to save a second round trip.
 */
const INCREMENT_LUA = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {count, ttl}
`;

/** GET and PTTL together, so the count and its reset time belong to the same moment. */
const READ_COUNTER_LUA = `
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local count = tonumber(raw)
if not count then return redis.error_reply('ERR value is not an integer') end
return {count, redis.call('PTTL', KEYS[1])}
`;

/** The scripts registered with defineCommand; ioredis adds them to the client untyped. */
interface CounterCommands {
  pcfIncrement(key: string, windowMs: number): Promise<[number, number]>;
  pcfReadCounter(key: string): Promise<[number, number] | null>;
}

/**
 * The shared adapter. It fails fast: while Redis is unreachable every call rejects at once
 * (no offline queue, one retry), and the caller decides whether a miss is good enough.
 * The client keeps reconnecting in the background, so the cache heals by itself.
 */
export class RedisCache implements Cache {
  readonly kind = 'redis';
  readonly #client: Redis;
  readonly #counters: CounterCommands;
  readonly #defaultTtlMs: number;
  // Without an offline queue, a command sent before the first connection completes would
  // fail although Redis is fine. Calls wait for that first attempt only; it is bounded by
  // connectTimeout, and once settled every later call proceeds (or fails) immediately.
  readonly #firstAttempt: Promise<void>;
  #closing: Promise<void> | undefined;

  constructor(options: RedisCacheOptions, logger: Logger) {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#defaultTtlMs = normaliseTtl(options.defaultTtlMs);
    this.#client = createRedisClient(
      { url: options.url, keyPrefix: options.keyPrefix, timeoutMs, maxReconnectDelayMs: MAX_RECONNECT_DELAY_MS, label: 'redis cache' },
      logger,
    );
    // defineCommand sends EVALSHA (EVAL once per connection) with the script's KEYS under
    // keyPrefix like any other key, and ioredis reloads the script after a Redis restart.
    this.#client.defineCommand('pcfIncrement', { numberOfKeys: 1, lua: INCREMENT_LUA });
    this.#client.defineCommand('pcfReadCounter', { numberOfKeys: 1, lua: READ_COUNTER_LUA, readOnly: true });
    this.#counters = this.#client as unknown as CounterCommands;
    this.#firstAttempt = new Promise((resolve) => {
      const settle = (): void => {
        this.#client.off('ready', settle).off('close', settle).off('end', settle);
        resolve();
      };
      this.#client.on('ready', settle).on('close', settle).on('end', settle);
    });
  }

  async #ready(): Promise<void> {
    if (this.#client.status !== 'ready') await this.#firstAttempt;
  }

  async get<T>(key: string): Promise<T | undefined> {
    await this.#ready();
    const raw = await this.#client.get(key);
    // Frozen like the in-process adapter's values, so code that mutates a cached value
    // fails the same way on both instead of working only with Redis.
    return raw === null ? undefined : deepFreeze(JSON.parse(raw) as T);
  }

  async set<T>(key: string, value: T, ttlMs?: number): Promise<void> {
    const ttl = ttlMs === undefined ? this.#defaultTtlMs : normaliseTtl(ttlMs);
    if (value === undefined) return this.delete(key);
    const json = JSON.stringify(value);
    // JSON.stringify answers undefined (not a string) for functions and symbols.
    if (typeof json !== 'string') throw new TypeError(`cache value for "${key}" is not JSON-serialisable`);
    await this.#ready();
    await this.#client.set(key, json, 'PX', ttl);
  }

  async add<T>(key: string, value: T, ttlMs?: number): Promise<boolean> {
    const ttl = ttlMs === undefined ? this.#defaultTtlMs : normaliseTtl(ttlMs);
    const json = JSON.stringify(value);
    if (typeof json !== 'string') throw new TypeError(`cache value for "${key}" is not JSON-serialisable`);
    await this.#ready();
    return (await this.#client.set(key, json, 'PX', ttl, 'NX')) === 'OK';
  }

  async delete(...keys: string[]): Promise<void> {
    // DEL with no key is a Redis syntax error; deleting nothing is a no-op.
    if (keys.length === 0) return;
    await this.#ready();
    await this.#client.del(...keys);
  }

  async increment(key: string, windowMs: number): Promise<CounterState> {
    const window = normaliseTtl(windowMs);
    await this.#ready();
    const [count, resetInMs] = await this.#counters.pcfIncrement(key, window);
    return { count, resetInMs };
  }

  async readCounter(key: string): Promise<CounterState | undefined> {
    await this.#ready();
    const reply = await this.#counters.pcfReadCounter(key);
    if (reply === null) return undefined;
    const [count, resetInMs] = reply;
    return { count, resetInMs };
  }

  async ping(): Promise<void> {
    await this.#ready();
    await this.#client.ping();
  }

  close(): Promise<void> {
    this.#closing ??= closeRedisClient(this.#client);
    return this.#closing;
  }
}
