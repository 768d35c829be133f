import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createTestDatabase, TEST_DATABASE_URL, TEST_REDIS_URL, type TestDatabase } from '../support/databases.js';
import { call, expectStatus, type Instance, liveSubscriptions, queueUp, spawnInstance, stop, stopAll, until } from '../support/instances.js';
import { deleteStreams } from '../support/nats.js';
import { changeOf, RESOURCE_CHANGED, WsProbe, type WsMessage } from '../support/ws.js';

/*
 * The instance roles (docs/architecture.md "Instance roles") as they are deployed: an
 * api-only, an auth-only and a worker-only process (`node src/main.ts`, configured by PCF_*
 * only) sharing PostgreSQL, Redis and NATS JetStream. Accounts and sessions are made on the
 * auth instance and used on the api instance; the api instance relays nothing itself (its
 * events wait in the outbox while no worker runs); a worker relays them, woken by the api
 * instance's NOTIFY rather than by its poll, which is set far beyond the test's deadlines.
 */

const NATS_URL = process.env.PCF_TEST_NATS_URL;
const SKIP =
  TEST_DATABASE_URL && NATS_URL && TEST_REDIS_URL
    ? false
    : 'needs PCF_TEST_DATABASE_URL, PCF_TEST_REDIS_URL and PCF_TEST_NATS_URL (the stores the instances share)';

/** The relay's poll: longer than any wait below, so only a wake-up can explain a prompt delivery. */
const POLL_MS = 60_000;
/** How long a delivery may take (it usually takes milliseconds); well under POLL_MS. */
const DELIVERY_MS = 15_000;
/** How long the outbox is watched for a relay that must not be running. */
const NO_RELAY_WINDOW_MS = 2000;

after(() => stopAll());

interface Readiness {
  status: string;
  roles: string[];
  checks: Record<string, { status: string }>;
}

async function readiness(instance: Instance): Promise<Readiness> {
  const response = await fetch(`${instance.base}/health/ready`, { signal: AbortSignal.timeout(5000) });
  return (await response.json()) as Readiness;
}

