/** What the in-process CPU benchmarks (graphql-cpu, list-cpu) share. */
import { Writable } from 'node:stream';
import { loadConfig } from '../src/core/config/index.js';
import { createLogger } from '../src/infra/telemetry/logger.js';
import { createServer, type Server } from '../src/server.js';
import { BENCH_RATE_LIMIT } from './rate-limit.js';

const silent = new Writable({ write: (_chunk, _encoding, done) => done() });

/**
 * A PCF server in this process, as the load scenarios configure it (rate limiter on, budgets
 * no run reaches), logging nowhere: on PostgreSQL at `databaseUrl`, else on an in-memory PGlite.
 */
export async function startInProcess(databaseUrl?: string): Promise<Server> {
  const b = BENCH_RATE_LIMIT;
  const flags = {
    host: '127.0.0.1',
    port: 0,
    logLevel: 'warn',
    ...(databaseUrl ? { 'database.url': databaseUrl } : {}),
    'rateLimit.enabled': true,
    'rateLimit.windowSeconds': b.windowSeconds,
    'rateLimit.anonymousPerWindow': b.anonymousPerWindow,
    'rateLimit.userPerWindow': b.userPerWindow,
    'rateLimit.authPerWindow': b.authPerWindow,
    'rateLimit.graphqlPointsPerWindow': b.graphqlPointsPerWindow,
    'rateLimit.bodyBytesPerWindow': b.bodyBytesPerWindow,
  };
  const { config } = loadConfig({ flags });
  const logger = createLogger({ level: 'warn', destination: silent });
  const server = await createServer(config, logger, databaseUrl ? {} : { database: { kind: 'pglite', dataDir: undefined } });
  await server.start();
  await server.ready;
  return server;
}

/** The body of a 2xx answer; anything else stops the benchmark, naming the step. */
export async function expectOk(response: Promise<{ statusCode: number; body: string }>, what: string): Promise<string> {
  const r = await response;
  if (r.statusCode < 200 || r.statusCode > 299) throw new Error(`${what}: ${r.statusCode} ${r.body.slice(0, 300)}`);
  return r.body;
}

/** Microseconds of CPU (user + system) per request over `requests` sequential requests. */
export async function cpuPerRequest(send: () => Promise<unknown>, requests: number): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < requests; i++) await send();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / requests;
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
