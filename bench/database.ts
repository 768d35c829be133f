/**
 * Prepares the benchmark database: creates it when missing (through the `postgres`
 * database of the same server) and fills `bench_items` with 10,000 rows, the table the
 * bare PostgreSQL baseline reads. PCF's own tables live beside it; the names don't collide.
 */
import pg from 'pg';

export const BENCH_ITEM_ROWS = 10_000;

function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  if (!name) throw new Error(`The benchmark database URL names no database: ${url}`);
  return name;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function isPgError(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

async function createDatabase(url: string): Promise<void> {
  const name = databaseName(url);
  const adminUrl = new URL(url);
  adminUrl.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${quoteIdent(name)}`);
    console.log(`bench: created database ${name}`);
  } catch (err) {
    if (!isPgError(err, '42P04')) throw err; // 42P04 duplicate_database: someone beat us to it
  } finally {
    await admin.end();
  }
}

/** Opens a small pool on the benchmark database, creating the database first if needed. */
export async function openBenchDatabase(url: string): Promise<pg.Pool> {
  const probe = new pg.Client({ connectionString: url });
  try {
    await probe.connect();
  } catch (err) {
    if (!isPgError(err, '3D000')) {
      // 3D000 invalid_catalog_name: the database doesn't exist. Anything else is fatal.
      throw new Error(`Cannot connect to the benchmark database: ${(err as Error).message}`, { cause: err });
    }
    await createDatabase(url);
  } finally {
    await probe.end().catch(() => undefined);
  }
  return new pg.Pool({ connectionString: url, max: 2 });
}

/** Creates and fills `bench_items` when it is missing or short of rows. */
export async function ensureBenchItems(db: pg.Pool): Promise<void> {
  await db.query(`CREATE TABLE IF NOT EXISTS bench_items (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  )`);
  const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM bench_items');
  const have = Number(rows[0]?.n ?? 0);
  if (have >= BENCH_ITEM_ROWS) return;
  const missing = BENCH_ITEM_ROWS - have;
  await db.query(
    `INSERT INTO bench_items (id, name)
     SELECT gen_random_uuid(), 'item ' || g FROM generate_series(1, $1::int) AS g`,
    [missing],
  );
  await db.query('ANALYZE bench_items');
  console.log(`bench: inserted ${missing} rows into bench_items`);
}

/** Up to `n` existing ids of `bench_items`, spread over the table. */
export async function benchItemIds(db: pg.Pool, n = 1000): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>('SELECT id FROM bench_items ORDER BY random() LIMIT $1', [n]);
  if (rows.length === 0) throw new Error('bench_items is empty');
  return rows.map((r) => r.id);
}
