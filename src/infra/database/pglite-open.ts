import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import type { Logger } from '../telemetry/logger.js';
import { lockDataDir } from './data-dir-lock.js';
import { INT8_OID, parseInt8 } from './int8.js';
import type { PGliteOpening, PGliteOptions } from './options.js';
import { isUninitialised, migrationFiles, pgliteVersion, readManifest, seedFromTemplate, templateMismatch } from './pglite-template.js';

/**
 * PostgreSQL's default of 128 MB of shared buffers is memory PGlite really touches at start
 * (a third of its footprint) and spends time initialising; the embedded database is small and
 * its files stay in the OS page cache, so 16 MB serves it as well.
 */
const PGLITE_START_PARAMS = [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'];

/**
 * Opening PGlite is mostly compiling and starting its WASM; it needs neither Kysely nor the
 * server, so this module loads only PGlite, and `pcf serve` can start the open first and load
 * the rest of the server meanwhile (the compilation runs on V8's background threads).
 *
 * Locks the data directory (throwing DataDirInUseError at once when another process holds
 * it), seeds an empty one from the template, then starts PGlite on it. The lock comes before
 * PGlite reads any file of the directory.
 */
export function openPGlite(options: PGliteOptions, logger: Logger): PGliteOpening {
  let unlock = () => {};
  if (options.dataDir) {
    mkdirSync(options.dataDir, { recursive: true });
    unlock = lockDataDir(options.dataDir);
  }
  const pglite = (async () => {
    if (options.dataDir && options.template && isUninitialised(options.dataDir)) seedIfMatching(options.dataDir, options.template, logger);
    return PGlite.create({
      ...(options.dataDir ? { dataDir: options.dataDir } : {}),
      ...(options.loadDataDir ? { loadDataDir: options.loadDataDir } : {}),
      startParams: PGLITE_START_PARAMS,
      parsers: { [INT8_OID]: parseInt8 },
    });
  })();
  pglite.catch(() => unlock());
  return { pglite, unlock: () => unlock() };
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
