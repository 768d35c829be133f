import type { FastifyRequest } from 'fastify';
import type { Config } from '../../core/config/index.js';
import { appError, type AppError } from '../../core/errors.js';
import { RateLimitStoreUnavailable, type Charge, type Limiter, type RateLimitStore } from '../../infra/rate-limit/index.js';
import type { Metrics } from '../../infra/telemetry/metrics.js';
import type { Principal } from '../../services/auth/principals.js';
import type { App } from '../app.js';

/**
 * The API gateway's rate limiter (DESIGN §2: it runs before anything expensive). Four
 * budgets, each a fixed window counted in the rate-limit store (shared through Redis when
 * configured):
 *
 * - `anonymous`: requests without a token, per client IP; a request whose token is refused
 *   is charged here too, so guessing tokens is limited like anything else anonymous;
 * - `user`: requests with a valid token, per user (all its sessions together);
 * - `auth`: login and register per client IP, password changes per user; this budget fails
 *   closed (503) while the shared store is unreachable, the others fall back to counting in
 *   each instance;
 * - `graphql`: GraphQL cost points per user (per IP when anonymous), charged per operation
 *   (see graphql/index.ts).
 */
export interface RateLimits {
  readonly anonymous: Limiter;
  readonly user: Limiter;
  readonly auth: Limiter;
  readonly graphql: Limiter;
  /** Charges `points` and records the outcome; throws RATE_LIMITED or SERVICE_UNAVAILABLE. */
  charge(limiter: Limiter, key: string, points?: number, request?: FastifyRequest): Promise<Charge>;
}

/** Route config: `{ config: { rateLimit: 'auth' } }` puts a route in the strict budget. */
export type RouteRateLimit = 'auth';

declare module 'fastify' {
  interface FastifyContextConfig {
    rateLimit?: RouteRateLimit;
  }
  interface FastifyRequest {
    /** What this request was charged so far, for the RateLimit headers. */
    rateLimitCharges: Charge[] | null;
  }
}

/** How long a client is told to wait while login and register are refused for an outage. */
const STORE_OUTAGE_RETRY_SECONDS = 5;

export function createRateLimits(store: RateLimitStore, config: Config['rateLimit'], metrics: Metrics): RateLimits {
  const window = config.windowSeconds;
  const limits = {
    anonymous: store.limiter({ name: 'anonymous', points: config.anonymousPerWindow, windowSeconds: window, failClosed: false }),
    user: store.limiter({ name: 'user', points: config.userPerWindow, windowSeconds: window, failClosed: false }),
    auth: store.limiter({ name: 'auth', points: config.authPerWindow, windowSeconds: window, failClosed: true }),
    graphql: store.limiter({ name: 'graphql', points: config.graphqlPointsPerWindow, windowSeconds: window, failClosed: false }),
  };
  async function charge(limiter: Limiter, key: string, points = 1, request?: FastifyRequest): Promise<Charge> {
    let result: Charge;
    try {
      result = await limiter.consume(key, points);
    } catch (err) {
      if (!(err instanceof RateLimitStoreUnavailable)) throw err;
      metrics.observeRateLimit(limiter.quota.name, 'unavailable');
      throw appError('SERVICE_UNAVAILABLE', 'Sign-in is briefly unavailable; retry shortly.', {
        headers: { 'retry-after': String(STORE_OUTAGE_RETRY_SECONDS) },
        cause: err,
      });
    }
    metrics.observeRateLimit(limiter.quota.name, !result.allowed ? 'limited' : result.store === 'local' && store.kind === 'redis' ? 'fallback' : 'allowed');
    if (request) {
      (request.rateLimitCharges ??= []).push(result);
    }
    if (!result.allowed) throw rateLimited(result, request);
    return result;
  }
  return { ...limits, charge };
}

/** `"name";q=100;w=60, …`: the budgets this response was counted against. */
export function policyHeader(charges: readonly Charge[]): string {
  return charges.map((c) => `"${c.quota.name}";q=${c.quota.points};w=${c.quota.windowSeconds}`).join(', ');
}

