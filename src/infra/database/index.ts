import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type PgModule from 'pg';
import type { Config } from '../../core/config/index.js';
import type { Logger } from '../telemetry/logger.js';
import { lockDataDir } from './data-dir-lock.js';
import { migrateUp } from './migrations.js';
import { PGliteDialect } from './pglite-dialect.js';
import {
  buildTemplate,
  defaultTemplateDir,
  isUninitialised,
  migrationFiles,
  pgliteVersion,
  readManifest,
  seedFromTemplate,
  templateMismatch,
} from './pglite-template.js';
import type { Tables } from './tables.js';
import { TranslatingDialect } from './translating-dialect.js';

export type { Tables } from './tables.js';
export { translateDbError, violatedConstraint } from './errors.js';
export { DataDirInUseError, isDataDirInUse } from './data-dir-lock.js';
export { migrateUp, migrateDown, migrationStatus, type MigrationStatus } from './migrations.js';
export { defaultTemplateDir, readManifest, type TemplateManifest } from './pglite-template.js';

export type DatabaseOptions =
  | {
      kind: 'postgres';
      url: string;
      poolMax: number;
      connectTimeoutMs: number;
      statementTimeoutMs: number;
    }
  | {
      kind: 'pglite';
      /** Directory of the data; undefined keeps everything in memory. */
      dataDir: string | undefined;
      /** A dumped data directory to start from (tests clone a migrated template this way). */
      loadDataDir?: Blob;
      /**
       * A migrated template (see pglite-template.ts) to copy into an empty dataDir instead of
       * initialising it: the server's first start. Used only when it matches the migrations.
       */
      template?: string;
    };

/**
 * PostgreSQL when a URL is configured, else the embedded PGlite under dataDir. `seed` lets an
 * empty data directory start from the build's migrated template; only when migrations run
 * at start-up anyway (an operator who migrates by hand sees every migration applied).
 */
export function databaseOptionsFrom(config: Config, { seed = false }: { seed?: boolean } = {}): DatabaseOptions {
  return config.database.url
    ? {
        kind: 'postgres',
        url: config.database.url,
        poolMax: config.database.poolMax,
        connectTimeoutMs: config.database.connectTimeoutMs,
        statementTimeoutMs: config.database.statementTimeoutMs,
      }
    : { kind: 'pglite', dataDir: config.dataDir, ...(seed && config.database.autoMigrate ? { template: defaultTemplateDir() } : {}) };
}

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

// int8 (count(*), sums) arrives as a string from node-postgres and a bigint from PGlite.
// Every int8 this schema produces is a count far below 2^53, so both become a number.
const INT8_OID = 20;
const parseInt8 = (value: string) => Number(value);

/**
 * Creates the database handle without connecting: the first query (or `ping`) connects, so
 * start-up can retry an unreachable database while the server already answers health checks.
 * Every driver error surfaces as a contract error (see `errors.ts`).
 */
export function createDatabase(options: DatabaseOptions, logger: Logger): Database {
  return options.kind === 'postgres' ? createPostgres(options, logger) : createPGlite(options, logger);
}

// The PostgreSQL driver loads only when PostgreSQL is configured: the embedded start skips it.
const loadPg = () => createRequire(import.meta.url)('pg') as typeof PgModule;

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
  const db = new Kysely<Tables>({ dialect: new TranslatingDialect(new PostgresDialect({ pool })) });
  return {
    kind: 'postgres',
    db,
    ping: async () => void (await sql`select 1`.execute(db)),
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: once(() => db.destroy()),
  };
}

/**
 * PostgreSQL's default of 128 MB of shared buffers is memory PGlite really touches at start
 * (a third of its footprint) and spends time initialising; the embedded database is small and
 * its files stay in the OS page cache, so 16 MB serves it as well.
 */
const PGLITE_START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];

function createPGlite(options: Extract<DatabaseOptions, { kind: 'pglite' }>, logger: Logger): Database {
  // Taken before PGlite reads a file of the directory, released once it is closed.
  let unlock: (() => void) | undefined;
  const dialect = new PGliteDialect(async () => {
    if (options.dataDir) {
      mkdirSync(options.dataDir, { recursive: true });
      unlock = lockDataDir(options.dataDir);
    }
    try {
      if (options.dataDir && options.template && isUninitialised(options.dataDir)) seedIfMatching(options.dataDir, options.template, logger);
      return await PGlite.create({
        ...(options.dataDir ? { dataDir: options.dataDir } : {}),
        ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
        startParams: PGLITE_START_PARAMS,
        parsers: { [INT8_OID]: parseInt8 },
      });
    } catch (err) {
      unlock?.();
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
      } finally {
        unlock?.();
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

function seedIfMatching(dataDir: string, templateDir: string, logger: Logger): void {
  const manifest = readManifest(templateDir);
  const mismatch = templateMismatch(manifest, migrationFiles(), pgliteVersion());
  if (mismatch) {
    logger.info({ dataDir, reason: mismatch }, 'initialising a new embedded database from scratch');
    return;
  }
  seedFromTemplate(dataDir, templateDir);
  logger.info({ dataDir, migrations: manifest!.migrations.length }, 'new embedded database copied from the migrated template');
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}
