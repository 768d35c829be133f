/**
 * Data for the resource scenarios (DESIGN §6): member accounts (registered through the API,
 * see identity.ts) with resources created through the API, or with many resources seeded
 * straight into PostgreSQL; and their removal afterwards, so runs don't pile up rows.
 *
 * Every bench account after the first user is a member, whose seeded permissions let it
 * read, update and delete only what it owns: `{"ownerId": "${user.id}"}`, the
 * condition-based permission DESIGN §6 asks to measure.
 */
import type pg from 'pg';
import { SEED_OWNER_COUNT, seedResourceRows } from './database.js';
import { requestJson } from './http.js';
import { login, OWNER_EMAIL, registerBenchUsers, type BenchUser, type BenchUsers } from './identity.js';
import { sleep } from './processes.js';
import type { SetupContext, SetupResult } from './scenarios.js';

const log = (msg: string) => console.error(`bench: ${msg}`);

/** The page the list scenarios ask for: the caller's own docs, 20 at a time. */
export const LIST_PATH = '/api/v1/resources?type=doc&limit=20';

/** A document like a client would store: a title, some text, tags and a number. */
export function sampleData(n: number): Record<string, unknown> {
  return {
    title: `Bench document ${n}`,
    body: 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore.',
    tags: ['bench', 'doc'],
    n,
  };
}

/**
 * Deletes the resources `userIds` own (their versions and shares go with them, ON DELETE
 * CASCADE) and the outbox events about them. Returns how many resources went.
 */
export async function deleteOwnedResources(db: pg.Pool, userIds: readonly string[]): Promise<number> {
  if (userIds.length === 0) return 0;
  // Events name their resource (aggregate_id) and its owner (payload.ownerId): the second
  // also catches events whose resource is already gone.
  await db.query(
    `DELETE FROM outbox WHERE aggregate_type = 'resource'
       AND (payload->>'ownerId' = ANY($1::text[]) OR aggregate_id IN (SELECT id FROM resources WHERE owner_id = ANY($1::uuid[])))`,
    [userIds],
  );
  const { rowCount } = await db.query('DELETE FROM resources WHERE owner_id = ANY($1::uuid[])', [userIds]);
  return rowCount ?? 0;
}

/**
 * Vacuums and analyses the resource tables after a bulk insert or delete, so the planner
 * knows their size and autovacuum does not wake up in the middle of a measurement.
 */
export async function vacuumResources(db: pg.Pool): Promise<void> {
  await db.query('VACUUM (ANALYZE) resources, resource_versions, outbox');
}

/**
 * A teardown for accounts that own resources: their resources and outbox events first
 * (resources.owner_id is ON DELETE RESTRICT), then a VACUUM (so autovacuum doesn't wake up
 * during the next scenario), then the accounts. Logs and swallows failures, like
 * `BenchUsers.remove`.
 */
