/**
 * CPU per request of the permission-filtered list, GET /api/v1/resources?type=doc&limit=20,
 * against the single-resource read GET /api/v1/resources/{id}: `npm run bench -- list-cpu`.
 *
 * A server runs in this process (an in-memory PGlite database, so the database's planning
 * and execution are in the figures too; with BENCH_CPU_DATABASE_URL, a PostgreSQL database
 * instead, whose work is then in its own processes and out of the figures), with the rate
 * limiter on (budgets no run reaches: bench/rate-limit.ts). Two members each own
 * `BENCH_LIST_OWNED` resources of 4 types (a quarter are docs, as resource-list's member
 * reads); the second has also been given a share, so its read filter carries the shares
 * condition. Each round times `BENCH_CPU_REQUESTS` requests of each kind with
 * `process.cpuUsage()` (user + system, divided by the count), alternating the kinds so that
 * drift on a shared machine falls on all; the median and the spread of the rounds are
 * reported. On PostgreSQL a bare Fastify + pg route doing resource-list's bare query on the
 * same table (bench/bare-server.ts) is timed too, as the floor. Profile one kind with
 * `BENCH_CPU_ONLY=list node --cpu-prof --import tsx bench/run.ts list-cpu`.
 */
import { cpuPerRequest, expectOk, median, startInProcess } from './cpu-per-request.js';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify from 'fastify';
import pg from 'pg';
import type { Server } from '../src/server.js';
import { INVALIDATION_HOLD_MS } from '../src/services/shared/tolerant-cache.js';
import { SEED_TYPES } from './database.js';
import { LIST_PATH, sampleData } from './resources.js';

const REQUESTS = Number(process.env.BENCH_CPU_REQUESTS ?? 2000);
const ROUNDS = Number(process.env.BENCH_CPU_ROUNDS ?? 5);
const OWNED = Number(process.env.BENCH_LIST_OWNED ?? 100);
/** `get`, `list`, `list-shared` or `bare` times only that kind, for a profile of one (`--cpu-prof`). */
const ONLY = process.env.BENCH_CPU_ONLY;
const PASSWORD = 'bench-cpu-password-1';

interface Member {
  authorization: string;
  userId: string;
  /** Its resources' ids, in creation order. */
  owned: string[];
}

/** A signed-in account (on an empty database the first one registered is the admin) owning `OWNED` resources. */
async function account(server: Server, email: string): Promise<Member> {
  const app = server.app;
  await expectOk(app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { email, name: 'Bench list', password: PASSWORD } }), 'register');
  const session = JSON.parse(await expectOk(app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: PASSWORD } }), 'login')) as {
    token: string;
    user: { id: string };
  };
  const authorization = `Bearer ${session.token}`;
  const owned: string[] = [];
  for (let i = 0; i < OWNED; i++) {
    const type = SEED_TYPES[i % SEED_TYPES.length]!;
    const body = await expectOk(
      app.inject({
        method: 'POST',
        url: '/api/v1/resources',
        headers: { authorization },
        payload: { name: `Bench ${type} ${i}`, type, metadata: { seeded: true }, data: sampleData(1) },
      }),
      'create',
    );
    owned.push((JSON.parse(body) as { id: string }).id);
  }
  return { authorization, userId: session.user.id, owned };
}

/** A list page of 20 docs owned by `ownerId` with a cursor, or the figures mean nothing. */
function checkPage(body: string, ownerId: string): void {
  const page = JSON.parse(body) as { items?: { ownerId?: string; type?: string }[]; nextCursor?: unknown };
  const items = page.items ?? [];
  if (items.length !== 20 || !items.every((i) => i.ownerId === ownerId && i.type === 'doc') || typeof page.nextCursor !== 'string') {
    throw new Error(`unexpected list page: ${body.slice(0, 300)}`);
  }
}

