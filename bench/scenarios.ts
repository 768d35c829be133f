/**
 * The scenario registry. One entry = one measured load. To add a scenario, append an
 * object to `scenarios` below (see README.md); nothing else needs to change.
 */
import type pg from 'pg';
import { benchItemIds } from './database.js';
import { requestJson } from './http.js';
import { BENCH_PASSWORD, login, registerBenchUsers } from './identity.js';

/**
 * Which server a scenario loads: the bare baselines, the real PCF server with whatever
 * cache the environment gives it (in-process unless PCF_REDIS_URL is set), or the real PCF
 * server with Redis as its cache (BENCH_REDIS_URL, under a key prefix of its own).
 */
export type ServerTarget = 'bare' | 'pcf' | 'pcf-redis';
/** The order the servers run in (one at a time). */
export const SERVER_TARGETS: readonly ServerTarget[] = ['bare', 'pcf', 'pcf-redis'];

/**
 * Baselines a scenario's throughput is compared to. Each is the name of a `target: 'bare'`
 * scenario; to add one (e.g. a bare `SELECT … LIMIT 20`), add a route to bare-server.ts,
 * a scenario below, and its name here.
 */
export type Baseline = 'bare' | 'bare-pg';
export const BASELINES: readonly Baseline[] = ['bare', 'bare-pg'];

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A row of DESIGN.md §6 this scenario is checked against (printed ✓/✗, never fails the run). */
export interface DesignTarget {
  /** Minimum ratio of this scenario's req/s to its `compareTo` baseline's, e.g. 0.5. */
  minRatio: number;
  /** Highest acceptable p99 latency in ms, where §6 sets one. */
  maxP99Ms?: number;
}

export interface SetupContext {
  /** Base URL of the server this scenario loads (PCF's or the bare server's), no trailing slash. */
  baseUrl: string;
  /** A small pool on the benchmark database (the same database PCF runs on). */
  db: pg.Pool;
}

/** What a setup hook may return; every field is optional. */
export interface SetupResult {
  /** Extra headers for every request (e.g. `authorization: Bearer …`). */
  headers?: Record<string, string>;
  /** Paths to rotate through instead of `path` (e.g. one per existing record). */
  paths?: string[];
  /** Bodies to rotate through instead of `body` (strings are sent as-is, objects as JSON). */
  bodies?: (string | object)[];
  /** Runs after the scenario, whether it passed or failed (e.g. delete the accounts it made). */
  teardown?: () => Promise<void>;
}

export interface Scenario {
  name: string;
  /** One line for the README and the JSON results. */
  description: string;
  target: ServerTarget;
  method: HttpMethod;
  path: string;
  /** A string is sent as-is; an object is sent as JSON with `content-type: application/json`. */
  body?: string | object;
  headers?: Record<string, string>;
  /** The baseline whose req/s this scenario's ratio is judged against. */
  compareTo: Baseline;
  designTarget?: DesignTarget;
  /**
   * Runs once before the scenario's warm-up, with its server already up: create data,
   * log in, pick ids. Its result is merged into the requests.
   */
  setup?: (ctx: SetupContext) => Promise<SetupResult | void>;
  /**
   * Checks one response before the load starts (status is already known to be 2xx):
   * return a message to fail the scenario, or undefined when the body is right.
   */
  verify?: (body: string) => string | undefined;
  /** Replace `[<id>]` in bodies with a unique id on every request (autocannon's idReplacement). */
  idReplacement?: boolean;
  /**
   * Concurrent connections for this scenario, instead of BENCH_CONNECTIONS. For paths whose
   * throughput is bounded by something other than the server's event loop (argon2's thread
   * pool), where more connections would only lengthen the queue.
   */
  connections?: number;
  /** Upper bounds on BENCH_WARMUP and BENCH_DURATION for this scenario, in seconds. */
  maxWarmupS?: number;
  maxDurationS?: number;
  /** Shown in the target column when there is no `designTarget`: why there is none. */
  note?: string;
}

/** Accounts the login scenario rotates over, so sessions don't all pile onto one user. */
const LOGIN_USERS = 10;

