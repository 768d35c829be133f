import { Kysely, PostgresDialect, sql } from 'kysely';
import type { Logger } from '../telemetry/logger.js';
import { INT8_OID, parseInt8 } from './int8.js';
import { migrateUp } from './migrations.js';
import type { DatabaseOptions, PGliteOptions } from './options.js';
import { PGliteDialect } from './pglite-dialect.js';
import { openPGlite } from './pglite-open.js';
import { buildTemplate, defaultTemplateDir } from './pglite-template.js';
import type { Tables } from './tables.js';
import { preparingPool } from './prepared.js';
import { TranslatingDialect } from './translating-dialect.js';
import { loadPg } from './pg-driver.js';

export type { Tables } from './tables.js';
export { translateDbError, violatedConstraint } from './errors.js';
export { DataDirInUseError, isDataDirInUse } from './data-dir-lock.js';
export { migrateUp, migrateDown, migrationStatus, type MigrationStatus } from './migrations.js';
export { defaultTemplateDir, readManifest, type TemplateManifest } from './pglite-template.js';
export { databaseOptionsFrom, type DatabaseOptions, type PGliteOpening, type PGliteOptions } from './options.js';
export { openPGlite } from './pglite-open.js';
export { prepared } from './prepared.js';
export { postgresWakeups, type Wakeups } from './wakeups.js';

export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

/** The primary database: a typed query builder plus what operations need to watch it. */
export interface Database {
  readonly kind: 'postgres' | 'pglite';
  readonly db: Kysely<Tables>;
  /** Resolves when one round trip succeeds; rejects otherwise. */
  ping(): Promise<void>;
  poolStats(): PoolStats;
  /** PGlite only: a copy of the data directory (tests clone a migrated template from it). */
  snapshot?(): Promise<Blob>;
  close(): Promise<void>;
}

/**
 * Creates the database handle without connecting: the first query (or `ping`) connects, so
 * start-up can retry an unreachable database while the server already answers health checks.
 * Every driver error surfaces as a contract error (see `errors.ts`).
 */
export function createDatabase(options: DatabaseOptions, logger: Logger): Database {
  return options.kind === 'postgres' ? createPostgres(options, logger) : createPGlite(options, logger);
}

function createPostgres(options: Extract<DatabaseOptions, { kind: 'postgres' }>, logger: Logger): Database {
  const pg = loadPg();
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolMax,
    connectionTimeoutMillis: options.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    application_name: 'pcf-api',
    ...(options.statementTimeoutMs > 0 ? { statement_timeout: options.statementTimeoutMs } : {}),
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client losing its connection emits 'error' on the pool; unhandled, it would
  // crash the process. The pool replaces the client on the next checkout.
  pool.on('error', (err) => logger.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'idle database connection failed'));
  const db = new Kysely<Tables>({
    dialect: new TranslatingDialect(new PostgresDialect({ pool: options.preparedStatements === false ? pool : preparingPool(pool) })),
  });
  return {
    kind: 'postgres',
    db,
    ping: async () => void (await sql`select 1`.execute(db)),
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: once(() => db.destroy()),
  };
}

function createPGlite(options: PGliteOptions, logger: Logger): Database {
  // Opened on first use unless `pcf serve` began the open already.
  let opening = options.opening;
  const dialect = new PGliteDialect(async () => {
    opening ??= openPGlite(options, logger);
    try {
      return await opening.pglite;
    } catch (err) {
      // Its lock is released; the next attempt opens afresh.
      opening = undefined;
      throw err;
    }
  });
  const db = new Kysely<Tables>({ dialect: new TranslatingDialect(dialect) });
  return {
    kind: 'pglite',
    db,
    ping: async () => void (await sql`select 1`.execute(db)),
    // One in-process backend: a pool of exactly one connection.
    poolStats: () => {
      const { busy, waiting } = dialect.stats();
      return { total: dialect.pglite ? 1 : 0, idle: dialect.pglite && !busy ? 1 : 0, waiting };
    },
    snapshot: async () => {
      await sql`checkpoint`.execute(db);
      return dialect.pglite!.dumpDataDir('none');
    },
    close: once(async () => {
      try {
        await db.destroy();
        // An open begun beforehand that no query ever used: Kysely never saw that PGlite.
        if (opening && !dialect.pglite)
          await opening.pglite.then(
            (pglite) => pglite.close(),
            () => undefined,
          );
      } finally {
        opening?.unlock();
      }
    }),
  };
}

/**
 * Builds the migrated template the server's first start copies (`npm run build` does this),
 * unless the one in `templateDir` is current. Returns whether it built one.
 */
export async function buildPgliteTemplate(logger: Logger, templateDir: string = defaultTemplateDir(), migrationsDir?: string): Promise<boolean> {
  return buildTemplate(
    templateDir,
    async (dataDir) => {
      const database = createDatabase({ kind: 'pglite', dataDir }, logger);
      try {
        await migrateUp(database.db, migrationsDir);
      } finally {
        await database.close();
      }
    },
    migrationsDir,
  );
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}
