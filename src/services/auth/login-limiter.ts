import { createHash } from 'node:crypto';
import { appError } from '../../core/errors.js';
import { addressKey } from '../../core/net.js';
import type { Cache } from '../../infra/cache/index.js';
import type { Logger } from '../../infra/telemetry/logger.js';

export interface LoginLimits {
  maxFailuresPerAccount: number;
  maxFailuresPerIp: number;
  windowMs: number;
}

/**
 * Counts failed logins per account and per client IP in fixed windows, in the shared cache
 * so every instance sees the same counts. The account is keyed by a hash of its normalised
 * email, whether or not such an account exists, so a limit reveals nothing either.
 *
 * When the cache is down the limiter lets logins through (logged): locking every user out
 * during a Redis outage would be worse than losing the brake for its duration, and argon2
 * still bounds the guessing rate.
 */
export class LoginLimiter {
  readonly #cache: Cache;
  readonly #limits: LoginLimits;
  readonly #log: Logger;

  constructor(cache: Cache, limits: LoginLimits, log: Logger) {
    this.#cache = cache;
    this.#limits = limits;
    this.#log = log;
  }

  /**
   * Counts an attempt on the account before its password is checked, and throws
   * RATE_LIMITED (with Retry-After) when the account or the client IP is over its limit.
   * Counting first means concurrent guesses cannot all slip in before the first failure is
   * recorded: at most maxFailuresPerAccount attempts per window ever reach argon2.
   */
  async attempt(email: string, ip: string | undefined): Promise<void> {
    const counts = await this.#guard(() =>
      Promise.all([this.#cache.increment(accountKey(email), this.#limits.windowMs), ip ? this.#cache.readCounter(ipKey(ip)) : undefined]),
    );
    if (!counts) return;
    const [account, client] = counts;
    const waitMs = Math.max(
      account.count > this.#limits.maxFailuresPerAccount ? account.resetInMs : 0,
      client && client.count >= this.#limits.maxFailuresPerIp ? client.resetInMs : 0,
    );
    if (waitMs > 0) {
      throw appError('RATE_LIMITED', 'Too many failed logins; try again later.', { headers: { 'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))) } });
    }
  }

  /**
   * A failed attempt also counts against the client IP. (The IP is counted after the fact,
   * so successes from a shared address do not use up its allowance; concurrent requests
   * from one IP can overshoot by as many as are in flight, while each account stays capped.)
   */
  async recordFailure(ip: string | undefined): Promise<void> {
    if (ip) await this.#guard(() => this.#cache.increment(ipKey(ip), this.#limits.windowMs));
  }

  /** A successful login clears the account's count (not the IP's: one good password does not vouch for the rest). */
  async recordSuccess(email: string): Promise<void> {
    await this.#guard(() => this.#cache.delete(accountKey(email)));
  }

  async #guard<T>(fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      this.#log.warn({ err }, 'login limiter unavailable; not counting failures');
      return undefined;
    }
  }
}

const accountKey = (email: string): string => `auth:login:account:${createHash('sha256').update(email).digest('base64url')}`;
// Per /64 for IPv6, like the gateway's budgets: one host cannot rotate its way past it.
const ipKey = (ip: string): string => `auth:login:${addressKey(ip)}`;
