import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { closeRedisClient, createRedisClient } from '../redis/client.js';
import { moduleLogger, type Logger } from '../telemetry/logger.js';

/** One budget: `points` per fixed window of `windowSeconds`, counted per key. */
export interface Quota {
  /** Short name; it is the policy name in the RateLimit headers and part of every key. */
  readonly name: string;
  readonly points: number;
  readonly windowSeconds: number;
  /**
   * What happens while the shared store is unreachable: false counts on in this instance
   * alone (a looser limit, never an outage); true refuses, for budgets that guard against
   * password guessing, where N instances would multiply the guesses.
   */
  readonly failClosed: boolean;
}

/** The outcome of charging a key. */
export interface Charge {
  readonly allowed: boolean;
  readonly quota: Quota;
  /** Points left in the current window (0 when refused). */
  readonly remaining: number;
  /** Milliseconds until the window resets. */
  readonly resetMs: number;
  /** Where it was counted: `shared` by every instance, or `local` to this one. */
  readonly store: 'shared' | 'local';
}

/** A budget whose store cannot be reached, and which fails closed. */
export class RateLimitStoreUnavailable extends Error {
  constructor(readonly quota: Quota) {
    super(`rate-limit store unreachable for the ${quota.name} budget`);
  }
}

export interface ConsumeOptions {
  /**
   * Give the points back when the charge is refused. rate-limiter-flexible counts a refused
   * charge too; for a points budget that would let one oversized request spend the rest of
   * the window.
   */
  refundRefused?: boolean;
}

export interface Limiter {
  readonly quota: Quota;
  /** Charges `points` (a positive integer) to `key`; rejects only with RateLimitStoreUnavailable. */
  consume(key: string, points?: number, options?: ConsumeOptions): Promise<Charge>;
  /** Gives back points a charge took from the store it was counted in; never rejects. */
  refund(key: string, points: number, store: Charge['store']): Promise<void>;
}

export interface RateLimitStore {
  readonly kind: 'memory' | 'redis';
  limiter(quota: Quota): Limiter;
  close(): Promise<void>;
}

export interface RateLimitStoreOptions {
  /** Redis URL; empty keeps every budget in this process (embedded mode). */
  redisUrl: string;
  keyPrefix: string;
  /** Bound on each Redis command; a slower answer counts as a failure. */
  timeoutMs: number;
}

/**
 * Budgets per key, backed by rate-limiter-flexible: in Redis when configured, so every
 * instance charges the same counters (one atomic Lua INCR per charge), otherwise in memory.
 */
export function createRateLimitStore(options: RateLimitStoreOptions, logger: Logger): RateLimitStore {
  const log = moduleLogger(logger, 'rate-limit');
  if (options.redisUrl === '') return new MemoryStore();
  return new RedisStore(
    createRedisClient(
      // Reconnect quickly: while the store is down, login and register are refused.
      {
        url: options.redisUrl,
        keyPrefix: options.keyPrefix,
        timeoutMs: options.timeoutMs,
        connectTimeoutMs: 2000,
        maxReconnectDelayMs: 1000,
        label: 'rate-limit store',
        autoPipelining: true,
      },
      log,
    ),
    log,
    options.timeoutMs,
  );
}

const memoryLimiter = (quota: Quota) => new RateLimiterMemory({ keyPrefix: quota.name, points: quota.points, duration: quota.windowSeconds });

const outcome = (quota: Quota, res: RateLimiterRes, allowed: boolean, store: Charge['store']): Charge => ({
  allowed,
  quota,
  remaining: allowed ? Math.max(0, res.remainingPoints) : 0,
  resetMs: Math.max(0, res.msBeforeNext),
  store,
});

/** Runs one charge, telling "over the budget" (a RateLimiterRes) from a store failure. */
async function charge(
  limiter: RateLimiterAbstract,
  quota: Quota,
  key: string,
  points: number,
  store: Charge['store'],
  options: ConsumeOptions | undefined,
): Promise<Charge> {
  try {
    return outcome(quota, await limiter.consume(key, points), true, store);
  } catch (err) {
    if (!(err instanceof RateLimiterRes)) throw err;
    // A refund that fails leaves the points spent: the refusal stands either way.
    if (options?.refundRefused) await limiter.reward(key, points).catch(() => undefined);
    return outcome(quota, err, false, store);
  }
}

class MemoryStore implements RateLimitStore {
  readonly kind = 'memory';

  limiter(quota: Quota): Limiter {
    const local = memoryLimiter(quota);
    return {
      quota,
      consume: (key, points = 1, options) => charge(local, quota, key, points, 'local', options),
      refund: async (key, points) => void (await local.reward(key, points).catch(() => undefined)),
    };
  }

  async close(): Promise<void> {}
}