describe('instance roles as separate processes (shared PostgreSQL, Redis and NATS)', { skip: SKIP, timeout: 120_000 }, () => {
  const tag = randomBytes(4).toString('hex');
  const queueName = `pcf-test-${randomBytes(6).toString('hex')}`;
  const password = 'roles test passphrase';
  const probes: WsProbe[] = [];
  let database: TestDatabase | undefined;
  let sql: pg.Client;
  let env: Record<string, string>;
  let api: Instance;
  let auth: Instance;
  let worker: Instance | undefined;
  let token: string;
  let aliceId: string;

  /** Outbox rows about one resource that no relay has published yet. */
  const unpublished = async (resourceId: string): Promise<number> =>
    (await sql.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox WHERE aggregate_id = $1 AND published_at IS NULL', [resourceId])).rows[0]!.n;

  before(async () => {
    database = await createTestDatabase('postgres');
    assert.ok(database.options.kind === 'postgres');
    sql = new pg.Client({ connectionString: database.options.url });
    await sql.connect();
    env = {
      PCF_DATABASE_URL: database.options.url,
      PCF_REDIS_URL: TEST_REDIS_URL!,
      PCF_REDIS_KEY_PREFIX: `pcf-test-${tag}:`,
      PCF_QUEUE_URL: NATS_URL!,
      PCF_QUEUE_NAME: queueName,
      PCF_EVENTS_POLL_INTERVAL_MS: String(POLL_MS),
      PCF_SHUTDOWN_DRAIN_TIMEOUT_MS: '2000',
    };
    [api, auth] = await Promise.all([spawnInstance('api', { ...env, PCF_ROLES: 'api' }), spawnInstance('auth', { ...env, PCF_ROLES: 'auth' })]);
    await Promise.all([queueUp(api, DELIVERY_MS), queueUp(auth, DELIVERY_MS)]);
  });
  after(async () => {
    for (const probe of probes) probe.close();
    await stop([api, auth, worker].filter((i): i is Instance => i !== undefined));
    await sql?.end();
    await database?.drop();
    await deleteStreams(NATS_URL!, [queueName]);
  });

  it('signs up and in on the auth instance, and its token works on the api instance', async () => {
    const email = `alice-${tag}@roles.example`;
    const registered = await expectStatus(auth, 'POST', '/auth/register', 201, { body: { email, name: 'alice', password } });
    aliceId = (registered.user as { id: string }).id;
    const session = await expectStatus(auth, 'POST', '/auth/login', 200, { body: { email, password } });
    token = session.token as string;
    const me = await expectStatus(auth, 'GET', '/auth/me', 200, { token });
    assert.equal((me.user as { email: string }).email, email);
    const list = await expectStatus(api, 'GET', '/resources', 200, { token });
    assert.deepEqual(list.items, []);
  });

  it("answers 404 with a problem naming the serving role for another role's routes", async () => {
    const onAuth = await call(auth, 'GET', '/resources', { token });
    assert.equal(onAuth.status, 404, JSON.stringify(onAuth.body));
    assert.equal(onAuth.body.code, 'NOT_FOUND');
    assert.match(onAuth.body.detail as string, /runs auth.*api role/);

    const onApi = await call(api, 'POST', '/auth/login', { body: { email: 'x@roles.example', password } });
    assert.equal(onApi.status, 404, JSON.stringify(onApi.body));
    assert.match(onApi.body.detail as string, /runs api.*auth role/);

    const graphql = await fetch(`${auth.base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: '{ __typename }' }),
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(graphql.status, 404, 'GraphQL lives on the api role');
    assert.match(((await graphql.json()) as { detail: string }).detail, /api role/);

    // What every instance serves: the API's index, health and metrics.
    for (const instance of [api, auth]) await expectStatus(instance, 'GET', '/', 200);
  });

  it('answers an upgrade request on the auth instance as an ordinary request, instead of holding its socket', async () => {
    // Only the api role serves WebSockets; anywhere else an upgrade request is answered like any other.
    const statusLine = await rawUpgrade(auth.base, '/graphql');
    assert.match(statusLine, /^HTTP\/1\.1 404 /);
  });

  it('an api instance relays nothing and prunes nothing: its changes wait in the outbox, then reach its subscriber once a worker runs', async () => {
    // An Idempotency-Key past its 24 h: the retention job's to delete, which only a worker runs.
    await sql.query(
      "INSERT INTO idempotency_keys (user_id, scope, key, request_hash, status, response, created_at) VALUES ($1, 'POST /resources', 'expired-1', sha256('x'), 201, '{}', now() - interval '25 hours')",
      [aliceId],
    );
    const expiredKeys = async () => (await sql.query<{ n: number }>("SELECT count(*)::int AS n FROM idempotency_keys WHERE key = 'expired-1'")).rows[0]!.n;
    // A write with a key of its own: before the roles, such a write also purged expired keys.
    const response = await fetch(`${api.base}/api/v1/resources`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'idempotency-key': 'fresh-1' },
      body: JSON.stringify({ name: `Watched ${tag}`, type: 'doc', data: { n: 0 } }),
      signal: AbortSignal.timeout(10_000),
    });
    const created = { status: response.status, body: (await response.json()) as Record<string, unknown> };
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as string;
    const ws = await WsProbe.connect(api.base, token);
    probes.push(ws);
    const before = await liveSubscriptions(api);
    ws.subscribe('r', RESOURCE_CHANGED, { id });
    await until('the subscription is live on api', 5000, async () => (await liveSubscriptions(api)) >= before + 1);
    await expectStatus(api, 'PATCH', `/resources/${id}`, 200, { token, body: { data: { n: 1 } } });

    // The api instance's own relay would publish at once (a commit nudges it); it has none.
    await sleep(NO_RELAY_WINDOW_MS);
    assert.equal(await unpublished(id), 2, 'the created and updated events wait in the outbox');
    const updates = () => ws.messages.filter((m: WsMessage) => m.id === 'r' && m.type === 'next').map(changeOf);
    assert.deepEqual(updates(), [], 'nothing reaches the subscriber without a worker');
    assert.equal(await expiredKeys(), 1, 'the expired key outlives writes on the api instance');

    worker = await spawnInstance('worker', { ...env, PCF_ROLES: 'worker', PCF_LOG_LEVEL: 'info' });
    await queueUp(worker, DELIVERY_MS);
    await until(
      'the update relayed by the worker reaches the subscriber on api',
      DELIVERY_MS,
      () => updates().some((c) => c.kind === 'UPDATED' && c.version === 2),
      () => `; got ${JSON.stringify(ws.messages)}\n${worker!.output()}`,
    );
    assert.equal(await unpublished(id), 0);
    await until('the worker deletes the expired key', DELIVERY_MS, async () => (await expiredKeys()) === 0);

    const ready = await readiness(worker);
    assert.deepEqual(ready.roles, ['worker']);
    assert.deepEqual(Object.keys(ready.checks).sort(), ['database', 'queue'], 'a worker checks the database and its queue');
    assert.match(worker.output(), /"roles":"worker".*"msg":"listening"/, 'the start-up line names the roles');
  });

  it("wakes the worker's relay with NOTIFY: a change on api is published long before the poll", async () => {
    assert.ok(worker, 'the previous test started the worker');
    const created = await expectStatus(api, 'POST', '/resources', 201, { token, body: { name: `Notified ${tag}`, type: 'doc', data: { n: 0 } } });
    const id = created.id as string;
    const ws = await WsProbe.connect(api.base, token);
    probes.push(ws);
    const before = await liveSubscriptions(api);
    ws.subscribe('r', RESOURCE_CHANGED, { id });
    await until('the subscription is live on api', 5000, async () => (await liveSubscriptions(api)) >= before + 1);
    // The worker's relay has just passed (for the create) and then waits POLL_MS, unless woken.
    await until('the create is published', DELIVERY_MS, async () => (await unpublished(id)) === 0);

    await expectStatus(api, 'PATCH', `/resources/${id}`, 200, { token, body: { data: { n: 1 } } });
    await until(
      'the update reaches the subscriber on api',
      DELIVERY_MS,
      () => ws.messages.some((m) => m.id === 'r' && m.type === 'next' && changeOf(m).version === 2),
      () => `; got ${JSON.stringify(ws.messages)}`,
    );

    const onApi = await readiness(api);
    assert.deepEqual(onApi.roles, ['api']);
    assert.deepEqual(Object.keys(onApi.checks).sort(), ['cache', 'database', 'queue']);
    const onAuth = await readiness(auth);
    assert.deepEqual(onAuth.roles, ['auth']);
    assert.equal(onAuth.status, 'healthy');
  });
});

/** Sends a WebSocket upgrade request over a raw socket; resolves with the status line of the answer. */
function rawUpgrade(base: string, path: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to an upgrade request for ${path} within 5 s`));
    }, 5000);
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(received.slice(0, end));
    });
    socket.on('error', reject);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n`,
    );
  });
}