export async function runListCpu(): Promise<number> {
  const server = await startInProcess(process.env.BENCH_CPU_DATABASE_URL);
  try {
    const suffix = `${process.pid}-${Date.now()}`;
    await account(server, `list-cpu-admin-${suffix}@bench.test`);
    const plain = await account(server, `list-cpu-member-${suffix}@bench.test`);
    const sharing = await account(server, `list-cpu-shared-${suffix}@bench.test`);
    // The plain member shares a note with the other: its read filter now has a shares condition.
    await expectOk(
      server.app.inject({
        method: 'POST',
        url: `/api/v1/resources/${plain.owned[1]}/shares`,
        headers: { authorization: plain.authorization },
        payload: { userId: sharing.userId, actions: ['read'] },
      }),
      'share',
    );
    // Until the share's invalidation hold ends, the member's grants are reloaded on every request.
    await sleep(INVALIDATION_HOLD_MS + 500);
    const app = server.app;
    const url = process.env.BENCH_CPU_DATABASE_URL;
    const pool = url ? new pg.Pool({ connectionString: url, max: 10 }) : undefined;
    const bare = Fastify({ logger: false });
    bare.get<{ Querystring: { type: string; ownerId: string } }>('/bare/list', async (request) => {
      const { rows } = await pool!.query(
        'SELECT id, owner_id, name, type, metadata, version, created_at, updated_at FROM resources WHERE type = $1 AND owner_id = $2 ORDER BY id LIMIT 20',
        [request.query.type, request.query.ownerId],
      );
      return { items: rows };
    });
    const bareUrl = `/bare/list?type=doc&ownerId=${plain.userId}`;
    type Kind = { name: string; label: string; send: () => Promise<{ statusCode: number; body: string }> };
    const kinds: Kind[] = [
      {
        name: 'get',
        label: 'REST GET /api/v1/resources/{id}',
        send: () => app.inject({ method: 'GET', url: `/api/v1/resources/${plain.owned[0]}`, headers: { authorization: plain.authorization } }),
      },
      {
        name: 'list',
        label: `REST GET ${LIST_PATH}`,
        send: () => app.inject({ method: 'GET', url: LIST_PATH, headers: { authorization: plain.authorization } }),
      },
      {
        name: 'list-shared',
        label: `  the same, with one share received`,
        send: () => app.inject({ method: 'GET', url: LIST_PATH, headers: { authorization: sharing.authorization } }),
      },
    ];
    if (pool) kinds.push({ name: 'bare', label: 'bare Fastify + pg, the same page', send: () => bare.inject({ method: 'GET', url: bareUrl }) });
    const get = JSON.parse(await expectOk(kinds[0]!.send(), 'REST get')) as { id?: string };
    if (get.id !== plain.owned[0]) throw new Error(`unexpected get: ${JSON.stringify(get).slice(0, 200)}`);
    checkPage(await expectOk(kinds[1]!.send(), 'REST list'), plain.userId);
    checkPage(await expectOk(kinds[2]!.send(), 'REST list with a share'), sharing.userId);
    if (pool) {
      const items = (JSON.parse(await expectOk(bare.inject({ method: 'GET', url: bareUrl }), 'bare list')) as { items: unknown[] }).items;
      if (items.length !== 20) throw new Error(`bare list: ${items.length} rows`);
    }
    const timed = kinds.filter((k) => ONLY === undefined || ONLY === k.name);
    // Warm-up: the JIT, the caches of principals, abilities and resources.
    for (let i = 0; i < 500; i++) for (const k of timed) await k.send();
    const rounds = new Map<string, number[]>(timed.map((k) => [k.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const k of timed) rounds.get(k.name)!.push(await cpuPerRequest(k.send, REQUESTS));
    }
    const row = (label: string, values: number[]) =>
      `${label.padEnd(48)} ${median(values).toFixed(0).padStart(6)} µs   (${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)})`;
    const where = process.env.BENCH_CPU_DATABASE_URL ? 'PostgreSQL (its CPU not counted)' : 'in-process PGlite (its CPU counted)';
    const lines = [`CPU µs per request: median of ${ROUNDS} rounds of ${REQUESTS} (min–max), via app.inject, ${where}, rate limiter on`];
    for (const k of timed) lines.push(row(k.label, rounds.get(k.name)!));
    if (pool && !ONLY) lines.push(`list / bare: ${(median(rounds.get('list')!) / median(rounds.get('bare')!)).toFixed(2)}×`);
    if (!ONLY) lines.push(`list / get: ${(median(rounds.get('list')!) / median(rounds.get('get')!)).toFixed(2)}×`);
    console.log(lines.join('\n'));
    await bare.close();
    await pool?.end();
    return 0;
  } finally {
    await server.stop();
  }
}
