/**
 * The scenario registry. One entry = one measured load. To add a scenario, append an
 * object to `scenarios` below (see README.md); nothing else needs to change.
 */
import type pg from 'pg';
import { benchItemIds } from './database.js';

/** Which server a scenario loads: the bare baselines or the real PCF server. */
export type ServerTarget = 'bare' | 'pcf';

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
];