function removeWithResources(db: pg.Pool, scenario: string, accounts: BenchUsers, { writes }: { writes: boolean }): () => Promise<void> {
  return async () => {
    // autocannon stops without waiting for the requests in flight; the server still
    // commits those creates. Let them land, or they would escape the DELETEs below.
    if (writes) await sleep(500);
    const started = Date.now();
    try {
      const n = await deleteOwnedResources(
        db,
        accounts.users.map((u) => u.id),
      );
      await vacuumResources(db);
      if (n >= 10_000) log(`${scenario}: deleted its ${n.toLocaleString('en-US')} resources in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } catch (err) {
      log(`${scenario}: could not delete its resources: ${(err as Error).message}`);
    }
    await accounts.remove();
  };
}

/**
 * Accounts that earlier runs left behind (the harness was killed before its teardowns ran),
 * with their resources. Only accounts older than an hour: a run takes minutes, so another
 * benchmark running right now is never touched. Does nothing before PCF's first start.
 */
export async function purgeStaleBenchAccounts(db: pg.Pool): Promise<void> {
  const { rows: exists } = await db.query<{ t: string | null }>("SELECT to_regclass('resources')::text AS t");
  if (!exists[0]?.t) return;
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM users
     WHERE email LIKE 'pcf-bench-%@example.com' AND lower(email) <> $1 AND created_at < now() - interval '1 hour'`,
    [OWNER_EMAIL],
  );
  if (rows.length === 0) return;
  const ids = rows.map((r) => r.id);
  const n = await deleteOwnedResources(db, ids);
  await db.query('DELETE FROM users WHERE id = ANY($1::uuid[])', [ids]);
  if (n > 0) await vacuumResources(db);
  log(`removed ${ids.length} bench account(s) left over by earlier runs, with ${n} resource(s)`);
}

export interface Member {
  user: BenchUser;
  headers: Record<string, string>;
  /** Ids of the resources created for it, in creation order. */
  ids: string[];
  /** Deletes its resources, then the account. */
  teardown: () => Promise<void>;
}

/**
 * One member account, logged in, owning `count` resources created through the API
 * (POST /api/v1/resources: resource, version 1 and outbox event, as any client would).
 */
export async function memberWithResources(ctx: SetupContext, scenario: string, count: number): Promise<Member> {
  const accounts = await registerBenchUsers(ctx, scenario, 1);
  const teardown = removeWithResources(ctx.db, scenario, accounts, { writes: false });
  try {
    const user = accounts.users[0]!;
    const headers = { authorization: `Bearer ${await login(ctx.baseUrl, user.email)}` };
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const r = await requestJson<{ id: string }>(
        ctx.baseUrl,
        'POST',
        '/api/v1/resources',
        { name: `Bench doc ${i}`, type: 'doc', data: sampleData(i) },
        headers,
      );
      ids.push(r.body.id);
    }
    return { user, headers, ids, teardown };
  } catch (err) {
    await teardown();
    throw err;
  }
}

/** One member account, logged in and owning nothing yet: the scenario creates its resources. */
export async function memberForCreates(ctx: SetupContext, scenario: string): Promise<Member> {
  const accounts = await registerBenchUsers(ctx, scenario, 1);
  const teardown = removeWithResources(ctx.db, scenario, accounts, { writes: true });
  try {
    const user = accounts.users[0]!;
    return { user, headers: { authorization: `Bearer ${await login(ctx.baseUrl, user.email)}` }, ids: [], teardown };
  } catch (err) {
    await teardown();
    throw err;
  }
}

/**
 * `rows` resources seeded with SQL (each with version 1), spread over SEED_OWNER_COUNT
 * member accounts and SEED_TYPES; the first account is the one that lists. Returns its
 * bearer token and a teardown that deletes the seeded rows and the accounts.
 */
export async function seededMember(ctx: SetupContext, scenario: string, rows: number): Promise<SetupResult & { user: BenchUser }> {
  const accounts = await registerBenchUsers(ctx, scenario, SEED_OWNER_COUNT);
  const teardown = removeWithResources(ctx.db, scenario, accounts, { writes: false });
  try {
    const user = accounts.users[0]!;
    const started = Date.now();
    const big = rows >= 100_000;
    if (big) log(`${scenario}: seeding ${rows.toLocaleString('en-US')} resources (with version 1 each) over ${SEED_OWNER_COUNT} owners…`);
    await seedResourceRows(ctx.db, {
      table: 'resources',
      versions: 'resource_versions',
      owners: accounts.users.map((u) => u.id),
      rows,
      ...(big
        ? { progress: (done: number) => log(`${scenario}: ${done.toLocaleString('en-US')} rows (${((Date.now() - started) / 1000).toFixed(0)} s)`) }
        : {}),
    });
    await vacuumResources(ctx.db);
    const { rows: counts } = await ctx.db.query<{ n: string }>('SELECT count(*) AS n FROM resources');
    const total = Number(counts[0]?.n ?? 0);
    log(
      `${scenario}: seeded ${rows.toLocaleString('en-US')} resources in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
        `the resources table holds ${total.toLocaleString('en-US')}`,
    );
    if (total > rows * 1.05)
      log(`${scenario}: ⚠ ${(total - rows).toLocaleString('en-US')} other resources in the table: the size is not what the scenario name says`);

    const headers = { authorization: `Bearer ${await login(ctx.baseUrl, user.email)}` };
    // A seeded row must read back through the API like any other (its id passes validation,
    // its version row joins), or the seed is not what the list scenarios think it is.
    const { rows: own } = await ctx.db.query<{ id: string }>("SELECT id FROM resources WHERE owner_id = $1 AND type = 'doc' ORDER BY id LIMIT 1", [user.id]);
    if (!own[0]) throw new Error(`setup: no seeded doc owned by ${user.email}`);
    await requestJson(ctx.baseUrl, 'GET', `/api/v1/resources/${own[0].id}`, undefined, headers);
    return { user, headers, teardown };
  } catch (err) {
    await teardown();
    throw err;
  }
}

/** Checks a list page: 20 of the caller's own docs and a cursor to the next page. */
export function verifyOwnDocsPage(ownerId: string) {
  return (body: string): string | undefined => {
    const parsed = JSON.parse(body) as { items?: { ownerId?: unknown; type?: unknown; data?: unknown }[]; nextCursor?: unknown };
    const items = parsed.items ?? [];
    const ok =
      items.length === 20 && items.every((i) => i.ownerId === ownerId && i.type === 'doc' && i.data === undefined) && typeof parsed.nextCursor === 'string';
    return ok ? undefined : `expected 20 docs owned by ${ownerId} (without data) and a nextCursor, got ${body.slice(0, 300)}`;
  };
}
