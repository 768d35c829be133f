import type { FastifyRequest } from 'fastify';
import type { Config } from '../../core/config/index.js';
import { appError, type AppError } from '../../core/errors.js';
import { addressKey } from '../../core/net.js';
import { RateLimitStoreUnavailable, type Charge, type Limiter, type RateLimitStore } from '../../infra/rate-limit/index.js';
import type { Metrics } from '../../infra/telemetry/metrics.js';
import type { Principal } from '../../services/auth/principals.js';
import type { App } from '../app.js';

/**
 * The API gateway's rate limiter (DESIGN §2: it runs before anything expensive). Four
 * budgets, each a fixed window counted in the rate-limit store (shared through Redis when
 * configured); docs/gateway.md describes them for users:
 *
 * - `anonymous`: requests without a token, per client address; a request whose token is
 *   refused is charged here too, so guessing tokens is limited like anything else anonymous;
 * - `user`: requests with a valid token, per user (all its sessions together);
 * - `auth`: login and register per client address (whoever is signed in), password changes
 *   per user; this budget fails closed (503) while the shared store is unreachable, the
 *   others fall back to counting in each instance;
 * - `graphql`: GraphQL cost points per user (per address when anonymous), charged per
 *   operation (graphql/budget.ts).
 */
export interface RateLimits {
  readonly anonymous: Limiter;
  readonly user: Limiter;
  readonly auth: Limiter;
  readonly graphql: Limiter;
  /** Bytes of request bodies, per user (per address when anonymous). */
  readonly bodyBytes: Limiter;
  /** What a body of unknown length (chunked) is charged: the largest body accepted. */
  readonly unknownBodyBytes: number;
  /**
   * Charges every item at once and records the outcomes on the request (for its RateLimit
   * headers). Throws RATE_LIMITED, with Retry-After and the headers, when any is refused, and
   * SERVICE_UNAVAILABLE when a fail-closed budget's store is unreachable.
   */
  charge(request: FastifyRequest | undefined, ...items: ChargeItem[]): Promise<Charge[]>;
}

export interface ChargeItem {
  limiter: Limiter;
  key: string;
  points?: number;
  /** Give the points back when refused (the GraphQL points budget). */
  refundRefused?: boolean;
}

/**
 * Route config that puts a route in the strict auth budget: `auth-address` counts per client
 * address (login, register: the attempts come from whoever sends them, signed in or not),
 * `auth-user` per signed-in user (password change). `exempt` takes a route out of every
 * budget: the probes (`/health`, `/health/ready`, `/metrics`), which an orchestrator or a
 * scraper calls from one address whatever else that address sends; throttled, a healthy
 * instance would look dead and be restarted (DESIGN §2). They are cheap and read no user
 * data; `/metrics` has its own guard (`metrics.token`).
 */
export type RouteRateLimit = 'auth-address' | 'auth-user' | 'exempt';

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