/** `"name";r=42;t=17, …`: what is left of each, and seconds until it resets. */
export function stateHeader(charges: readonly Charge[]): string {
  return charges.map((c) => `"${c.quota.name}";r=${c.remaining};t=${resetSeconds(c)}`).join(', ');
}

const resetSeconds = (c: Charge) => Math.max(1, Math.ceil(c.resetMs / 1000));

function rateLimitHeaders(charges: readonly Charge[]): Record<string, string> {
  return charges.length === 0 ? {} : { 'ratelimit-policy': policyHeader(charges), ratelimit: stateHeader(charges) };
}

function rateLimited(refused: Charge, request: FastifyRequest | undefined): AppError {
  const retryAfter = resetSeconds(refused);
  return appError('RATE_LIMITED', `Too many requests for the ${refused.quota.name} limit; retry in ${retryAfter} s.`, {
    headers: { ...rateLimitHeaders(request?.rateLimitCharges ?? [refused]), 'retry-after': String(retryAfter) },
  });
}

/** The key of a client by address; IPv6 clients are counted per /64, what one host gets. */
export function addressKey(address: string): string {
  if (!address.includes(':') || address.startsWith('::ffff:')) return `ip:${address.replace(/^::ffff:/, '')}`;
  const groups = expandIpv6(address);
  return `ip6:${groups.slice(0, 4).join(':')}`;
}

function expandIpv6(address: string): string[] {
  const [head = '', tail] = address.split('%')[0]!.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0');
  return [...left, ...fill, ...right].map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''));
}

const userKey = (principal: Principal) => `user:${principal.user.id}`;

/** The key a request's GraphQL points and auth attempts are counted under. */
export function callerKey(principal: Principal | undefined, address: string): string {
  return principal ? userKey(principal) : addressKey(address);
}

/**
 * Registers the gateway hooks around authentication: anonymous requests are charged before
 * it (and login and register in the auth budget), signed-in ones right after it. Every
 * charged response carries RateLimit-Policy and RateLimit.
 */
export function registerRateLimits(app: App, limits: RateLimits): { beforeAuthentication: () => void; afterAuthentication: () => void; onRejectedToken: (request: FastifyRequest) => Promise<void> } {
  app.decorateRequest('rateLimitCharges', null);
  app.addHook('onSend', async (request, reply) => {
    // A refusal sets its own (the budget that refused, with Retry-After); keep those.
    if (request.rateLimitCharges && !reply.hasHeader('ratelimit')) reply.headers(rateLimitHeaders(request.rateLimitCharges));
  });
  return {
    beforeAuthentication() {
      app.addHook('onRequest', async (request) => {
        const address = addressKey(request.clientAddress);
        if (request.headers.authorization === undefined) await limits.charge(limits.anonymous, address, 1, request);
        if (request.routeOptions.config?.rateLimit === 'auth' && request.headers.authorization === undefined) {
          await limits.charge(limits.auth, address, 1, request);
        }
      });
    },
    afterAuthentication() {
      app.addHook('onRequest', async (request) => {
        const principal = request.principal;
        if (request.headers.authorization === undefined) return;
        if (principal) {
          await limits.charge(limits.user, userKey(principal), 1, request);
        } else {
          // A token on a path that takes none (health, docs): counted as anonymous.
          await limits.charge(limits.anonymous, addressKey(request.clientAddress), 1, request);
        }
        if (request.routeOptions.config?.rateLimit === 'auth') await limits.charge(limits.auth, callerKey(principal, request.clientAddress), 1, request);
      });
    },
    // A refused token costs its sender like an anonymous request; past the budget the
    // answer becomes 429, so a flood of guesses is slowed like any other.
    async onRejectedToken(request) {
      await limits.charge(limits.anonymous, addressKey(request.clientAddress), 1, request);
    },
  };
}
