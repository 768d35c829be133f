/**
 * The scenario registry. One entry = one measured load. To add a scenario, append an
 * object to `scenarios` below (see README.md); nothing else needs to change.
 */
import type pg from 'pg';
import { BARE_OWNERS, BENCH_RESOURCE_ROWS, benchItemIds, truncateBenchWrites } from './database.js';
import { requestJson } from './http.js';
import { BENCH_PASSWORD, login, registerBenchUsers } from './identity.js';
import { LIST_PATH, memberForCreates, memberWithResources, sampleData, seededMember, verifyOwnDocsPage } from './resources.js';

/**
 * Which server a scenario loads: the bare baselines, or one of the PCF servers below (the
 * same build, started with different settings).
 */
export type ServerTarget = 'bare' | PcfTarget;
export type PcfTarget = 'pcf' | 'pcf-nolimit' | 'pcf-redis' | 'pcf-redis-nolimit' | RealtimeTarget;
/** The servers of the real-time (WebSocket) scenarios: the in-process queue, or NATS JetStream. */
export type RealtimeTarget = 'pcf-realtime' | 'pcf-realtime-nats';

/** How a PCF server is started (servers.ts turns this into its environment). */
export interface PcfServerSpec {
  /**
   * Redis (BENCH_REDIS_URL, under a key prefix of the run's own) as the cache and the
   * rate-limit store. Without it the server keeps both in process, unless PCF_REDIS_URL is
   * set in the environment, which is passed through.
   */
  redis: boolean;
  /** The API gateway's rate limiter, on (with budgets no run reaches) or off. */
  rateLimit: boolean;
  /**
   * The queue between instances: `memory` forces the in-process one (PCF_QUEUE_URL empty),
   * `nats` NATS JetStream (BENCH_NATS_URL) with a stream of the run's own. Unset: whatever
   * the environment says (in process unless PCF_QUEUE_URL is set).
   */
  queue?: 'memory' | 'nats';
  /**
   * WebSocket connections per user raised out of reach (the real-time scenarios open
   * thousands of subscribers as one user; the default allows 20).
   */
  manyWebSockets?: boolean;
}

export const PCF_SERVERS: Readonly<Record<PcfTarget, PcfServerSpec>> = {
  pcf: { redis: false, rateLimit: true },
  'pcf-nolimit': { redis: false, rateLimit: false },
  'pcf-redis': { redis: true, rateLimit: true },
  'pcf-redis-nolimit': { redis: true, rateLimit: false },
  'pcf-realtime': { redis: false, rateLimit: true, queue: 'memory', manyWebSockets: true },
  'pcf-realtime-nats': { redis: false, rateLimit: true, queue: 'nats', manyWebSockets: true },
};

/** The order the servers run in (one at a time). */
export const SERVER_TARGETS: readonly ServerTarget[] = ['bare', 'pcf', 'pcf-nolimit', 'pcf-redis', 'pcf-redis-nolimit', 'pcf-realtime', 'pcf-realtime-nats'];

/**
 * Baselines a scenario's throughput is compared to. Each is the name of a `target: 'bare'`
 * scenario; to add one, add a route to bare-server.ts, a scenario below, and its name here.
 */