export function createRateLimits(store: RateLimitStore, config: Config['rateLimit'], metrics: Metrics, bodyLimitBytes: number): RateLimits {
  const window = config.windowSeconds;
  const limits = {
    anonymous: store.limiter({ name: 'anonymous', points: config.anonymousPerWindow, windowSeconds: window, failClosed: false }),
    user: store.limiter({ name: 'user', points: config.userPerWindow, windowSeconds: window, failClosed: false }),
    auth: store.limiter({ name: 'auth', points: config.authPerWindow, windowSeconds: window, failClosed: true }),
    graphql: store.limiter({ name: 'graphql', points: config.graphqlPointsPerWindow, windowSeconds: window, failClosed: false }),
    bodyBytes: store.limiter({ name: 'body-bytes', points: config.bodyBytesPerWindow, windowSeconds: window, failClosed: false }),
  };

  async function chargeOne({ limiter, key, points = 1, refundRefused }: ChargeItem): Promise<Charge> {
    try {
      const result = await limiter.consume(key, points, { refundRefused });
      metrics.observeRateLimit(limiter.quota.name, !result.allowed ? 'limited' : result.store === 'local' && store.kind === 'redis' ? 'fallback' : 'allowed');
      return result;
    } catch (err) {
      if (!(err instanceof RateLimitStoreUnavailable)) throw err;
      metrics.observeRateLimit(limiter.quota.name, 'unavailable');
      throw appError('SERVICE_UNAVAILABLE', 'Sign-in is briefly unavailable; retry shortly.', {
        headers: { 'retry-after': String(STORE_OUTAGE_RETRY_SECONDS) },
        cause: err,
      });
    }
  }

  async function charge(request: FastifyRequest | undefined, ...items: ChargeItem[]): Promise<Charge[]> {
    if (items.length === 1) {
      // The common case (one budget per request), without the bookkeeping below.
      const one = await chargeOne(items[0]!);
      if (request) (request.rateLimitCharges ??= []).push(one);
      if (!one.allowed) throw rateLimited(one, request?.rateLimitCharges ?? [one]);
      return [one];
    }
    const settled = await Promise.allSettled(items.map(chargeOne));
    const charges = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    if (request) (request.rateLimitCharges ??= []).push(...charges);
    const failure = settled.find((s) => s.status === 'rejected');
    const refused = charges.find((c) => !c.allowed);
    if (failure || refused) {
      // What is refused is not done, so it spends nothing: the budgets that did allow it
      // get their points back (a login refused by the anonymous budget keeps its attempt).
      await Promise.all(
        settled.map((s, i) =>
          s.status === 'fulfilled' && s.value.allowed ? items[i]!.limiter.refund(items[i]!.key, items[i]!.points ?? 1, s.value.store) : undefined,
        ),
      );
    }
    if (failure) throw failure.reason;
    if (refused) throw rateLimited(refused, request?.rateLimitCharges ?? charges);
    return charges;
  }
  return { ...limits, unknownBodyBytes: bodyLimitBytes, charge };
}

/**
 * The bytes a request's body is charged, from its headers, before a byte of it is read:
 * its declared length (at most what the server would read of it: an oversized body is
 * drained up to 4 × http.bodyLimitBytes before its 413), a body of unknown length as the
 * largest one accepted, none without a body.
 */
function declaredBodyBytes(request: FastifyRequest, unknown: number): number {
  const declared = request.headers['content-length'];
  if (declared !== undefined) {
    const bytes = Number(declared);
    return Number.isSafeInteger(bytes) && bytes > 0 ? Math.min(bytes, 4 * unknown) : 0;
  }
  return request.headers['transfer-encoding'] !== undefined ? unknown : 0;
}

/** `"name";q=100;w=60, …`: the budgets this response was counted against. */
export function policyHeader(charges: readonly Charge[]): string {
  return charges.map((c) => `"${c.quota.name}";q=${c.quota.points};w=${c.quota.windowSeconds}`).join(', ');
}

/** `"name";r=42;t=17, …`: what is left of each, and seconds until it resets. */
export function stateHeader(charges: readonly Charge[]): string {
  return charges.map((c) => `"${c.quota.name}";r=${c.remaining};t=${resetSeconds(c.resetMs)}`).join(', ');
}

const resetSeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

function rateLimitHeaders(all: readonly Charge[]): Record<string, string> {
  // A budget charged twice for one request (a GraphQL batch: the request, then its other
  // operations) is named once, with what is left after the last charge.
  const charges = all.length === 1 ? all : [...new Map(all.map((c) => [c.quota.name, c])).values()];
  return charges.length === 0 ? {} : { 'ratelimit-policy': policyHeader(charges), ratelimit: stateHeader(charges) };
}

function rateLimited(refused: Charge, charges: readonly Charge[]): AppError {
  const retryAfter = resetSeconds(refused.resetMs);
  return appError('RATE_LIMITED', `Too many requests for the ${refused.quota.name} limit; retry in ${retryAfter} s.`, {
    headers: { ...rateLimitHeaders(charges), 'retry-after': String(retryAfter) },
  });
}

export const userKey = (principal: Principal) => `user:${principal.user.id}`;

/** The key a request's GraphQL points are counted under: the user, else the address. */
export function callerKey(principal: Principal | undefined, address: string): string {
  return principal ? userKey(principal) : addressKey(address);
}

