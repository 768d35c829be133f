import type { Config } from '../core/config/index.js';
import { isDataDirInUse } from '../infra/database/data-dir-lock.js';
import { databaseOptionsFrom, type DatabaseOptions } from '../infra/database/options.js';
import { openPGlite } from '../infra/database/pglite-open.js';
import { createLogger, moduleLogger } from '../infra/telemetry/logger.js';
import { EXIT_DATA_DIR_IN_USE } from './options.js';
import { err } from './output.js';

/**
 * Runs the server until SIGTERM or SIGINT: drain, close, exit 0. A fatal error is logged
 * before the process exits non-zero.
 */
export async function serve(config: Config, warnings: string[]): Promise<void> {
  const root = createLogger({ level: config.logLevel });
  const log = moduleLogger(root, 'server');
  for (const warning of warnings) log.warn(warning);

  const fatal = (error: unknown, what: string) => {
    // Another process owns the embedded data: not a crash, so one plain line, and its own code.
    if (isDataDirInUse(error)) {
      log.fatal({ dataDir: error.dataDir, holder: error.holder }, error.message);
      err(`pcf serve: ${error.message}`);
      process.exit(EXIT_DATA_DIR_IN_USE);
    }
    log.fatal({ err: error }, what);
    process.exit(1);
  };
  process.on('uncaughtException', (err) => fatal(err, 'uncaught exception'));
  process.on('unhandledRejection', (err) => fatal(err, 'unhandled promise rejection'));

  let database: DatabaseOptions = databaseOptionsFrom(config, { seed: true });
  if (database.kind === 'pglite') {
    // PGlite's WASM compiles on V8's background threads while the server's modules load
    // below: the embedded start overlaps the two instead of paying for both in turn.
    try {
      database = { ...database, opening: openPGlite(database, moduleLogger(root, 'database')) };
    } catch (err) {
      fatal(err, 'start-up failed');
    }
  }
  const { createServer } = await import('../server.js');
  const server = await createServer(config, root, { database });
  let signalled = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (signalled) return;
      signalled = true;
      log.info({ signal }, 'signal received');
      // The drain is bounded; closing pools and caches after it should take moments. If
      // something hangs anyway, leave rather than outlive the orchestrator's grace period.
      setTimeout(() => {
        log.error('shutdown did not finish in time; exiting');
        process.exit(1);
      }, config.shutdown.drainTimeoutMs + SHUTDOWN_GRACE_MS).unref();
      server.stop().then(
        () => process.exit(0),
        (err) => fatal(err, 'shutdown failed'),
      );
    });
  }
  server.ready.catch((err) => {
    if (server.phase() !== 'stopping') fatal(err, 'start-up failed');
  });
  try {
    await server.start();
  } catch (err) {
    if (server.phase() !== 'stopping') fatal(err, 'start-up failed');
  }
}

/** Time allowed after the drain for closing connections before the process gives up. */
const SHUTDOWN_GRACE_MS = 10_000;
