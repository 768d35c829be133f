import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Config } from '../../core/config/index.js';
import type { Logger } from '../telemetry/logger.js';
import { lockDataDir } from './data-dir-lock.js';
import { PGliteDialect } from './pglite-dialect.js';
import type { Tables } from './tables.js';
import { TranslatingDialect } from './translating-dialect.js';

export type { Tables } from './tables.js';
export { translateDbError, violatedConstraint } from './errors.js';
export { DataDirInUseError, isDataDirInUse } from './data-dir-lock.js';
export { migrateUp, migrateDown, migrationStatus, type MigrationStatus } from './migrations.js';

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
    };

/** PostgreSQL when a URL is configured, else the embedded PGlite under dataDir. */
export function databaseOptionsFrom(config: Config): DatabaseOptions {
  return config.database.url
    ? {
        kind: 'postgres',
        url: config.database.url,
        poolMax: config.database.poolMax,
        connectTimeoutMs: config.database.connectTimeoutMs,
        statementTimeoutMs: config.database.statementTimeoutMs,
      }
    : { kind: 'pglite', dataDir: config.dataDir };
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
  return options.kind === 'postgres' ? createPostgres(options, logger) : createPGlite(options);
}

function createPostgres(options: Extract<DatabaseOptions, { kind: 'postgres' }>, logger: Logger): Database {
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

function createPGlite(options: Extract<DatabaseOptions, { kind: 'pglite' }>): Database {
  // Taken before PGlite reads a file of the directory, released once it is closed.
  let unlock: (() => void) | undefined;
  const dialect = new PGliteDialect(async () => {
    if (options.dataDir) {
      mkdirSync(options.dataDir, { recursive: true });
      unlock = lockDataDir(options.dataDir);
    }
    try {
      return await PGlite.create({
        ...(options.dataDir ? { dataDir: options.dataDir } : {}),
        ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
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

function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}
