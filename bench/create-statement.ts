/**
 * Creates by ONE owner from N concurrent clients, through ResourcesService.create against
 * PostgreSQL, beside a bare single-row INSERT from as many clients: the case of a single
 * heavy writer (an import tool, a batch job), where every create charges the same owner's
 * storage count. Not part of `npm run bench`; run it by hand, alone on the machine if you can:
 *
 *   node --import tsx bench/create-statement.ts   (BENCH_URL, BENCH_SECONDS, BENCH_CLIENTS, BENCH_QUOTA in bytes)
 *
 * It creates the database `pcf_create_bench` on the server of BENCH_URL, migrates it with
 * this checkout's migrations, and drops it at the end. Only the service's own work counts:
 * the outbox relay, caches and grants are inert stand-ins.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { createDatabase, migrateUp } from '../src/infra/database/index.js';
import { createLogger } from '../src/infra/telemetry/logger.js';
import { buildAbility } from '../src/services/access/index.js';
import type { Principal } from '../src/services/auth/principals.js';
import type { ServiceContext } from '../src/services/context.js';
import { storageBytesOf } from '../src/services/resources/quota.js';
import { ResourcesService } from '../src/services/resources/resources.service.js';
import { UnitOfWork } from '../src/services/shared/unit-of-work.js';

const BASE = process.env.BENCH_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 10);
const QUOTA = Number(process.env.BENCH_QUOTA ?? 268_435_456);
const NAME = 'pcf_create_bench';

const urlOf = (name: string) => Object.assign(new URL(BASE), { pathname: `/${name}` }).toString();

async function admin(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: BASE });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** Runs `once` from CLIENTS loops for SECONDS; how many completed per second. */
async function rate(once: (client: number, i: number) => Promise<unknown>): Promise<number> {
  const until = Date.now() + SECONDS * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      for (let i = 0; Date.now() < until; i++) {
        await once(client, i);
        done++;
      }
    }),
  );
  return done / SECONDS;
}

async function main(): Promise<void> {
  await admin(`DROP DATABASE IF EXISTS ${NAME}`);
  await admin(`CREATE DATABASE ${NAME}`);
  const logger = createLogger({ level: 'silent' });
  const database = createDatabase({ kind: 'postgres', url: urlOf(NAME), poolMax: CLIENTS, connectTimeoutMs: 5000, statementTimeoutMs: 30_000 }, logger);
  try {
    await migrateUp(database.db);
    const userId = randomUUID();
    await database.db.insertInto('users').values({ id: userId, email: 'writer@bench.test', name: 'Writer', password_hash: 'x' }).execute();
    await database.db.schema
      .createTable('bare_writes')
      .addColumn('id', 'uuid', (c) => c.primaryKey())
      .addColumn('owner_id', 'uuid', (c) => c.notNull())
      .addColumn('data', 'jsonb', (c) => c.notNull())
      .execute();

    const inert = { invalidate: async () => undefined };
    const unitOfWork = new UnitOfWork({
      database,
      outbox: { newEventId: () => randomUUID(), committed: () => undefined, write: async () => undefined } as never,
      cache: inert as never,
      grants: inert,
    });
    const resources = new ResourcesService({
      database,
      unitOfWork,
      reads: {} as never,
      diffs: {} as never,
      shares: {} as never,
      cache: inert as never,
      audit: () => undefined,
      maxDataBytes: 1_048_576,
      maxVersions: 10_000,
      storageQuotaBytes: QUOTA,
    });
    const principal = {
      user: { id: userId },
      roles: [],
      permissions: [],
      ability: buildAbility([{ id: randomUUID(), resourceType: '*', action: 'create', conditions: null }], userId),
      sessionId: randomUUID(),
    } as unknown as Principal;
    const ctx: ServiceContext = { principal, traceId: undefined, log: logger };

    let refused = 0;
    const create = (client: number, i: number) =>
      resources.create(ctx, { name: `Doc ${client}-${i}`, type: 'doc', metadata: { client }, data: { i, text: 'x'.repeat(200) } }).catch((err: unknown) => {
        // A small BENCH_QUOTA fills up: refusals count as writes (the slow path's work), and apart.
        if ((err as { code?: string }).code !== 'UNPROCESSABLE_ENTITY') throw err;
        refused++;
      });
    const bare = (client: number, i: number) =>
      database.db
        .insertInto('bare_writes' as never)
        .values({ id: randomUUID(), owner_id: userId, data: JSON.stringify({ i, client, text: 'x'.repeat(200) }) } as never)
        .execute();
    // Warm the pool, the plans and the owner's slots.
    await Promise.all(Array.from({ length: CLIENTS }, (_, client) => create(client, -1)));
    const created = await rate(create);
    const inserted = await rate(bare);
    // The quota's figures after it all: the owner's count is what its resources hold, within the quota.
    const held = await storageBytesOf(database.db, userId);
    const stored = await database.db
      .selectFrom('resources')
      .select(sql<string>`sum(storage_bytes)`.as('n'))
      .executeTakeFirstOrThrow();
    console.log(
      JSON.stringify({
        clients: CLIENTS,
        seconds: SECONDS,
        createPerSecond: Math.round(created),
        refused,
        usage: held,
        storedByResources: Number(stored.n),
        quota: QUOTA,
        bareInsertPerSecond: Math.round(inserted),
        ratio: +(created / inserted).toFixed(2),
      }),
    );
  } finally {
    await database.close();
    await admin(`DROP DATABASE IF EXISTS ${NAME}`);
  }
}

await main();
