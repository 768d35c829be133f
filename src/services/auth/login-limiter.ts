import { createHash } from 'node:crypto';
import { appError } from '../../core/errors.js';
import { addressKey } from '../../core/net.js';
import type { Cache } from '../../infra/cache/index.js';
import type { Logger } from '../../infra/telemetry/logger.js';

export interface LoginLimits {
  /** Attempts per (account, client address) in a window; the brake on one guesser. */
  maxFailures: number;
  /** Failures per account from all addresses in a window; past it only known addresses may try. */
  maxFailuresPerAccount: number;
  /** Failures per client address, whatever the accounts. */
  maxFailuresPerIp: number;
  windowMs: number;
}

/**
 * How long an address that signed in to an account stays "known" to it. Long enough that the
 * owner's usual devices are known when an attack starts; each successful login renews it.
 */
const KNOWN_ADDRESS_TTL_MS = 30 * 86_400_000;

/**
 * Keeps password guessing out without handing attackers a way to lock an owner out (issue 12
 * point 7). Three counters in fixed windows, in the shared cache so every instance sees the
 * same counts:
 *
 * - per (account, client address): `maxFailures` attempts, then that address waits. One
 *   address cannot guess, and cannot lock the account for anyone else either;
 * - per account, from every address: `maxFailuresPerAccount` failures (far above the first),
 *   the ceiling on a guesser with many addresses. Past it, only an address that signed in to
 *   the account before (kept for KNOWN_ADDRESS_TTL_MS) may still try: the owner's devices
 *   get in, new addresses wait;
 * - per client address: `maxFailuresPerIp` failures over all accounts (spraying).
 *
 * Accounts are keyed by a hash of the normalised email, whether or not such an account exists,
 * so a limit reveals nothing either; addresses by their /64 for IPv6 (core/net.ts).
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
   * Counts an attempt of this address on the account before its password is checked, and
   * throws RATE_LIMITED (with Retry-After) when the pair, the address, or (for an address
   * that never signed in to it) the account is over its limit. Counting the pair first means
   * concurrent guesses from one address cannot all slip in before the first failure is
   * recorded: at most maxFailures of them per window ever reach argon2. The account's
   * ceiling is counted on failure, so a guesser with many addresses can overshoot it by the
   * guesses it has in flight, each address still capped.
   */
  async attempt(email: string, ip: string | undefined): Promise<void> {
    const address = addressOf(ip);
    const counts = await this.#guard(() =>
      Promise.all([
        this.#cache.increment(pairKey(email, address), this.#limits.windowMs),
        this.#cache.readCounter(accountKey(email)),
        ip ? this.#cache.readCounter(ipKey(address)) : undefined,
      ]),
    );
    if (!counts) return;
    const [pair, account, client] = counts;
    let waitMs = Math.max(
      pair.count > this.#limits.maxFailures ? pair.resetInMs : 0,
      client && client.count >= this.#limits.maxFailuresPerIp ? client.resetInMs : 0,
    );
    if (waitMs === 0 && account && account.count >= this.#limits.maxFailuresPerAccount && !(await this.#known(email, address))) waitMs = account.resetInMs;
    if (waitMs > 0) {
      throw appError('RATE_LIMITED', 'Too many failed logins; try again later.', { headers: { 'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))) } });
    }
  }

  /**
   * A failed attempt counts against the account's ceiling and the client address. (The
   * address is counted after the fact, so successes from a shared address do not use up its
   * allowance; concurrent requests from one address can overshoot by as many as are in
   * flight, while each (account, address) pair stays capped.)
   */
  async recordFailure(email: string, ip: string | undefined): Promise<void> {
    const address = addressOf(ip);
    await this.#guard(() =>
      Promise.all([
        this.#cache.increment(accountKey(email), this.#limits.windowMs),
        ip ? this.#cache.increment(ipKey(address), this.#limits.windowMs) : undefined,
      ]),
    );
  }

  /**
   * A successful login clears the pair's count and makes the address known to the account.
   * The account's ceiling stays (the owner signing in must not hand a guesser a fresh
   * allowance), and so does the address's (one good password does not vouch for the rest).
   */
  async recordSuccess(email: string, ip: string | undefined): Promise<void> {
    const address = addressOf(ip);
    await this.#guard(() => Promise.all([this.#cache.delete(pairKey(email, address)), this.#cache.set(knownKey(email, address), 1, KNOWN_ADDRESS_TTL_MS)]));
  }

  async #known(email: string, address: string): Promise<boolean> {
    return (await this.#guard(() => this.#cache.get<number>(knownKey(email, address)))) !== undefined;
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

const digest = (text: string): string => createHash('sha256').update(text).digest('base64url');
// Per /64 for IPv6, like the gateway's budgets: one host cannot rotate its way past it.
const addressOf = (ip: string | undefined): string => (ip ? addressKey(ip) : 'unknown');
const accountKey = (email: string): string => `auth:login:account:${digest(email)}`;
const ipKey = (address: string): string => `auth:login:${address}`;
// Hashed together: the store holds neither an email nor which addresses it signs in from.
const pairKey = (email: string, address: string): string => `auth:login:pair:${digest(`${email}\n${address}`)}`;
// Apart from the counters: `set` and `increment` must not share keys (cache/port.ts).
const knownKey = (email: string, address: string): string => `auth:login:known:${digest(`${email}\n${address}`)}`;