export type Baseline = 'bare' | 'bare-pg' | 'bare-list' | 'bare-list-type' | 'bare-insert';
export const BASELINES: readonly Baseline[] = ['bare', 'bare-pg', 'bare-list', 'bare-list-type', 'bare-insert'];

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** A row of docs/design.md §6 this scenario is checked against (printed ✓/✗, never fails the run). */
export interface DesignTarget {
  /** Minimum ratio of this scenario's req/s to its `compareTo` baseline's (the median of the rounds' ratios), e.g. 0.8. */
  minRatio?: number;
  /** Highest acceptable p99 latency in ms. */
  maxP99Ms?: number;
  /**
   * Highest acceptable p99 as a multiple of the `compareTo` baseline's p99 measured next to
   * it (the median of the rounds' p99 ratios), e.g. 1.5.
   */
  maxP99ToBaseline?: number;
  /**
   * Highest acceptable p99 as a multiple of another scenario's p99 from the same run (the
   * list at 1M resources against the list at 10k). That scenario must be in `requires`.
   */
  maxP99Relative?: { to: string; ratio: number };
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
  /** Checks the preflight responses instead of the scenario's `verify` (when it needs setup's ids). */
  verify?: (body: string) => string | undefined;
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
  /** The baseline whose req/s this scenario's ratio is judged against, measured next to it in every round. */
  compareTo: Baseline;
  /**
   * More baselines measured next to this scenario in every round, each with its own ratio
   * and, optionally, the least ratio §6 asks for (the list against a list filtered by type alone).
   */
  alsoCompareTo?: { baseline: Baseline; minRatio?: number }[];
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
  /**
   * Not part of a full run: runs only when named (BENCH_ONLY or an argument) or when
   * BENCH_SCALE asks for it. For scenarios that take minutes (seeding 1M rows).
   */
  optIn?: boolean;
  /** Scenarios that run whenever this one does (its design target compares with them), before it. */
  requires?: string[];
  /**
   * Another scenario, on any server, whose req/s this one's is also divided by (shown in
   * the table's `× scenario` column): `health` against `health-no-limit` is the rate
   * limiter's cost. That scenario runs whenever this one does. Informational, never ✓/✗.
   */
  throughputRelativeTo?: string;
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

/** Resources each read scenario's member owns and rotates over (created through the API). */
const READ_RESOURCES = 100;
/** The resources table size of the scale scenario (DESIGN §6: list page p99 at 1M vs 10k). */
export const SCALE_ROWS = 1_000_000;
/** DESIGN §6: p99 of the resource paths at 10 connections, as a multiple of their bare baseline's p99 in the same run. */
const MAX_P99_TO_BASELINE = 1.5;

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
    name: 'bare-list',
    description: `Bare Fastify route doing one SELECT … WHERE type = $1 AND owner_id = $2 ORDER BY id LIMIT 20 on bench_resources (${BENCH_RESOURCE_ROWS.toLocaleString('en-US')} rows spread like resource-list's)`,
    target: 'bare',
    method: 'GET',
    path: `/bare/list?type=doc&ownerId=${BARE_OWNERS[0]}`,
    compareTo: 'bare-list',
    verify: (body) => {
      const items = (JSON.parse(body) as { items?: { owner_id?: unknown; type?: unknown }[] }).items ?? [];
      return items.length === 20 && items.every((i) => i.owner_id === BARE_OWNERS[0] && i.type === 'doc')
        ? undefined
        : `expected 20 docs of ${BARE_OWNERS[0]}, got ${body.slice(0, 300)}`;
    },
  },
  {
    name: 'bare-list-type',
    description: `Bare Fastify route doing one SELECT … WHERE type = $1 ORDER BY id LIMIT 20 on bench_resources: the same page filtered by type alone, no owner condition`,
    target: 'bare',
    method: 'GET',
    path: '/bare/list-type?type=doc',
    compareTo: 'bare-list-type',
    verify: (body) => {
      const items = (JSON.parse(body) as { items?: { type?: unknown }[] }).items ?? [];
      return items.length === 20 && items.every((i) => i.type === 'doc') ? undefined : `expected 20 docs, got ${body.slice(0, 300)}`;
    },
  },
  {
    name: 'bare-insert',
    description: 'Bare Fastify route doing one single-row INSERT … RETURNING into bench_writes (autocommit), the same JSON body as resource-create',
    target: 'bare',
    method: 'POST',
    path: '/bare/insert',
    body: { name: 'Bench doc', type: 'doc', data: sampleData(1) },
    compareTo: 'bare-insert',
    setup: async ({ db }) => {
      await truncateBenchWrites(db);
      return { teardown: () => truncateBenchWrites(db) };
    },
    verify: (body) => (typeof (JSON.parse(body) as { id?: unknown }).id === 'string' ? undefined : `expected the inserted row, got ${body.slice(0, 300)}`),
  },
  {
    name: 'health',
    description: "PCF liveness, GET /health: PCF's HTTP stack (hooks, request id, logging, the rate limiter with its in-process store) without a database",
    target: 'pcf',
    method: 'GET',
    path: '/health',
    compareTo: 'bare',
    throughputRelativeTo: 'health-no-limit',
  },
  {
    name: 'health-no-limit',
    description: 'As health, with the rate limiter switched off (PCF_RATE_LIMIT_ENABLED=false): the reference for its cost with the in-process store',
    target: 'pcf-nolimit',
    method: 'GET',
    path: '/health',
    compareTo: 'bare',
  },
  {
    name: 'health-redis',
    description: 'As health, with Redis as the rate-limit store (and cache): one rate-limiter-flexible Lua call to Redis per request',
    target: 'pcf-redis',
    method: 'GET',
    path: '/health',
    compareTo: 'bare',
    throughputRelativeTo: 'health-redis-no-limit',
  },
  {
    name: 'health-redis-no-limit',
    description: 'As health-redis, with the rate limiter switched off: the reference for its cost with the Redis store',
    target: 'pcf-redis-nolimit',
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
      return parsed.data?.__typename === 'Query' && !parsed.errors ? undefined : `expected {"data":{"__typename":"Query"}}, got ${body.slice(0, 300)}`;
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
  {
    name: 'resource-get',
    description: `PCF GET /api/v1/resources/{id} as a member reading its own resources (${READ_RESOURCES}, rotating): authentication, the {"ownerId": "\${user.id}"} condition, the resource with its current data (from PCF's resource cache when warm)`,
    target: 'pcf',
    method: 'GET',
    path: '/api/v1/resources/:id',
    compareTo: 'bare-pg',
    designTarget: { minRatio: 0.8, maxP99ToBaseline: MAX_P99_TO_BASELINE },
    setup: async (ctx) => {
      const member = await memberWithResources(ctx, 'resource-get', READ_RESOURCES);
      const ids = new Set(member.ids);
      return {
        headers: member.headers,
        paths: member.ids.map((id) => `/api/v1/resources/${id}`),
        teardown: member.teardown,
        verify: (body) => {
          const r = JSON.parse(body) as { id?: string; ownerId?: unknown; version?: unknown; data?: { title?: unknown } };
          return r.id && ids.has(r.id) && r.ownerId === member.user.id && r.version === 1 && typeof r.data?.title === 'string'
            ? undefined
            : `expected one of the member's resources with its data, got ${body.slice(0, 300)}`;
        },
      };
    },
  },
  {
    name: 'graphql-resource',
    description: `PCF POST /graphql { resource(id) { id name version data } } as a member reading its own resources (${READ_RESOURCES}, rotating)`,
    target: 'pcf',
    method: 'POST',
    path: '/graphql',
    compareTo: 'bare-pg',
    designTarget: { minRatio: 0.6, maxP99ToBaseline: MAX_P99_TO_BASELINE },
    setup: async (ctx) => {
      const member = await memberWithResources(ctx, 'graphql-resource', READ_RESOURCES);
      const ids = new Set(member.ids);
      const query = 'query Resource($id: ID!) { resource(id: $id) { id name version data } }';
      return {
        headers: member.headers,
        bodies: member.ids.map((id) => ({ query, variables: { id } })),
        teardown: member.teardown,
        verify: (body) => {
          const parsed = JSON.parse(body) as { data?: { resource?: { id?: string; version?: unknown; data?: { title?: unknown } } }; errors?: unknown };
          const r = parsed.data?.resource;
          return !parsed.errors && r?.id && ids.has(r.id) && r.version === 1 && typeof r.data?.title === 'string'
            ? undefined
            : `expected {"data":{"resource":{…}}} for one of the member's resources, got ${body.slice(0, 300)}`;
        },
      };
    },
  },
  {
    name: 'resource-list',
    description:
      `PCF GET ${LIST_PATH} as a member owning 1 in 5 of ${BENCH_RESOURCE_ROWS.toLocaleString('en-US')} seeded resources (4 types, 5 owners): ` +
      'the permission condition compiled into the SELECT, the first page of its own docs',
    target: 'pcf',
    method: 'GET',
    path: LIST_PATH,
    compareTo: 'bare-list',
    alsoCompareTo: [{ baseline: 'bare-list-type', minRatio: 0.5 }],
    designTarget: { minRatio: 0.8, maxP99ToBaseline: MAX_P99_TO_BASELINE },
    setup: async (ctx) => {
      const seeded = await seededMember(ctx, 'resource-list', BENCH_RESOURCE_ROWS);
      return { ...seeded, verify: verifyOwnDocsPage(seeded.user.id) };
    },
  },
  {
    name: 'resource-create',
    description: 'PCF POST /api/v1/resources as a member: the resource, version 1 and the outbox event in one transaction',
    target: 'pcf',
    method: 'POST',
    path: '/api/v1/resources',
    body: { name: 'Bench doc', type: 'doc', data: sampleData(1) },
    compareTo: 'bare-insert',
    designTarget: { minRatio: 0.5, maxP99ToBaseline: MAX_P99_TO_BASELINE },
    setup: async (ctx) => {
      const member = await memberForCreates(ctx, 'resource-create');
      return {
        headers: member.headers,
        teardown: member.teardown,
        verify: (body) => {
          const r = JSON.parse(body) as { id?: unknown; ownerId?: unknown; version?: unknown };
          return typeof r.id === 'string' && r.ownerId === member.user.id && r.version === 1
            ? undefined
            : `expected the created resource at version 1, got ${body.slice(0, 300)}`;
        },
      };
    },
  },
  {
    name: 'resource-list-1m',
    description:
      `As resource-list, with ${SCALE_ROWS.toLocaleString('en-US')} resources seeded the same way: ` +
      'keyset pages must cost the same however large the table (opt-in: BENCH_SCALE=1m or name it)',
    target: 'pcf',
    method: 'GET',
    path: LIST_PATH,
    compareTo: 'bare-list',
    designTarget: { maxP99Relative: { to: 'resource-list', ratio: 1.5 } },
    optIn: true,
    requires: ['resource-list'],
    setup: async (ctx) => {
      const seeded = await seededMember(ctx, 'resource-list-1m', SCALE_ROWS);
      return { ...seeded, verify: verifyOwnDocsPage(seeded.user.id) };
    },
  },
];

