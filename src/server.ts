import { Server as NetServer } from 'node:net';
import type { Duplex } from 'node:stream';
import type { App } from './api/app.js';
import { createRateLimits } from './api/gateway/rate-limit.js';
import { buildApp } from './api/http.js';
import { backoffDelay, sleep } from './core/backoff.js';
import { formatRoles, instanceRolesOf, runsAllRoles, type Config } from './core/config/index.js';
import { isAppError } from './core/errors.js';
import { packageInfo, type ServerInfo } from './core/package.js';
import { createCache, type Cache } from './infra/cache/index.js';
import {
  createDatabase,
  databaseOptionsFrom,
  migrateUp,
  migrationStatus,
  postgresWakeups,
  type Database,
  type DatabaseOptions,
} from './infra/database/index.js';
import { createMailer } from './infra/mail/index.js';
import { openQueue, type Queue } from './infra/queue/index.js';
import { createRateLimitStore } from './infra/rate-limit/index.js';
import { moduleLogger, requestLogger, type Logger } from './infra/telemetry/logger.js';
import { createMetrics } from './infra/telemetry/metrics.js';
import { HealthService, type HealthCheck, type LifecyclePhase } from './services/health/health.service.js';
import { createResources } from './wiring/resources.js';
import { Outbox } from './services/shared/outbox.js';
import { EventPipeline } from './wiring/event-pipeline.js';
import { createIdentity } from './wiring/identity.js';
import { createNotifications } from './wiring/notifications.js';
import { createRealtime } from './wiring/realtime.js';

/**
 * The composition root: builds every adapter from the configuration, wires them into the
 * services and the HTTP app, and runs the instance's life (start, connect, drain, stop).
 */
/** How long connections accepted just before a stop get for their request to be read. */
const ACCEPTED_SETTLE_MS = 100;

export interface Server {
  readonly app: App;
  readonly database: Database;
  readonly cache: Cache;
  /** The outbox → queue → consumers flow; started once the database is ready. */
  readonly events: EventPipeline;
  phase(): LifecyclePhase;
  /** Listens, then connects to the database in the background (retrying with backoff). */
  start(): Promise<string>;
  /** Resolves once the database is connected and migrated and the API serves. */
  readonly ready: Promise<void>;
  /** Stops accepting, drains in-flight requests (bounded), closes every connection. */
  stop(): Promise<void>;
}

export interface ServerOverrides {
  /** Use these database options instead of the ones derived from config (tests; `pcf serve` passes an open under way). */
  database?: DatabaseOptions;
  /** Open the message queue this way instead of from `queue.url` (tests). */
  openQueue?: () => Promise<Queue>;
}

