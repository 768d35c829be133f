import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDatabase, migrateUp, type DatabaseOptions } from '../../src/infra/database/index.js';
import { createLogger } from '../../src/infra/telemetry/logger.js';
import { migrationsHash, pgliteTemplate } from './template.js';

/**
 * The databases integration and API tests run against: PGlite always, PostgreSQL too when
 * PCF_TEST_DATABASE_URL is set. Each call gives a database of its own, migrated, so test
 * files never see each other's rows.
 */
export interface TestDatabase {
  kind: 'pglite' | 'postgres';
  options: DatabaseOptions;
  /** Drops what was created for this database. */
  drop(): Promise<void>;
}

export const TEST_DATABASE_URL = process.env.PCF_TEST_DATABASE_URL;
export const TEST_REDIS_URL = process.env.PCF_TEST_REDIS_URL;

export const DATABASE_KINDS: readonly ('pglite' | 'postgres')[] = TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

export async function createTestDatabase(kind: 'pglite' | 'postgres'): Promise<TestDatabase> {
  if (kind === 'pglite') {
    return { kind, options: { kind: 'pglite', dataDir: undefined, loadDataDir: await pgliteTemplate() }, drop: async () => undefined };
  }
  if (!TEST_DATABASE_URL) throw new Error('PCF_TEST_DATABASE_URL is not set');
  const template = await ensurePostgresTemplate(TEST_DATABASE_URL);
  const name = `pcf_test_${randomBytes(6).toString('hex')}`;
  await withAdmin(TEST_DATABASE_URL, (c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${template}`));
  return {
    kind,
    options: { kind: 'postgres', url: urlFor(TEST_DATABASE_URL, name), poolMax: 5, connectTimeoutMs: 5000, statementTimeoutMs: 30_000 },
    drop: () => withAdmin(TEST_DATABASE_URL, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

export function urlFor(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${database}`;
  return url.toString();
}

async function withAdmin<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A migrated template database per migration set; parallel test files build it once. */
async function ensurePostgresTemplate(url: string): Promise<string> {
  const template = `pcf_test_template_${migrationsHash()}`;
  await withAdmin(url, async (client) => {
    await client.query("SELECT pg_advisory_lock(hashtext('pcf-test-template'))");
    try {
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
      if (rowCount) return;
      await client.query(`CREATE DATABASE ${template}`);
      const database = createDatabase(
        { kind: 'postgres', url: urlFor(url, template), poolMax: 1, connectTimeoutMs: 5000, statementTimeoutMs: 0 },
        createLogger({ level: 'silent' }),
      );
      try {
        await migrateUp(database.db);
      } catch (err) {
        await database.close();
        await client.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
        throw err;
      }
      await database.close();
    } finally {
      await client.query("SELECT pg_advisory_unlock(hashtext('pcf-test-template'))");
    }
  });
  return template;
}