/**
 * A real-time scenario: WebSocket subscribers of `resourceChanged` on a PCF server, measured
 * by bench/realtime.ts rather than autocannon. Selected by name like the others, or all of
 * them with the group name `realtime`.
 */
export interface RealtimeScenario {
  name: string;
  /** One line for the README and the JSON results. */
  description: string;
  target: RealtimeTarget;
  /**
   * `fanout`: `subscribers` connections watch one resource while sequential PATCHes change
   * it; each event's delivery time to each subscriber is measured. `idle`: BENCH_WS_IDLE
   * subscribed connections sit idle while the server's RSS is read.
   */
  kind: 'fanout' | 'idle';
  /** Fan-out: the number of subscribers. */
  subscribers?: number;
  /** DESIGN §6: highest acceptable p99 of mutation → subscriber, in ms. */
  designTarget?: { maxP99Ms: number };
  /** Shown in the target column when there is no `designTarget`. */
  note?: string;
  /** Not part of a full run (nor of the `realtime` group): runs only when named. */
  optIn?: boolean;
}

/** The name that selects every real-time scenario that is not opt-in. */
export const REALTIME_GROUP = 'realtime';
/** DESIGN §6: mutation → WebSocket subscriber, 1,000 subscribers, p99 ≤ 50 ms. */
const FANOUT_P99_MS = 50;
const FANOUT_TARGET_SUBSCRIBERS = 1_000;