/** One account, logged in once, its session warmed with a few requests. */
async function authMeSetup(ctx: SetupContext, scenario: string): Promise<SetupResult> {
  const { users, remove } = await registerBenchUsers(ctx, scenario, 1);
  try {
    const headers = { authorization: `Bearer ${await login(ctx.baseUrl, users[0]!.email)}` };
    for (let i = 0; i < 5; i++) await requestJson(ctx.baseUrl, 'GET', '/api/v1/auth/me', undefined, headers);
    return { headers, teardown: remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** A bench account with the member role (see identity.ts) and its permissions. */
function verifyMe(body: string): string | undefined {
  const parsed = JSON.parse(body) as { user?: { email?: unknown }; roles?: { name?: unknown }[]; permissions?: unknown[] };
  const ok =
    typeof parsed.user?.email === 'string' &&
    parsed.user.email.startsWith('pcf-bench-') &&
    Array.isArray(parsed.roles) &&
    parsed.roles.some((r) => r.name === 'member') &&
    Array.isArray(parsed.permissions) &&
    parsed.permissions.length > 0;
  return ok ? undefined : `expected a member: {"user":{"email":"pcf-bench-…"},"roles":[{"name":"member"}],"permissions":[…]}, got ${body.slice(0, 300)}`;
}

export const scenarios: Scenario[] = [
  {
    name: 'bare',
    description: 'Bare Fastify route returning a small JSON object (no I/O): the ceiling of this machine',
    target: 'bare',
    method: 'GET',
    path: '/bare',
    compareTo: 'bare',
  },
  {
    name: 'bare-pg',
    description: 'Bare Fastify route doing one SELECT by primary key through pg (Pool, max 10), rotating over 1,000 ids',
    target: 'bare',
    method: 'GET',
    path: '/bare/pg/:id',
    compareTo: 'bare-pg',
    setup: async ({ db }) => ({ paths: (await benchItemIds(db, 1000)).map((id) => `/bare/pg/${id}`) }),
    verify: (body) => (JSON.parse(body).id ? undefined : `expected a bench_items row, got ${body.slice(0, 200)}`),
  },
  {
    name: 'health',
    description: "PCF liveness, GET /health: PCF's HTTP stack (hooks, request id, logging) without a database",
    target: 'pcf',
    method: 'GET',
    path: '/health',
    compareTo: 'bare',
  },
  {
    name: 'graphql-typename',
    description: 'PCF POST /graphql { __typename }: parse, validate and execute the smallest GraphQL operation',
    target: 'pcf',
    method: 'POST',
    path: '/graphql',
    body: { query: '{ __typename }' },
    compareTo: 'bare',
    verify: (body) => {
      const parsed = JSON.parse(body) as { data?: { __typename?: unknown }; errors?: unknown };
      return parsed.data?.__typename === 'Query' && !parsed.errors
        ? undefined
        : `expected {"data":{"__typename":"Query"}}, got ${body.slice(0, 300)}`;
    },
  },
  {
    name: 'auth-me',
    description:
      'PCF GET /api/v1/auth/me with a warm session and the in-process cache: bearer token → session → grants → JSON. ' +
      'On PostgreSQL without Redis the cache keeps entries 1 s, so one session and grants lookup per second',
    target: 'pcf',
    method: 'GET',
    path: '/api/v1/auth/me',
    compareTo: 'bare-pg',
    note: 'none in §6 (informational)',
    setup: (ctx) => authMeSetup(ctx, 'auth-me'),
    verify: verifyMe,
  },
  {
    name: 'auth-login',
    description: `PCF POST /api/v1/auth/login with correct credentials, rotating over ${LOGIN_USERS} accounts: one argon2id verification and one session INSERT each`,
    target: 'pcf',
    method: 'POST',
    path: '/api/v1/auth/login',
    compareTo: 'bare-pg',
    // argon2 runs on the libuv thread pool (4 threads unless UV_THREADPOOL_SIZE says
    // otherwise): one connection per thread keeps it busy without a queue in front of it.
    connections: 4,
    maxWarmupS: 1,
    maxDurationS: 5,
    note: 'none (informational): bounded by argon2id',
    setup: async (ctx) => {
      const { users, remove } = await registerBenchUsers(ctx, 'auth-login', LOGIN_USERS);
      return { bodies: users.map((u) => ({ email: u.email, password: BENCH_PASSWORD })), teardown: remove };
    },
    verify: (body) => {
      const parsed = JSON.parse(body) as { token?: unknown; user?: { id?: unknown } };
      return typeof parsed.token === 'string' && parsed.token.length > 0 && typeof parsed.user?.id === 'string'
        ? undefined
        : `expected {"token":…,"user":{…}}, got ${body.slice(0, 300)}`;
    },
  },
  {
    name: 'auth-me-redis',
    description: 'PCF GET /api/v1/auth/me with a warm session and Redis as the cache (as in production): two Redis GETs per request (session, then grants)',
    target: 'pcf-redis',
    method: 'GET',
    path: '/api/v1/auth/me',
    compareTo: 'bare-pg',
    note: 'none in §6 (informational)',
    setup: (ctx) => authMeSetup(ctx, 'auth-me-redis'),
    verify: verifyMe,
  },
];