/**
 * A circuit breaker in front of Redis: after BREAKER_FAILURES failed charges within the
 * span (see RedisStore) the store is not asked for BREAKER_OPEN_MS (a Redis that accepts
 * connections but stopped answering would otherwise cost every request a command timeout);
 * then one charge tries it, and its answer closes or reopens the breaker. A slow answer
 * alone does not open it.
 */
const BREAKER_FAILURES = 3;
const BREAKER_SPAN_MS = 1000;
const BREAKER_OPEN_MS = 2000;

class RedisStore implements RateLimitStore {
  readonly kind = 'redis';
  #degraded = false;
  /** When the breaker last opened (epoch ms); 0 while it is closed. */
  #openedAt = 0;
  /** Whether a charge is trying Redis while the breaker is open. */
  #probing = false;
  #spanStart = 0;
  #failuresInSpan = 0;
  /**
   * How close together BREAKER_FAILURES failures must be to open the breaker. Against a
   * stalled Redis each failure is a command timeout, so requests one after another (one
   * client, or a quiet instance) fail one timeout apart: a span of BREAKER_SPAN_MS alone
   * would never hold three 500 ms timeouts (the first and third end 1000 ms apart, plus the
   * request's own time), and every request would wait out the timeout for the whole stall.
   */
  readonly #spanMs: number;
  // Charges wait for the first connection attempt (bounded by the connect timeout): without
  // an offline queue, a charge sent while the instance is still connecting would count as
  // an outage although Redis is fine.
  readonly #firstAttempt: Promise<void>;

  constructor(
    readonly client: Redis,
    readonly log: Logger,
    timeoutMs: number,
  ) {
    this.#spanMs = Math.max(BREAKER_SPAN_MS, BREAKER_FAILURES * timeoutMs);
    this.#firstAttempt = new Promise((resolve) => {
      const settle = (): void => {
        client.off('ready', settle).off('close', settle).off('end', settle);
        resolve();
      };
      client.on('ready', settle).on('close', settle).on('end', settle);
    });
  }

  limiter(quota: Quota): Limiter {
    // rejectIfRedisNotReady: while the connection is down a charge fails at once instead of
    // waiting out a timeout, so an outage costs requests nothing.
    const shared = new RateLimiterRedis({
      storeClient: this.client,
      keyPrefix: `rl:${quota.name}`,
      points: quota.points,
      duration: quota.windowSeconds,
      rejectIfRedisNotReady: true,
    });
    // The fallback's counters start empty at each outage: a looser limit for its duration.
    const local = memoryLimiter(quota);
    return {
      quota,
      consume: async (key, points = 1, options) => {
        const probe = this.#openedAt !== 0;
        if (probe && (this.#probing || Date.now() - this.#openedAt < BREAKER_OPEN_MS)) return this.#fallback(quota, local, key, points, options);
        if (probe) this.#probing = true;
        const sentAt = Date.now();
        try {
          if (this.client.status !== 'ready') await this.#firstAttempt;
          const result = await charge(shared, quota, key, points, 'shared', options);
          this.#succeeded(sentAt);
          return result;
        } catch (err) {
          this.#failed(err, probe);
          return this.#fallback(quota, local, key, points, options);
        } finally {
          if (probe) this.#probing = false;
        }
      },
      refund: async (key, points, store) => {
        await (store === 'shared' ? shared : local).reward(key, points).catch(() => undefined);
      },
    };
  }

  #fallback(quota: Quota, local: RateLimiterAbstract, key: string, points: number, options: ConsumeOptions | undefined): Promise<Charge> {
    if (quota.failClosed) throw new RateLimitStoreUnavailable(quota);
    return charge(local, quota, key, points, 'local', options);
  }

  /** One warning when the store starts failing; the breaker opens on repeated failures. */
  #failed(err: unknown, probe: boolean): void {
    const now = Date.now();
    if (now - this.#spanStart > this.#spanMs) {
      this.#spanStart = now;
      this.#failuresInSpan = 0;
    }
    if (probe || ++this.#failuresInSpan >= BREAKER_FAILURES) this.#openedAt = now;
    if (this.#degraded) return;
    this.#degraded = true;
    this.log.warn({ err }, 'rate-limit store unreachable: general limits count per instance, login and register are refused');
  }

  /** Closes the breaker, unless the answer is to a charge sent before it opened. */
  #succeeded(sentAt: number): void {
    if (this.#openedAt !== 0 && sentAt < this.#openedAt) return;
    this.#openedAt = 0;
    this.#failuresInSpan = 0;
    if (!this.#degraded) return;
    this.#degraded = false;
    this.log.info('rate-limit store reachable again: limits are shared');
  }

  close(): Promise<void> {
    return closeRedisClient(this.client);
  }
}