function fanout(subscribers: number, target: RealtimeTarget): RealtimeScenario {
  const nats = target === 'pcf-realtime-nats';
  return {
    name: `ws-fanout-${subscribers}${nats ? '-nats' : ''}`,
    description:
      `${subscribers.toLocaleString('en-US')} WebSocket subscriber(s) of resourceChanged(id) on one resource; sequential PATCH /api/v1/resources/{id}, ` +
      `each event's time from just before the PATCH to its arrival at every subscriber (${nats ? 'NATS JetStream queue' : 'in-process queue'})`,
    target,
    kind: 'fanout',
    subscribers,
    ...(subscribers === FANOUT_TARGET_SUBSCRIBERS
      ? { designTarget: { maxP99Ms: FANOUT_P99_MS } }
      : { note: `none (§6 sets p99 ≤ ${FANOUT_P99_MS} ms at ${FANOUT_TARGET_SUBSCRIBERS.toLocaleString('en-US')})` }),
  };
}

export const realtimeScenarios: RealtimeScenario[] = [
  {
    name: 'ws-idle',
    description:
      'BENCH_WS_IDLE idle WebSocket connections, each with one resourceChanged subscription: the server RSS before and after, ' +
      'bytes per idle subscription, and how many would fit in 1 GB of RSS',
    target: 'pcf-realtime',
    kind: 'idle',
    note: 'none in §6 (informational)',
  },
  fanout(1, 'pcf-realtime'),
  fanout(100, 'pcf-realtime'),
  fanout(1_000, 'pcf-realtime'),
  fanout(1, 'pcf-realtime-nats'),
  fanout(100, 'pcf-realtime-nats'),
  fanout(1_000, 'pcf-realtime-nats'),
];
