/**
 * Prepares the benchmark database: creates it when missing (through the `postgres`
 * database of the same server) and the tables of the bare baselines: `bench_items`
 * (10,000 rows, read by primary key), `bench_resources` (10,000 rows shaped and spread like
 * the `resources` the list scenario reads) and `bench_writes` (the single-row INSERT).
 * PCF's own tables live beside them; the names don't collide.
 *
 * It also holds the SQL that seeds resource rows in bulk (`seedResourceRows`), shared by the
 * bare list table and the PCF list scenarios, so both read the same distribution.
 */
import pg from 'pg';

export const BENCH_ITEM_ROWS = 10_000;
/** Rows of `bench_resources`, the same as the `resource-list` scenario seeds into `resources`. */
export const BENCH_RESOURCE_ROWS = 10_000;

/**
 * How seeded resources are spread: row g is owned by owners[g % owners] and has type
 * types[g % types]. With 5 owners and 4 types (coprime) the first owner's docs are every
 * 20th row, evenly interleaved with the other owners' docs and its own other types.
 */
export const SEED_TYPES: readonly string[] = ['doc', 'note', 'image', 'sheet'];
export const SEED_OWNER_COUNT = 5;
/** The owners of `bench_resources` (no users table behind them); the first is the one listed. */
export const BARE_OWNERS: readonly string[] = Array.from({ length: SEED_OWNER_COUNT }, (_, i) => `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`);

export function databaseName(url: string): string {
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

/**
 * Creates `bench_resources` (the columns and indexes of PCF's `resources`, without the
 * foreign key) filled like the `resource-list` scenario's data, and `bench_writes` for the
 * bare INSERT. Refills `bench_resources` when its row count is off, so it is the same in
 * every run.
 */
export async function ensureBareResourceTables(db: pg.Pool): Promise<void> {
  await db.query(`CREATE TABLE IF NOT EXISTS bench_resources (
    id         uuid        PRIMARY KEY,
    owner_id   uuid        NOT NULL,
    name       text        NOT NULL,
    type       text        NOT NULL,
    metadata   jsonb       NOT NULL DEFAULT '{}',
    version    integer     NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
  )`);
  await db.query('CREATE INDEX IF NOT EXISTS bench_resources_owner_id_id_idx ON bench_resources (owner_id, id)');
  await db.query('CREATE INDEX IF NOT EXISTS bench_resources_type_id_idx ON bench_resources (type, id)');
  await db.query(`CREATE TABLE IF NOT EXISTS bench_writes (
    id         uuid        PRIMARY KEY,
    owner_id   uuid        NOT NULL,
    name       text        NOT NULL,
    type       text        NOT NULL,
    metadata   jsonb       NOT NULL DEFAULT '{}',
    data       jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  )`);
  const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM bench_resources');
  if (Number(rows[0]?.n ?? 0) === BENCH_RESOURCE_ROWS) return;
  await db.query('TRUNCATE bench_resources');
  await seedResourceRows(db, { table: 'bench_resources', owners: BARE_OWNERS, rows: BENCH_RESOURCE_ROWS });
  await db.query('VACUUM ANALYZE bench_resources');
  console.error(`bench: filled bench_resources with ${BENCH_RESOURCE_ROWS} rows`);
}

/** Empties `bench_writes`, the table the bare INSERT fills. */
export async function truncateBenchWrites(db: pg.Pool): Promise<void> {
  await db.query('TRUNCATE bench_writes');
}

export interface SeedOptions {
  /** `resources` (PCF's; `versions` then names `resource_versions`) or `bench_resources`. */
  table: 'resources' | 'bench_resources';
  /** Also insert version 1 of each row into this table (PCF's GET by id joins it). */
  versions?: 'resource_versions';
  owners: readonly string[];
  rows: number;
  /** Rows per INSERT statement: bounds each statement's memory and gives progress lines. */
  chunk?: number;
  /** Called after each chunk with the rows inserted so far. */
  progress?: (done: number) => void;
}

/**
 * Inserts `rows` resources straight into PostgreSQL with `INSERT … SELECT FROM
 * generate_series` (≈ 50,000 rows/s with their versions on 2 cores). PostgreSQL 15 has no
 * UUIDv7 function, so ids are built like one: 48 bits of milliseconds, version nibble 7,
 * then the random bits and variant of a `gen_random_uuid()`. Row g is stamped `start + g`
 * ms, with `start` in the past, so ids (and keyset pages) follow g, owners and types
 * interleave as `SEED_TYPES` describes, and every id passes the API's UUID validation.
 */
export async function seedResourceRows(db: pg.Pool, options: SeedOptions): Promise<void> {
  const chunk = options.chunk ?? 200_000;
  // One millisecond per row, ending a minute ago: older than anything created through the API.
  const startMs = Date.now() - options.rows - 60_000;
  const uuidOf = (ts: string, random: string) => `(lpad(to_hex(${ts}), 12, '0') || '7' || substr(${random}, 14, 3) || substr(${random}, 17, 16))::uuid`;
  const rowsSql = `
    SELECT g, owner, type, to_timestamp(ts / 1000.0) AS at, ${uuidOf('ts', 'r1')} AS rid, ${uuidOf('ts', 'r2')} AS vid
    FROM (
      SELECT g, $3::bigint + g AS ts,
             ($4::uuid[])[1 + g % cardinality($4::uuid[])] AS owner,
             ($5::text[])[1 + g % cardinality($5::text[])] AS type,
             replace(gen_random_uuid()::text, '-', '') AS r1,
             replace(gen_random_uuid()::text, '-', '') AS r2
      FROM generate_series($1::int, $2::int) AS g
    ) AS x`;
  const insertResources = (source: string) => `
    INSERT INTO ${options.table} (id, owner_id, name, type, metadata, version, created_at, updated_at)
    SELECT rid, owner, 'Seeded ' || type || ' ' || g, type, jsonb_build_object('seeded', true), 1, at, at FROM ${source}`;
  const statement = options.versions
    ? `WITH s AS MATERIALIZED (${rowsSql}),
       ins AS (${insertResources('s')})
       INSERT INTO ${options.versions} (id, resource_id, version, data, created_by, created_at)
       SELECT vid, rid, 1, jsonb_build_object('title', 'Seeded ' || type || ' ' || g, 'body', 'Lorem ipsum dolor sit amet, consectetur adipiscing elit.', 'n', g), owner, at
       FROM s`
    : `${insertResources(`(${rowsSql}) AS s`)}`;
  for (let from = 1; from <= options.rows; from += chunk) {
    const to = Math.min(options.rows, from + chunk - 1);
    await db.query(statement, [from, to, startMs, options.owners, SEED_TYPES]);
    options.progress?.(to);
  }
}
