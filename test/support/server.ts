import { loadConfig } from '../../src/core/config/index.js';
import { createLogger } from '../../src/infra/telemetry/logger.js';
import { createServer, type Server, type ServerOverrides } from '../../src/server.js';
import { createTestDatabase, type TestDatabase } from './databases.js';
import { captureLogs } from './logs.js';

export interface TestServer {
  server: Server;
  app: Server['app'];
  /** Base URL of the listening server, e.g. http://127.0.0.1:41234 */
  url: string;
  logs: ReturnType<typeof captureLogs>;
  database: TestDatabase;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** Config values by path, as flags would give them (e.g. `{ 'graphql.maxDepth': 5 }`). */
  config?: Record<string, unknown>;
  /** Add routes or hooks before the server starts (the app is not ready yet). */
  beforeStart?: (app: Server['app'], server: Server) => void | Promise<void>;
  /** Resolve as soon as the server listens, without waiting for the database. */
  noWait?: boolean;
  database?: TestDatabase;
  /** How the server opens its message queue (default: from `queue.url`). */
  openQueue?: ServerOverrides['openQueue'];
}

/**
 * Every test talks from 127.0.0.1, many times a second: the limiter runs (headers and all)
 * with budgets no test reaches. The gateway tests set their own.
 */
export const GENEROUS_LIMITS = {
  'rateLimit.anonymousPerWindow': 100_000_000,
  'rateLimit.userPerWindow': 100_000_000,
  'rateLimit.authPerWindow': 100_000_000,
  'rateLimit.graphqlPointsPerWindow': 1_000_000_000,
  'rateLimit.bodyBytesPerWindow': 1_000_000_000_000,
};

/**
 * A real server on a loopback port, with its own database and a log capture. Tests talk to
 * it through `app.inject()` or over real sockets (`url`).
 */
export async function startTestServer(kind: 'pglite' | 'postgres', options: TestServerOptions = {}): Promise<TestServer> {
  const database = options.database ?? (await createTestDatabase(kind));
  const { config } = loadConfig({ flags: { host: '127.0.0.1', port: 0, logLevel: 'info', ...GENEROUS_LIMITS, ...options.config } });
  const logs = captureLogs();
  const server = await createServer(config, createLogger({ level: config.logLevel, destination: logs.stream }), {
    database: database.options,
    openQueue: options.openQueue,
  });
  await options.beforeStart?.(server.app, server);
  const url = await server.start();
  if (!options.noWait) await server.ready;
  return {
    server,
    app: server.app,
    url,
    logs,
    database,
    close: async () => {
      await server.stop();
      await database.drop();
    },
  };
}
