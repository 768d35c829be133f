import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/core/package.js';
import { createDatabase, migrateUp } from '../../src/infra/database/index.js';
import { createLogger } from '../../src/infra/telemetry/logger.js';

/**
 * A fresh PGlite costs ~5 s and ~750 MB to initialise; loading a dumped data directory
 * costs under 1 s. Tests therefore start from one migrated template per migration set,
 * kept under .cache/ and rebuilt when a migration file changes.
 */
export function migrationsHash(): string {
  const dir = join(packageRoot(), 'migrations');
  const hash = createHash('sha256');
  for (const file of readdirSync(dir).sort()) hash.update(file).update(readFileSync(join(dir, file)));
  return hash.digest('hex').slice(0, 16);
}

function templatePath(): string {
  return join(packageRoot(), '.cache', `pglite-template-${migrationsHash()}.tar`);
}

export async function buildPgliteTemplate(): Promise<string> {
  const path = templatePath();
  if (existsSync(path)) return path;
  const database = createDatabase({ kind: 'pglite', dataDir: undefined }, createLogger({ level: 'silent' }));
  try {
    await migrateUp(database.db);
    const blob = await database.snapshot!();
    mkdirSync(join(packageRoot(), '.cache'), { recursive: true });
    // Written under a temporary name first: a parallel test file never reads half a file.
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, Buffer.from(await blob.arrayBuffer()));
    renameSync(tmp, path);
  } finally {
    await database.close();
  }
  return path;
}

/** The migrated template as a Blob for PGlite's `loadDataDir`. */
export async function pgliteTemplate(): Promise<Blob> {
  return new Blob([readFileSync(await buildPgliteTemplate())]);
}
