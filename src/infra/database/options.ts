import type { Config } from '../../core/config/index.js';
import type { PGlite } from '@electric-sql/pglite';
import { defaultTemplateDir } from './pglite-template.js';

export type DatabaseOptions =
  | {
      kind: 'postgres';
      url: string;
      poolMax: number;
      connectTimeoutMs: number;
      statementTimeoutMs: number;
      /** Marked statements run as named prepared statements (see prepared.ts); on unless false. */
      preparedStatements?: boolean;
    }
  | PGliteOptions;

export interface PGliteOptions {
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
  /**
   * An open of these options already under way (`openPGlite`): `pcf serve` starts PGlite
   * before it loads the server's modules. Without it the first query opens the database.
   */
  opening?: PGliteOpening;
}

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
        preparedStatements: config.database.preparedStatements,
      }
    : { kind: 'pglite', dataDir: config.dataDir, ...(seed && config.database.autoMigrate ? { template: defaultTemplateDir() } : {}) };
}

/** An embedded database being opened (`openPGlite`): its data directory locked, PGlite starting. */
export interface PGliteOpening {
  /** Settles once PGlite is ready (or failed to open; the lock is then released). */
  readonly pglite: Promise<PGlite>;
  /** Releases the data directory's lock: once PGlite is closed. Idempotent. */
  unlock(): void;
}