export async function createServer(config: Config, rootLogger: Logger, overrides: ServerOverrides = {}): Promise<Server> {
  const log = moduleLogger(rootLogger, 'server');
  const roles = instanceRolesOf(config);
  const dbOptions = overrides.database ?? databaseOptionsFrom(config, { seed: true });
  const database = createDatabase(dbOptions, moduleLogger(rootLogger, 'database'));
  const cache = createCache(
    { redisUrl: config.redis.url, keyPrefix: config.redis.keyPrefix, maxEntries: config.cache.maxEntries, defaultTtlMs: config.cache.defaultTtlMs },
    rootLogger,
  );
  const metrics = createMetrics({
    poolStats: () => database.poolStats(),
    liveSubscriptions: () => realtime.live.size,
    compiledAbilities: () => identity.grants.compiledAbilities,
  });
  const mailer = createMailer({ smtpUrl: config.mail.smtpUrl, from: config.mail.from }, moduleLogger(rootLogger, 'mail'));
  const outbox = new Outbox();

  let phase: LifecyclePhase = 'starting';
  const serves = roles.has('api') || roles.has('auth');
  const checks: HealthCheck[] = [{ name: 'database', critical: true, check: () => database.ping() }];
  // Without its cache an instance that serves requests still answers, only slower: degraded,
  // not down. A worker alone reads through no cache worth checking.
  if (serves) checks.push({ name: 'cache', critical: false, check: () => cache.ping() });
  // An instance that serves still does without its queue (events wait in the outbox, live
  // feeds pause); a worker alone without it has nothing to do, so it is not ready.
  checks.push({ name: 'queue', critical: !serves, check: () => events.ping() });
  const health = new HealthService({ timeoutMs: config.health.checkTimeoutMs, phase: () => phase, checks, roles: [...roles] });
  const server: ServerInfo = { name: 'PCF API', version: packageInfo().version, profile: config.profile };
  const identity = createIdentity({ database, cache, auth: config.auth, quotas: config.quotas, logger: rootLogger, outbox });
  // A split deployment is warned about by the configuration's own rules (core/config/instance-roles.ts).
  if (database.kind === 'postgres' && cache.kind === 'memory' && runsAllRoles(roles)) {
    log.warn('no shared cache (PCF_REDIS_URL): sessions are cached for 1 s per instance so revocations reach every instance');
  }
  const resources = createResources({ database, cache, identity, config, logger: rootLogger });
  const notifications = createNotifications({ database, work: identity.work, mailer, config, logger: rootLogger });
  const realtime = createRealtime({ database, resources, notifications });
  const eventsLog = moduleLogger(rootLogger, 'events');
  const events = new EventPipeline({
    config,
    roles,
    database,
    // Commits reach a relay in another process: only PostgreSQL is shared by several.
    wakeups: dbOptions.kind === 'postgres' ? postgresWakeups(database.db, dbOptions.url, eventsLog) : undefined,
    openQueue: overrides.openQueue ?? (() => openQueue({ url: config.queue.url, name: config.queue.name, retentionMs: config.queue.retentionMs }, eventsLog)),
    outbox,
    notifications,
    live: realtime.live,
    resources,
    grants: identity.grants,
    mailer,
    log: eventsLog,
  });
  // Its own Redis connection: a slow cache must not hold up the gate every request passes.
  const rateLimitStore = config.rateLimit.enabled
    ? createRateLimitStore({ redisUrl: config.redis.url, keyPrefix: config.redis.keyPrefix, timeoutMs: config.rateLimit.redisTimeoutMs }, rootLogger)
    : undefined;
  const rateLimits = rateLimitStore && createRateLimits(rateLimitStore, config.rateLimit, metrics, config.http.bodyLimitBytes);
  const app = await buildApp({
    config,
    roles,
    logger: moduleLogger(rootLogger, 'http'),
    requestLogger,
    metrics,
    health,
    phase: () => phase,
    server,
    identity,
    resources,
    notifications,
    realtime,
    rateLimits,
  });

  // Sockets handed over by an upgrade request leave the HTTP server's bookkeeping, so
  // closeAllConnections() cannot end them; one still open (a WebSocket handshake answered with
  // an error while stopping, which the client never closed) would hold the stop forever.
  // Only the api role serves WebSockets: elsewhere an 'upgrade' listener would take upgrade
  // requests away from the HTTP server and leave them unanswered.
  const upgradedSockets = new Set<Duplex>();
  if (roles.has('api')) {
    app.server.on('upgrade', (_request: unknown, socket: Duplex) => {
      upgradedSockets.add(socket);
      socket.once('close', () => upgradedSockets.delete(socket));
    });
  }

  const stopping = new AbortController();
  let markReady!: () => void;
  let markFailed!: (err: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    markFailed = reject;
  });
  // A caller that never awaits `ready` must not see an unhandled rejection.
  ready.catch(() => undefined);

  async function connect(): Promise<void> {
    for (let attempt = 1; !stopping.signal.aborted; attempt++) {
      try {
        await database.ping();
        if (config.database.autoMigrate) {
          const applied = await migrateUp(database.db);
          if (applied.length > 0) log.info({ applied }, 'migrations applied');
        } else {
          // Migrations are someone else's job (a Job before the rollout): until they have run,
          // this code would meet a schema older than it expects, so it stays unready and waits.
          const pending = (await migrationStatus(database.db)).filter((m) => !m.executedAt).map((m) => m.name);
          if (pending.length > 0) {
            const delayMs = backoffDelay(attempt, { initialMs: config.database.retryInitialMs, maxMs: config.database.retryMaxMs });
            const line = { pending, delayMs };
            if (attempt === 1) log.warn(line, 'migrations pending (database.autoMigrate is off): not ready until they are applied');
            else log.debug(line, 'migrations still pending');
            await sleep(delayMs, stopping.signal);
            continue;
          }
        }
        if (stopping.signal.aborted) return;
        phase = 'running';
        events.start();
        log.info({ database: database.kind, attempt, roles: formatRoles(roles) }, 'database connected; serving');
        markReady();
        return;
      } catch (err) {
        // Failures caused by the shutdown itself (a pool being closed) are not failures.
        if (stopping.signal.aborted) return;
        // Only an unreachable database, or a wait that timed out (another instance holding
        // the migration lock), is worth retrying; anything else (a failing migration, a
        // corrupt data directory) will not fix itself.
        if (!isAppError(err) || (err.code !== 'SERVICE_UNAVAILABLE' && err.code !== 'TIMEOUT')) throw err;
        const delayMs = backoffDelay(attempt, { initialMs: config.database.retryInitialMs, maxMs: config.database.retryMaxMs });
        log.warn({ attempt, delayMs, database: database.kind }, 'database unreachable; retrying');
        await sleep(delayMs, stopping.signal);
      }
    }
  }

  let stopped: Promise<void> | undefined;
  async function stop(): Promise<void> {
    phase = 'stopping';
    stopping.abort();
    log.info({ drainTimeoutMs: config.shutdown.drainTimeoutMs }, 'shutting down: draining in-flight requests');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), config.shutdown.drainTimeoutMs);
      timer.unref();
    });
    // Stop accepting first, without what http.Server.close() also does: close the connections
    // with no request under way. One accepted a moment ago counts as such until its request is
    // read, and closing it would reset a request a proxy has already sent, and may not resend
    // (a POST). Those get a moment to be read; then the usual close ends the idle ones.
    NetServer.prototype.close.call(app.server);
    await sleep(ACCEPTED_SETTLE_MS);
    const closed = app.close().then(() => 'closed' as const);
    if ((await Promise.race([closed, deadline])) === 'timeout') {
      log.warn('drain timed out; closing remaining connections');
      app.server.closeAllConnections();
      for (const socket of upgradedSockets) socket.destroy();
      await closed;
    }
    clearTimeout(timer);
    // Events committed but not yet relayed stay in the outbox for the next instance.
    await events.stop();
    await Promise.allSettled([database.close(), cache.close(), rateLimitStore?.close(), mailer.close()]);
    log.info('stopped');
  }

  return {
    app,
    database,
    cache,
    events,
    ready,
    phase: () => phase,
    async start() {
      // PGlite opens inside this thread (blocking WASM: half a second, several seconds for a
      // new data directory without the build's template), so it opens before the port does: a probe meanwhile is refused at once
      // instead of hanging unanswered.
      if (database.kind === 'pglite') {
        log.info({ dataDir: dbOptions.kind === 'pglite' ? (dbOptions.dataDir ?? 'in memory') : undefined }, 'opening the embedded database');
        await database.ping();
      }
      // A signal that arrived while the database opened: do not start listening at all.
      if (stopping.signal.aborted) return '';
      const address = await app.listen({ host: config.host, port: config.port });
      log.info({ address, roles: formatRoles(roles), profile: config.profile, database: database.kind, cache: cache.kind }, 'listening');
      connect().catch((err) => markFailed(err));
      return address;
    },
    stop: () => (stopped ??= stop()),
  };
}
