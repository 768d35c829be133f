import { createHash } from 'node:crypto';
import { appError } from '../../core/errors.js';
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

  /** Throws RATE_LIMITED, with Retry-After, while either counter is at its limit. */
  async check(email: string, ip: string | undefined): Promise<void> {
    const [account, client] = await this.#guard(() =>
      Promise.all([this.#cache.readCounter(accountKey(email)), ip ? this.#cache.readCounter(ipKey(ip)) : undefined]),
    ) ?? [undefined, undefined];
    const blocked = [
      account && account.count >= this.#limits.maxFailuresPerAccount ? account.resetInMs : 0,
      client && client.count >= this.#limits.maxFailuresPerIp ? client.resetInMs : 0,
    ];
    const waitMs = Math.max(...blocked);
    if (waitMs > 0) {
      throw appError('RATE_LIMITED', 'Too many failed logins; try again later.', { headers: { 'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))) } });
    }
  }

  async recordFailure(email: string, ip: string | undefined): Promise<void> {
    await this.#guard(() =>
      Promise.all([
        this.#cache.increment(accountKey(email), this.#limits.windowMs),
        ip ? this.#cache.increment(ipKey(ip), this.#limits.windowMs) : undefined,
      ]),
    );
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
const ipKey = (ip: string): string => `auth:login:ip:${ip}`;
