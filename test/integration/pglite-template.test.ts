import assert from 'node:assert/strict';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql, type Kysely } from 'kysely';
import { buildPgliteTemplate, createDatabase, readManifest, type Database } from '../../src/infra/database/index.js';
import { defaultMigrationsDir } from '../../src/infra/database/migrations.js';
import { migrationFiles, pgliteVersion, templateMismatch, type TemplateManifest } from '../../src/infra/database/pglite-template.js';
import { createLogger } from '../../src/infra/telemetry/logger.js';
import { pgliteTemplate } from '../support/template.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The server's first start copies the build's migrated template into an empty data
 * directory instead of initialising it (src/infra/database/pglite-template.ts). What a user
 * relies on: the database they get is the one every migration would have made, and a
 * template older than the migrations still gets the newer ones.
 */
const silent = createLogger({ level: 'silent' });
const tmp = mkdtempSync(join(tmpdir(), 'pcf-template-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Everything a migration can create or change, in a comparable form. */
async function schemaOf(db: Kysely<unknown>) {
  const columns = await sql<Record<string, unknown>>`
    select table_name, column_name, data_type, is_nullable, column_default
    from information_schema.columns where table_schema = 'public'
    order by table_name, column_name`.execute(db);
  const indexes = await sql<Record<string, unknown>>`
    select tablename, indexname, indexdef from pg_indexes where schemaname = 'public' order by tablename, indexname`.execute(db);
  const constraints = await sql<Record<string, unknown>>`
    select c.conrelid::regclass::text as on_table, c.conname, pg_get_constraintdef(c.oid) as definition
    from pg_constraint c join pg_namespace n on n.oid = c.connamespace
    where n.nspname = 'public' order by on_table, c.conname`.execute(db);
  const functions = await sql<Record<string, unknown>>`
    select p.proname, pg_get_functiondef(p.oid) as definition
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'public' order by p.proname`.execute(db);
  const triggers = await sql<Record<string, unknown>>`
    select tgrelid::regclass::text as on_table, tgname from pg_trigger where not tgisinternal order by on_table, tgname`.execute(db);
  const migrations = await sql<{ name: string }>`select name from pcf_migrations order by name`.execute(db);
  return {
    columns: columns.rows,
    indexes: indexes.rows,
    constraints: constraints.rows,
    functions: functions.rows,
    triggers: triggers.rows,
    migrations: migrations.rows.map((r) => r.name),
  };
}

/** A database migrated from scratch by the migrator (the tests' own template). */
async function schemaFromScratch() {
  const database = createDatabase({ kind: 'pglite', dataDir: undefined, loadDataDir: await pgliteTemplate() }, silent);
  try {
    return await schemaOf(database.db as Kysely<unknown>);
  } finally {
    await database.close();
  }
}

/** A server on `dataDir` that may seed it from `template`, as `pcf serve` does. */
function serverOn(dataDir: string, template: string): Promise<TestServer> {
  return startTestServer('pglite', { database: { kind: 'pglite', options: { kind: 'pglite', dataDir, template }, drop: async () => undefined } });
}

const ALL = migrationFiles();
const LATEST = ALL[ALL.length - 1]!.name;

describe('the migrated PGlite template', () => {
  let fromScratch: Awaited<ReturnType<typeof schemaFromScratch>>;
  before(async () => {
    fromScratch = await schemaFromScratch();
    assert.deepEqual(
      fromScratch.migrations,
      ALL.map((m) => m.name),
    );
  });

  describe('built from the current migrations', () => {
    const templateDir = join(tmp, 'current-template');
    let server: TestServer;
    before(async () => {
      assert.equal(await buildPgliteTemplate(silent, templateDir), true);
      server = await serverOn(join(tmp, 'current-data'), templateDir);
    });
    after(() => server?.close());

    it('records the migrations it holds and the PGlite that made it', () => {
      assert.deepEqual(readManifest(templateDir), { pglite: pgliteVersion(), migrations: ALL });
    });

    it('is not rebuilt while it is current', async () => {
      assert.equal(await buildPgliteTemplate(silent, templateDir), false);
    });

    it('gives a first start the schema that every migration makes from scratch', async () => {
      const records = server.logs.records();
      assert.ok(
        records.some((r) => r.msg === 'new embedded database copied from the migrated template'),
        'the data directory was copied from the template',
      );
      assert.ok(!records.some((r) => r.msg === 'migrations applied'), 'no migration ran: the template had them all');
      assert.deepEqual(await schemaOf(server.server.database.db as Kysely<unknown>), fromScratch);
    });

    it('serves: the first account registers', async () => {
      const res = await server.app.inject({
        method: 'POST',
        url: '/api/v1/auth/register',
        payload: { email: 'first@example.com', name: 'First', password: 'a long passphrase' },
      });
      assert.equal(res.statusCode, 201, res.body);
    });

    it('is never copied over a database that exists: a restart keeps the data', async () => {
      await server.close();
      server = await serverOn(join(tmp, 'current-data'), templateDir);
      assert.ok(!server.logs.records().some((r) => r.msg === 'new embedded database copied from the migrated template'));
      const rows = await sql<{ email: string }>`select email from users`.execute(server.server.database.db);
      assert.deepEqual(
        rows.rows.map((r) => r.email),
        ['first@example.com'],
      );
    });
  });

  describe('built from an older set of migrations', () => {
    const templateDir = join(tmp, 'older-template');
    let server: TestServer;
    before(async () => {
      // The template of a build made before the latest migration was written.
      const olderMigrations = join(tmp, 'older-migrations');
      mkdirSync(olderMigrations);
      for (const file of readdirSync(defaultMigrationsDir()).filter((f) => f.endsWith('.sql') && !f.startsWith(LATEST))) {
        copyFileSync(join(defaultMigrationsDir(), file), join(olderMigrations, file));
      }
      assert.equal(await buildPgliteTemplate(silent, templateDir, olderMigrations), true);
      assert.deepEqual(readManifest(templateDir)?.migrations, ALL.slice(0, -1));
      server = await serverOn(join(tmp, 'older-data'), templateDir);
    });
    after(() => server?.close());

    it('is copied, then the migrations newer than it run', async () => {
      const records = server.logs.records();
      assert.ok(records.some((r) => r.msg === 'new embedded database copied from the migrated template'));
      const applied = records.find((r) => r.msg === 'migrations applied');
      assert.deepEqual(applied?.applied, [LATEST]);
      assert.deepEqual(await schemaOf(server.server.database.db as Kysely<unknown>), fromScratch);
    });
  });

  describe('that does not match the migrations', () => {
    const manifest: TemplateManifest = { pglite: pgliteVersion(), migrations: ALL };

    it('is refused when a migration it applied was edited since', () => {
      const edited = ALL.map((m, i) => (i === 1 ? { ...m, sha256: '0'.repeat(64) } : m));
      assert.match(templateMismatch(manifest, edited, pgliteVersion()) ?? '', new RegExp(`${ALL[1]!.name} changed`));
    });

    it('is refused when a migration was inserted before its latest one, or removed', () => {
      const inserted = [...ALL.slice(0, 2), { name: `${ALL[1]!.name}b`, sha256: '1'.repeat(64) }, ...ALL.slice(2)];
      assert.ok(templateMismatch(manifest, inserted, pgliteVersion()));
      assert.ok(templateMismatch(manifest, ALL.slice(0, -1), pgliteVersion()));
    });

    it('is refused when another PGlite release made it, or when there is none', () => {
      assert.match(templateMismatch(manifest, ALL, '0.0.1') ?? '', /PGlite/);
      assert.ok(templateMismatch(undefined, ALL, pgliteVersion()));
    });

    it('is accepted when it holds a prefix of the migrations', () => {
      assert.equal(templateMismatch(manifest, ALL, pgliteVersion()), undefined);
      assert.equal(templateMismatch({ ...manifest, migrations: ALL.slice(0, 3) }, ALL, pgliteVersion()), undefined);
    });

    it('leaves the data directory to be initialised from scratch', async () => {
      // A template whose manifest names a PGlite that is not installed.
      const templateDir = join(tmp, 'current-template');
      const stale = join(tmp, 'stale-template');
      mkdirSync(stale);
      cpSync(templateDir, stale, { recursive: true });
      writeFileSync(join(stale, 'manifest.json'), JSON.stringify({ ...manifest, pglite: '0.0.1' }));
      const dataDir = join(tmp, 'stale-data');
      const database: Database = createDatabase({ kind: 'pglite', dataDir, template: stale }, silent);
      try {
        await database.ping();
        const tables = await sql`select 1 from information_schema.tables where table_name = 'pcf_migrations'`.execute(database.db);
        assert.equal(tables.rows.length, 0, 'a bare, new database: nothing was copied');
      } finally {
        await database.close();
      }
      assert.ok(existsSync(join(dataDir, 'PG_VERSION')));
    });
  });
});