/**
 * Before authentication: anonymous requests in the anonymous budget (and login and register
 * in the auth budget too). Undefined when nothing is charged here.
 */
function chargeBeforeAuthentication(limits: RateLimits, request: FastifyRequest): Promise<unknown> | undefined {
  const strict = request.routeOptions.config?.rateLimit;
  if (strict === 'exempt') return undefined;
  if (request.headers.authorization !== undefined) {
    // Login and register are counted per address whoever sends them: a token does not
    // buy more attempts. Everything else waits for the token to name its user.
    return strict === 'auth-address' ? limits.charge(request, { limiter: limits.auth, key: addressKey(request.clientAddress) }) : undefined;
  }
  const address = addressKey(request.clientAddress);
  return strict
    ? limits.charge(request, { limiter: limits.anonymous, key: address }, { limiter: limits.auth, key: address })
    : limits.charge(request, { limiter: limits.anonymous, key: address });
}

/**
 * After authentication: a request with a token in its user's budget (anonymous when the
 * path takes no token), then its body's bytes. Bodies cost in proportion to their size
 * (parsing, checks, storage, and on the embedded database the server's own thread): charged
 * after authentication, so a user's bytes are its own whatever address it writes from.
 * Refused bodies spend nothing.
 */
async function chargeAfterAuthentication(limits: RateLimits, request: FastifyRequest, signedIn: boolean, bytes: number): Promise<void> {
  if (signedIn) {
    const principal = request.principal;
    // A token on a path that takes none (health, docs) is counted as anonymous.
    const items: ChargeItem[] = [
      principal ? { limiter: limits.user, key: userKey(principal) } : { limiter: limits.anonymous, key: addressKey(request.clientAddress) },
    ];
    if (principal && request.routeOptions.config?.rateLimit === 'auth-user') items.push({ limiter: limits.auth, key: userKey(principal) });
    await limits.charge(request, ...items);
  }
  if (bytes > 0) {
    await limits.charge(request, {
      limiter: limits.bodyBytes,
      key: callerKey(request.principal, request.clientAddress),
      points: bytes,
      refundRefused: true,
    });
  }
}

/**
 * Registers the gateway hooks around authentication: anonymous requests are charged before
 * it (and login and register in the auth budget), signed-in ones right after it. Every
 * charged response carries RateLimit-Policy and RateLimit.
 */
export function registerRateLimits(
  app: App,
  limits: RateLimits,
): { beforeAuthentication: () => void; afterAuthentication: () => void; onRejectedToken: (request: FastifyRequest) => Promise<void> } {
  app.decorateRequest('rateLimitCharges', null);
  app.addHook('onSend', (request, reply, payload, done) => {
    // A refusal sets its own (every budget charged, with Retry-After); keep those.
    if (request.rateLimitCharges && !reply.hasHeader('ratelimit')) reply.headers(rateLimitHeaders(request.rateLimitCharges));
    done(null, payload);
  });
  // Both hooks run on every request: callback hooks, so a request that charges nothing at
  // that point (a signed-in one before authentication, a body-less anonymous one after it)
  // costs no promise.
  return {
    beforeAuthentication() {
      app.addHook('onRequest', (request, _reply, done) => {
        const charged = chargeBeforeAuthentication(limits, request);
        if (charged) charged.then(() => done(), done);
        else done();
      });
    },
    afterAuthentication() {
      app.addHook('onRequest', (request, _reply, done) => {
        if (request.routeOptions.config?.rateLimit === 'exempt') return done();
        const signedIn = request.headers.authorization !== undefined;
        const bytes = declaredBodyBytes(request, limits.unknownBodyBytes);
        if (!signedIn && bytes === 0) return done();
        chargeAfterAuthentication(limits, request, signedIn, bytes).then(() => done(), done);
      });
    },
    // A refused token costs its sender like an anonymous request; past the budget the
    // answer becomes 429 instead of 401.
    async onRejectedToken(request) {
      await limits.charge(request, { limiter: limits.anonymous, key: addressKey(request.clientAddress) });
    },
  };
}
