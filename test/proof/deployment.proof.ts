import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createTestDatabase, TEST_DATABASE_URL, TEST_REDIS_URL, type TestDatabase } from '../support/databases.js';
import { deleteStreams } from '../support/nats.js';
import { freePort } from '../support/net.js';
import { Nginx, nginxBinary } from '../support/nginx.js';
import { Instance } from './cluster.js';
import { Load, percentile, Subscriber, type Account, type PhaseStats } from './load.js';

/*
 * The deployment proof (issue 17, item 3; docs/deployment-proof.md): nginx from
 * deploy/nginx in front of 3 api, 2 auth and 1 worker processes of the built bundle, sharing
 * PostgreSQL, Redis and NATS JetStream on loopback, under a steady mixed load. It restarts
 * every instance in turn, kills an api instance and the worker with SIGKILL, and storms the
 * auth instances with logins; it checks behaviour only (failed requests, rows, events) and
 * prints the figures. Exit code 0 when every requirement held, 1 otherwise.
 *
 *   node --import tsx test/proof/deployment.proof.ts [--write-docs]
 */

const NATS_URL = process.env.PCF_TEST_NATS_URL;
const WRITE_DOCS = process.argv.includes('--write-docs');
const DOC = new URL('../../docs/deployment-proof.md', import.meta.url);
const BODY_LIMIT = 2_097_152;

const out = (line = '') => process.stdout.write(`${line}\n`);

interface Requirement {
  name: string;
  ok: boolean;
  detail: string;
}
const requirements: Requirement[] = [];
function require(name: string, ok: boolean, detail: string): void {
  requirements.push({ name, ok, detail });
  out(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`);
}

async function until(timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

async function json(base: string, method: string, path: string, body: unknown, token?: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const reply = (await response.json()) as Record<string, unknown>;
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(reply)}`);
  return reply;
}

function describePhase(phase: PhaseStats): string {
  const p = (n: number) => (Number.isNaN(n) ? '–' : n.toFixed(1));
  return `| ${phase.name} | ${phase.requests} | ${phase.failures} | ${phase.reads.length} | ${p(percentile(phase.reads, 50))} | ${p(percentile(phase.reads, 99))} |`;
}

