import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../../core/package.js';
import { LOCK_FILE } from './data-dir-lock.js';
import { defaultMigrationsDir } from './migrations-dir.js';

/**
 * A new embedded database costs PGlite's initdb plus every migration: seconds of blocking
 * WASM and most of a gigabyte of memory. The build does that once and keeps the resulting
 * data directory (closed cleanly) as a template; a server whose data directory is empty copies
 * it instead, then migrates as usual, so only the migrations newer than the template run.
 *
 * The template is used only when it provably holds a prefix of the current migrations: every
 * migration it applied exists now with the same content, in the same order, and it was made
 * by the PGlite that will open it. Otherwise the data directory is initialised from scratch,
 * so an outdated template costs time, never a skipped or edited migration.
 */
export interface TemplateManifest {
  /** The PGlite release that wrote the files (its on-disk format must match the reader's). */
  pglite: string;
  /** The migrations applied to the template, in order, with a hash of each file. */
  migrations: MigrationFile[];
}

export interface MigrationFile {
  name: string;
  sha256: string;
}

const MANIFEST = 'manifest.json';
const DATA = 'data';
/** Written last on a copy: PGlite takes a directory holding it for an initialised database. */
const PG_VERSION = 'PG_VERSION';

/** Where the build puts the template: `dist/pglite-template/` at the package root. */
export function defaultTemplateDir(): string {
  return join(packageRoot(), 'dist', 'pglite-template');
}

/** The migration files of `dir` in the order they apply, each with the hash of its content. */
export function migrationFiles(dir: string = defaultMigrationsDir()): MigrationFile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((file) => ({
      name: file.slice(0, -'.sql'.length),
      sha256: createHash('sha256')
        .update(readFileSync(join(dir, file)))
        .digest('hex'),
    }));
}

/** The installed PGlite's version, read from its package.json (which it does not export). */
export function pgliteVersion(): string {
  const entry = fileURLToPath(import.meta.resolve('@electric-sql/pglite'));
  let dir = dirname(entry);
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${entry}`);
    dir = parent;
  }
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

export function readManifest(templateDir: string): TemplateManifest | undefined {
  try {
    return JSON.parse(readFileSync(join(templateDir, MANIFEST), 'utf8')) as TemplateManifest;
  } catch {
    return undefined;
  }
}

/**
 * Why `manifest` cannot seed a database for `current` migrations under this PGlite, or
 * undefined when it can.
 */
export function templateMismatch(manifest: TemplateManifest | undefined, current: MigrationFile[], pglite: string): string | undefined {
  if (!manifest) return 'no template (run npm run build)';
  if (manifest.pglite !== pglite) return `the template was made by PGlite ${manifest.pglite}, this is ${pglite}`;
  if (manifest.migrations.length > current.length) return 'the template holds migrations that no longer exist';
  for (const [i, m] of manifest.migrations.entries()) {
    const now = current[i]!;
    if (now.name !== m.name) return `the template applied ${m.name} where the migrations now have ${now.name}`;
    if (now.sha256 !== m.sha256) return `migration ${m.name} changed after the template was made`;
  }
  return undefined;
}

/** True when `dataDir` holds no initialised database (PGlite would run initdb on it). */
export function isUninitialised(dataDir: string): boolean {
  return !existsSync(join(dataDir, PG_VERSION));
}

/**
 * Copies the template into `dataDir` (which exists, is locked by this process and holds no
 * database). PG_VERSION comes last: a copy cut short leaves a directory PGlite still takes
 * for uninitialised, and the next start copies again over it.
 */
export function seedFromTemplate(dataDir: string, templateDir: string): void {
  const source = join(templateDir, DATA);
  for (const entry of readdirSync(source)) {
    if (entry === PG_VERSION || entry === LOCK_FILE) continue;
    cpSync(join(source, entry), join(dataDir, entry), { recursive: true, force: true });
  }
  copyFileSync(join(source, PG_VERSION), join(dataDir, PG_VERSION));
}

/**
 * Builds the template under `templateDir` unless the one there already matches the
 * migrations and PGlite. `migrate` initialises and migrates a database in the directory it
 * is given, then closes it. Returns whether it built one.
 */
export async function buildTemplate(templateDir: string, migrate: (dataDir: string) => Promise<void>, migrationsDir?: string): Promise<boolean> {
  const current = migrationFiles(migrationsDir);
  const pglite = pgliteVersion();
  const existing = readManifest(templateDir);
  if (existing && existing.migrations.length === current.length && !templateMismatch(existing, current, pglite)) return false;
  // Built beside its final place and renamed into it: a build cut short leaves no template
  // that a server would take for complete.
  const staging = `${templateDir}.${process.pid}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  try {
    await migrate(join(staging, DATA));
    rmSync(join(staging, DATA, LOCK_FILE), { force: true });
    const manifest: TemplateManifest = { pglite, migrations: current };
    writeFileSync(join(staging, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    rmSync(templateDir, { recursive: true, force: true });
    renameSync(staging, templateDir);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return true;
}
