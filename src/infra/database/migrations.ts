import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Migrator, sql, type Kysely, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import { defaultMigrationsDir } from './migrations-dir.js';

export { defaultMigrationsDir } from './migrations-dir.js';

// Migrations run before the schema they create exists, so they take a database of any shape.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

/**
 * Migrations are plain SQL files, `migrations/NNNN_name.sql`, each with a `-- migrate:up`
 * and a `-- migrate:down` section, so a review reads exactly what runs in production.
 * Kysely's Migrator applies them in name order inside a transaction, under a lock row, so
 * several instances starting at once apply each migration exactly once.
 */
const UP = /^--\s*migrate:up\s*$/m;
const DOWN = /^--\s*migrate:down\s*$/m;

/** Splits one migration file into its up and down SQL. */
export function parseMigrationFile(name: string, text: string): { up: string; down: string } {
  const up = UP.exec(text);
  const down = DOWN.exec(text);
  if (!up || !down || down.index < up.index) {
    throw new Error(`Migration ${name} needs a "-- migrate:up" section followed by a "-- migrate:down" section`);
  }
  return { up: text.slice(up.index + up[0].length, down.index).trim(), down: text.slice(down.index + down[0].length).trim() };
}

export class SqlFileMigrationProvider implements MigrationProvider {
  readonly #dir: string;
  constructor(dir: string = defaultMigrationsDir()) {
    this.#dir = dir;
  }
  async getMigrations(): Promise<Record<string, Migration>> {
    const migrations: Record<string, Migration> = {};
    for (const file of readdirSync(this.#dir)
      .filter((f) => f.endsWith('.sql'))
      .sort()) {
      const name = file.slice(0, -'.sql'.length);
      const { up, down } = parseMigrationFile(file, readFileSync(join(this.#dir, file), 'utf8'));
      // sql.raw without parameters goes through the simple protocol: several statements at
      // once. The statement timeout that guards requests must not cut a long index build
      // short; SET LOCAL lasts only for the migration's transaction.
      migrations[name] = {
        up: async (db) => void (await sql.raw(`SET LOCAL statement_timeout = 0;\n${up}`).execute(db)),
        down: async (db) => void (await sql.raw(`SET LOCAL statement_timeout = 0;\n${down}`).execute(db)),
      };
    }
    return migrations;
  }
}

function migrator(db: AnyDb, dir?: string): Migrator {
  return new Migrator({
    db,
    provider: new SqlFileMigrationProvider(dir),
    migrationTableName: 'pcf_migrations',
    migrationLockTableName: 'pcf_migrations_lock',
  });
}

export interface MigrationStatus {
  name: string;
  executedAt: Date | undefined;
}

function unwrapResult(set: MigrationResultSet): string[] {
  if (set.error) throw set.error;
  return (set.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Applies every pending migration; returns the names applied. */
export async function migrateUp(db: AnyDb, dir?: string): Promise<string[]> {
  if (await isUpToDate(db, dir)) return [];
  return unwrapResult(await migrator(db, dir).migrateToLatest());
}

/**
 * Every start migrates, and nearly always finds nothing to do: two small reads say so, where
 * the Migrator would introspect the catalog and take its lock row (a tenth of PGlite's restart).
 * Anything but an exact match of the applied and the known migrations goes to the Migrator,
 * which applies what is pending or reports what does not add up.
 */
async function isUpToDate(db: AnyDb, dir = defaultMigrationsDir()): Promise<boolean> {
  const table = await sql<{ present: boolean }>`select to_regclass('pcf_migrations') is not null as present`.execute(db);
  if (!table.rows[0]?.present) return false;
  const applied = await sql<{ name: string }>`select name from pcf_migrations`.execute(db);
  const known = readdirSync(dir).filter((f) => f.endsWith('.sql'));
  const names = new Set(applied.rows.map((r) => r.name));
  return names.size === known.length && known.every((f) => names.has(f.slice(0, -'.sql'.length)));
}

/** Reverts the latest applied migration; returns its name (empty when none was applied). */
export async function migrateDown(db: AnyDb, dir?: string): Promise<string[]> {
  return unwrapResult(await migrator(db, dir).migrateDown());
}

/** Every known migration and when it was applied (undefined = pending). */
export async function migrationStatus(db: AnyDb, dir?: string): Promise<MigrationStatus[]> {
  const list = await migrator(db, dir).getMigrations();
  return list.map((m) => ({ name: m.name, executedAt: m.executedAt }));
}