async function main(): Promise<void> {
  const binary = nginxBinary();
  if (!binary) throw new Error('nginx is not installed (Debian: apt-get install nginx-light); .ci/run installs it');
  if (!TEST_DATABASE_URL || !TEST_REDIS_URL || !NATS_URL) throw new Error('set PCF_TEST_DATABASE_URL, PCF_TEST_REDIS_URL and PCF_TEST_NATS_URL');
  const tag = randomBytes(4).toString('hex');
  const queueName = `pcf-proof-${tag}`;
  const started = Date.now();
  let database: TestDatabase | undefined;
  let sql: pg.Client | undefined;
  let nginx: Nginx | undefined;
  const instances: Instance[] = [];
  const subscribers: Subscriber[] = [];
  let load: Load | undefined;
  try {
    database = await createTestDatabase('postgres');
    if (database.options.kind !== 'postgres') throw new Error('unreachable');
    sql = new pg.Client({ connectionString: database.options.url });
    await sql.connect();
    const env: Record<string, string> = {
      PCF_DATABASE_URL: database.options.url,
      PCF_REDIS_URL: TEST_REDIS_URL,
      PCF_REDIS_KEY_PREFIX: `pcf-proof-${tag}:`,
      PCF_QUEUE_URL: NATS_URL,
      PCF_QUEUE_NAME: queueName,
      // nginx is the one hop in front; the instances take the client from its X-Forwarded-For.
      PCF_HTTP_TRUST_PROXY: '127.0.0.1',
      PCF_HTTP_BODY_LIMIT_BYTES: String(BODY_LIMIT),
      PCF_SHUTDOWN_DRAIN_TIMEOUT_MS: '5000',
      // The proof is about losing nothing, not about budgets: one client plays every user.
      PCF_RATE_LIMIT_ENABLED: 'false',
      PCF_LOG_LEVEL: 'warn',
    };
    const spawnAll = async (layout: [string, string][]) => {
      const made: Instance[] = [];
      for (const [name, roles] of layout) made.push(new Instance(name, roles, await freePort(), env));
      for (const instance of made) instance.start();
      await Promise.all(made.map((i) => i.waitReady()));
      return made;
    };
    instances.push(
      ...(await spawnAll([
        ['api-1', 'api'],
        ['api-2', 'api'],
        ['api-3', 'api'],
        ['auth-1', 'auth'],
        ['auth-2', 'auth'],
        ['worker-1', 'worker'],
      ])),
    );
    const api = instances.filter((i) => i.roles === 'api');
    const auth = instances.filter((i) => i.roles === 'auth');
    const worker = instances.find((i) => i.roles === 'worker')!;
    nginx = new Nginx(binary, {
      port: await freePort(),
      upstreams: { api: api.map((i) => i.address), auth: auth.map((i) => i.address) },
      bodyLimitBytes: BODY_LIMIT,
    });
    await nginx.start();
    out(`started nginx, 3 api, 2 auth and 1 worker in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    const accounts: Account[] = [];
    for (let i = 0; i < 3; i++) {
      const email = `proof-${i}-${tag}@proof.example`;
      const password = `proof passphrase ${i} ${tag}`;
      await json(nginx.base, 'POST', '/auth/register', { email, name: `proof ${i}`, password });
      const session = await json(nginx.base, 'POST', '/auth/login', { email, password });
      accounts.push({ email, password, token: session.token as string });
    }
    const watched: string[] = [];
    for (let i = 0; i < 3; i++)
      watched.push(
        (await json(nginx.base, 'POST', '/resources', { name: `watched ${tag} ${i}`, type: 'doc', data: { n: 0 } }, accounts[0]!.token)).id as string,
      );
    for (const id of watched) {
      for (let s = 0; s < 2; s++) {
        const subscriber = new Subscriber(nginx.base, accounts[0]!.token, id);
        subscribers.push(subscriber);
        await subscriber.open();
      }
    }

    load = new Load(nginx.base, accounts, watched, tag);
    load.start({ readers: 3, creators: 2, updaters: true, logins: 1 });
    load.phase('steady mixed load');
    await sleep(4000);

    // 1. Rolling restart: SIGTERM only; the instance drains, nginx finds its port closed and
    // sends new requests elsewhere (passive health); it comes back on the same port.
    const rolling = load.phase('rolling restart (SIGTERM, one at a time)');
    const exitCodes: string[] = [];
    for (const instance of instances) {
      const code = await instance.terminate();
      exitCodes.push(`${instance.name}=${code}`);
      instance.start();
      await instance.waitReady();
      // Ready is not enough: nginx keeps a server it saw fail out for fail_timeout (5 s), and
      // stopping the next one before it takes this one back leaves an upstream with no live
      // server (nginx answers 502 at once). Wait until nginx has served a request from it.
      if (instance.roles !== 'worker') {
        const from = nginx.accessLog().length;
        const served = new RegExp(`upstreams="[^"]*${instance.address.replace(/\./g, '\\.')}" statuses="[^"]*2\\d\\d"`);
        if (!(await until(15_000, () => served.test(nginx!.accessLog().slice(from))))) throw new Error(`nginx did not take ${instance.name} back within 15 s`);
      }
    }
    require('rolling restart: every instance exits 0 on SIGTERM', exitCodes.every((c) => c.endsWith('=0')), exitCodes.join(' '));
    require('rolling restart: 0 failed requests', rolling.failures === 0, `${rolling.failures} of ${rolling.requests} ${rolling.samples.join('; ')}`);

    // 2. kill -9 of an api instance: nginx resends what may be resent; the rest is what it had in flight.
    load.phase('steady mixed load');
    await sleep(1500);
    const killed = load.phase('kill -9 of api-1, and its restart');
    const inflight = load.inflight;
    await api[0]!.crash();
    await sleep(3000);
    api[0]!.start();
    await api[0]!.waitReady();
    require('kill -9 of an api instance: only requests in flight at the kill fail', killed.failures <=
      inflight, `${killed.failures} failed of ${killed.requests} (in flight at the kill, on all instances: ${inflight}) ${killed.samples.join('; ')}`);

    // 3. kill -9 of the worker: events wait in the outbox, and flow when it returns.
    load.phase('steady mixed load');
    await sleep(1500);
    const unpublished = async () => (await sql!.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL')).rows[0]!.n;
    load.phase('kill -9 of the worker, and its restart');
    await worker.crash();
    await sleep(2500);
    const waiting = await unpublished();
    require('kill -9 of the worker: events wait in the outbox meanwhile', waiting > 0, `${waiting} events unpublished while no worker ran`);
    worker.start();
    await worker.waitReady();
    const drained = await until(20_000, async () => (await unpublished()) < waiting);
    require('kill -9 of the worker: they flow once it returns', drained, `outbox went from ${waiting} to ${await unpublished()} unpublished`);
    load.phase('steady mixed load');
    await sleep(2000);
    await load.stop();
    const flowed = await until(20_000, async () => (await unpublished()) === 0);
    require('the outbox empties once the load stops', flowed, `${await unpublished()} left`);

    // Every subscriber got every update of its resource, across every restart and crash.
    const latest = async (id: string) => (await sql!.query<{ version: number }>('SELECT version FROM resources WHERE id = $1', [id])).rows[0]!.version;
    const expected = new Map<string, number>();
    for (const id of watched) expected.set(id, await latest(id));
    await until(20_000, () => subscribers.every((s) => s.missing(expected.get(s.resourceId)!).length === 0));
    const events = { expected: 0, received: 0 };
    for (const s of subscribers) {
      const want = expected.get(s.resourceId)! - 1;
      events.expected += want;
      events.received += want - s.missing(expected.get(s.resourceId)!).length;
    }
    const gaps = subscribers.map((s) => s.missing(expected.get(s.resourceId)!)).filter((m) => m.length > 0);
    require('no subscriber misses an event', gaps.length === 0 &&
      events.received === events.expected, `${events.received} of ${events.expected} updates received; gaps ${JSON.stringify(gaps).slice(0, 300)}`);
    const problems = subscribers.flatMap((s) => s.problems);
    require('subscribers resume without RESYNC or errors', problems.length === 0, problems.length === 0
      ? `${subscribers.reduce((n, s) => n + s.reconnects, 0)} reconnects`
      : problems.slice(0, 3).join('; '));

    // Writes with keys, however often sent, are applied once.
    const rows = await sql.query<{ name: string; n: number }>('SELECT name, count(*)::int AS n FROM resources WHERE name LIKE $1 GROUP BY name', [
      `load ${tag} %`,
    ]);
    const duplicated = rows.rows.filter((r) => r.n > 1);
    const acknowledged = [...load.created.keys()];
    const stored = new Set(rows.rows.map((r) => r.name));
    const lost = acknowledged.filter((name) => !stored.has(name));
    require('writes with Idempotency-Keys are applied once', duplicated.length === 0 &&
      lost.length === 0, `${acknowledged.length} creates acknowledged, ${rows.rows.length} rows, ${duplicated.length} duplicated, ${lost.length} lost`);
    for (const s of subscribers) s.close();
    subscribers.length = 0;

    // 4. A login storm: API read latency with the split, then with api and auth in the same processes.
    const storm = async (label: string, base: string) => {
      const reads = new Load(base, accounts, [], tag);
      reads.start({ readers: 2, creators: 0, updaters: false, logins: 0 });
      reads.phase(`reads alone (${label})`);
      await sleep(4000);
      await reads.stop();
      const stormLoad = new Load(base, accounts, [], tag);
      stormLoad.start({ readers: 2, creators: 0, updaters: false, logins: 8 });
      stormLoad.phase(`reads during a login storm (${label})`);
      await sleep(6000);
      await stormLoad.stop();
      return [...reads.phases.slice(1), ...stormLoad.phases.slice(1)];
    };
    const split = await storm('split: 3 api + 2 auth', nginx.base);
    await nginx.stop();
    nginx = undefined;
    for (const instance of [...api, ...auth]) await instance.terminate();
    const combined = await spawnAll([
      ['combined-1', 'api,auth'],
      ['combined-2', 'api,auth'],
      ['combined-3', 'api,auth'],
    ]);
    instances.push(...combined);
    const addresses = combined.map((i) => i.address);
    nginx = new Nginx(binary, { port: await freePort(), upstreams: { api: addresses, auth: addresses }, bodyLimitBytes: BODY_LIMIT });
    await nginx.start();
    const unsplit = await storm('no split: 3 api+auth', nginx.base);
    const stormPhases = [...split, ...unsplit];
    for (const phase of stormPhases)
      require(`${phase.name}: no failed requests`, phase.failures === 0, `${phase.failures} of ${phase.requests} ${phase.samples.slice(0, 2).join('; ')}`);

    const table = [
      '| phase | requests | failed | reads | read p50 ms | read p99 ms |',
      '| --- | --- | --- | --- | --- | --- |',
      ...load.phases.filter((p) => p.name !== 'setup' && p.requests > 0).map(describePhase),
      ...stormPhases.map(describePhase),
    ];
    const totals = load.phases.reduce((t, p) => ({ requests: t.requests + p.requests, failures: t.failures + p.failures }), { requests: 0, failures: 0 });
    const summary = [
      `Requests ${totals.requests}, failed ${totals.failures} (mixed load); updates to subscribers expected ${events.expected}, received ${events.received}; creates acknowledged ${acknowledged.length}, rows ${rows.rows.length}; proof took ${((Date.now() - started) / 1000).toFixed(0)} s.`,
    ];
    out();
    for (const line of [...summary, '', ...table]) out(line);
    if (WRITE_DOCS)
      writeFigures([
        `Measured ${new Date().toISOString().slice(0, 10)} on this repository's CI machine (2 cores, everything on one host).`,
        '',
        ...summary,
        '',
        ...table,
      ]);
  } finally {
    await load?.stop();
    for (const s of subscribers) s.close();
    await nginx?.stop();
    await Promise.all(instances.map((i) => i.terminate().catch(() => undefined)));
    await sql?.end();
    await database?.drop();
    await deleteStreams(NATS_URL!, [queueName]).catch(() => undefined);
  }
}

/** Replaces the figures between the markers of docs/deployment-proof.md. */
function writeFigures(lines: string[]): void {
  const doc = readFileSync(DOC, 'utf8');
  const start = '<!-- proof figures: start -->';
  const end = '<!-- proof figures: end -->';
  const from = doc.indexOf(start);
  const to = doc.indexOf(end);
  if (from < 0 || to < 0) throw new Error(`${DOC.pathname} lacks the figure markers`);
  writeFileSync(DOC, `${doc.slice(0, from + start.length)}\n\n${lines.join('\n')}\n\n${doc.slice(to)}`);
}

main().then(
  () => {
    const failed = requirements.filter((r) => !r.ok);
    out();
    out(
      failed.length === 0
        ? `deployment proof: all ${requirements.length} requirements held`
        : `deployment proof: ${failed.length} of ${requirements.length} requirements broken`,
    );
    process.exit(failed.length === 0 ? 0 : 1);
  },
  (err: unknown) => {
    process.stderr.write(`deployment proof could not run: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
