import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager, type ConsumerInfo } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import pg from 'pg';
import { createTestDatabase, TEST_DATABASE_URL, type TestDatabase } from '../support/databases.js';
import { as, login, type Session } from '../support/identity.js';
import { DedicatedNats, deleteStreams, NATS_SERVER_BIN } from '../support/nats.js';
import { freePort } from '../support/net.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { changeOf, nextData, type Change, NOTIFICATION_RECEIVED, RESOURCE_CHANGED, WsProbe, type WsMessage } from '../support/ws.js';

/*
 * Real-time notifications across instances (DESIGN §1 "cluster", §4 outbox, §5): servers
 * sharing one PostgreSQL database and one NATS JetStream stream. A change made on one
 * instance reaches a subscriber on another exactly once; the `notifications` group, run by
 * every instance, stores each notification once; a broker outage loses nothing (events
 * wait in the outbox, the API keeps answering, readiness says degraded); and events
 * committed by an instance that never reached the broker are relayed by the next one. A
 * broker restart does not replay old events to live subscribers either. The broker outage
 * tests start a nats-server of their own (test/support/nats.ts); the others use
 * PCF_TEST_NATS_URL with a stream of their own, deleted afterwards. The single-instance
 * behaviour is in test/api/realtime.test.ts.
 */

const NATS_URL = process.env.PCF_TEST_NATS_URL;
const SKIP =
  TEST_DATABASE_URL && NATS_URL
    ? false
    : 'needs PCF_TEST_DATABASE_URL (one PostgreSQL database shared by the instances) and PCF_TEST_NATS_URL (the JetStream broker between them)';

interface Delivery {
  resync: boolean;
  notification: { id: string; kind: string; payload: { resourceId?: string; version?: number; actorId?: string } } | null;
}

const deliveryOf = (message: WsMessage): Delivery => nextData<{ notificationReceived: Delivery }>(message).notificationReceived;

/** The `next` messages of one operation that are changes of this kind (other events of the resource may come too). */
const changesOf = (ws: WsProbe, id: string, kind: string): Change[] =>
  ws.messages
    .filter((m) => m.id === id && m.type === 'next')
    .map(changeOf)
    .filter((c) => c.kind === kind);
/** The notifications of this kind about this resource an operation delivered (the user's other notifications, e.g. login.new, may come too). */
const notificationsOf = (ws: WsProbe, id: string, kind: string, resourceId: string): NonNullable<Delivery['notification']>[] =>
  ws.messages
    .filter((m) => m.id === id && m.type === 'next')
    .map((m) => deliveryOf(m).notification)
    .filter((n): n is NonNullable<Delivery['notification']> => n !== null && n.kind === kind && n.payload.resourceId === resourceId);

/** Polls `check` every 50 ms until it returns a value; fails after `timeoutMs`, with what `detail` says of the state then. */
async function eventually<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined> | T | undefined,
  detail?: () => Promise<string> | string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`${what}: not seen within ${timeoutMs} ms${detail ? `; ${await detail()}` : ''}`);
    await sleep(50);
  }
}

/** A queue name (stream and subject prefix) of its own, so runs never share a stream. */
const uniqueQueueName = () => `pcf-test-${randomBytes(6).toString('hex')}`;

/** The same database for several servers: their close() leaves it; the test drops it once. */
const shared = (database: TestDatabase): TestDatabase => ({ ...database, drop: async () => undefined });

/** The live feeds (WebSocket subscriptions) an instance has registered. */
const liveFeeds = (t: TestServer): number => t.server.events.deps.live.size;

/** A direct connection to a test database, for what the API does not show (outbox rows). */
function sqlOf(database: TestDatabase) {
  assert.ok(database.options.kind === 'postgres');
  const pool = new pg.Pool({ connectionString: database.options.url, max: 2 });
  // pool.end() resolves before its idle connections have closed; the DROP DATABASE … WITH
  // (FORCE) that follows may terminate one, which the pool reports as an 'error' event.
  pool.on('error', () => undefined);
  return {
    query: async <R extends pg.QueryResultRow>(text: string, params: unknown[] = []): Promise<R[]> => (await pool.query<R>(text, params)).rows,
    count: async (text: string, params: unknown[] = []): Promise<number> => Number((await pool.query<{ n: string }>(text, params)).rows[0]!.n),
    end: () => pool.end(),
  };
}

/** The NATS connection of a server's event pipeline. */
function connectionOf(t: TestServer): NatsConnection {
  const queue = t.server.events.queue as unknown as { connection?: NatsConnection } | undefined;
  assert.ok(queue?.connection, 'the pipeline is connected to NATS');
  return queue.connection;
}

/** The consumers of a stream, as the broker describes them. */
async function consumersOf(t: TestServer, stream: string): Promise<ConsumerInfo[]> {
  const found: ConsumerInfo[] = [];
  for await (const consumer of (await jetstreamManager(connectionOf(t))).consumers.list(stream)) found.push(consumer);
  return found;
}

/**
 * Waits until the events made so far are relayed and handled: nothing unpublished in the
 * outbox and nothing pending in the notifications group, twice in a row with nothing new
 * delivered between (handling an event may write another, which must go out too).
 */
async function settle(t: TestServer, stream: string, db: ReturnType<typeof sqlOf>): Promise<void> {
  let previous: number | undefined;
  await eventually('the events so far relayed and handled', 10_000, async () => {
    const group = await (await jetstreamManager(connectionOf(t))).consumers.info(stream, 'notifications');
    const idle =
      group.num_pending === 0 && group.num_ack_pending === 0 && (await db.count('select count(*) as n from outbox where published_at is null')) === 0;
    const settled = idle && previous === group.delivered.stream_seq;
    previous = idle ? group.delivered.stream_seq : undefined;
    return settled || undefined;
  });
}

/**
 * Waits up to 15 s for live deliveries after a broker restart, and fails naming what the
 * broadcast consumers hold otherwise. (An ordered consumer recreated after a restart can
 * stop pulling until its missed idle heartbeats reset it: the queue keeps pull requests
 * short, so that costs seconds, not the 40 s it once did.)
 */
async function liveAfterRestart(ctx: TestContext, t: TestServer, stream: string, what: string, done: () => boolean, got: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!done() && Date.now() < deadline) await sleep(50);
  if (done()) return;
  const broadcasts = (await consumersOf(t, stream)).filter((c) => !c.config.durable_name);
  assert.fail(
    `${what} within 15 s of the broker restart: got ${got()}; broadcast consumers ${JSON.stringify(broadcasts.map((c) => ({ pending: c.num_pending, waiting: c.num_waiting, delivered: c.delivered })))}`,
  );
}

/** Users and a resource: alice owns it and shares it with bob (read, update), so bob's changes notify her. */
async function seed(t: TestServer): Promise<{ alice: Session; bob: Session; doc: { id: string; version: number } }> {
  const register = async (email: string, name: string): Promise<Session> => {
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { email, name, password: `${name} long passphrase` } });
    assert.equal(created.statusCode, 201, created.body);
    return login(t, email, `${name} long passphrase`);
  };
  await register('admin@cluster.example', 'Admin');
  const alice = await register('alice@cluster.example', 'Alice');
  const bob = await register('bob@cluster.example', 'Bob');
  const created = await as(t, alice.token, 'POST', '/api/v1/resources', { name: 'Clustered', type: 'doc', data: { n: 0 } });
  assert.equal(created.statusCode, 201, created.body);
  const doc = created.json() as { id: string; version: number };
  const shared = await as(t, alice.token, 'POST', `/api/v1/resources/${doc.id}/shares`, { userId: bob.user.id, actions: ['read', 'update'] });
  assert.equal(shared.statusCode, 201, shared.body);
  return { alice, bob, doc };
}

/** Bob changes alice's resource through this instance's REST API; the API answers 200 whatever the broker does. */
async function change(t: TestServer, bob: Session, id: string, n: number): Promise<number> {
  const response = await as(t, bob.token, 'PATCH', `/api/v1/resources/${id}`, { data: { n } });
  assert.equal(response.statusCode, 200, response.body);
  return (response.json() as { version: number }).version;
}

/** alice's notifications as GET /api/v1/notifications lists them on this instance. */
async function listed(t: TestServer, session: Session): Promise<{ id: string; kind: string; payload: Record<string, unknown> }[]> {
  const response = await as(t, session.token, 'GET', '/api/v1/notifications?limit=100');
  assert.equal(response.statusCode, 200, response.body);
  return (response.json() as { items: { id: string; kind: string; payload: Record<string, unknown> }[] }).items;
}

const BASE_CONFIG = { 'shutdown.drainTimeoutMs': 2000, 'health.checkTimeoutMs': 500 };

describe('real-time across instances (shared PostgreSQL and NATS JetStream)', { skip: SKIP, timeout: 30_000 }, () => {
  const queueName = uniqueQueueName();
  const probes: WsProbe[] = [];
  const servers: TestServer[] = [];
  let database: TestDatabase | undefined;
  let db: ReturnType<typeof sqlOf> | undefined;
  let a: TestServer;
  let b: TestServer;
  let users: { alice: Session; bob: Session } | undefined;
  /** Which instance's notifications consumer handled which event. */
  const handled: { instance: string; eventId: string }[] = [];
  const handlersOf = (eventId: string) => handled.filter((h) => h.eventId === eventId).map((h) => h.instance);

  before(async () => {
    database = await createTestDatabase('postgres');
    db = sqlOf(database);
    const config = { ...BASE_CONFIG, 'queue.url': NATS_URL, 'queue.name': queueName };
    for (let i = 0; i < 2; i++) {
      const t = await startTestServer('postgres', { config, database: shared(database) });
      servers.push(t);
      // Both run the notifications group and a broadcast subscriber before anything changes.
      await t.server.events.started;
      assert.equal(t.server.events.queue?.kind, 'nats');
      // Watch the group's handler (the consumer looks it up at each event).
      const service = t.server.events.deps.notifications;
      const record = service.record.bind(service);
      const instance = i === 0 ? 'A' : 'B';
      service.record = async (ctx, event) => {
        handled.push({ instance, eventId: event.id });
        return record(ctx, event);
      };
    }
    [a, b] = servers as [TestServer, TestServer];
  });
  after(async () => {
    for (const probe of probes) probe.close();
    await Promise.allSettled(servers.map((t) => t.close()));
    await db?.end();
    await database?.drop();
    await deleteStreams(NATS_URL!, [queueName]);
  });

  it('delivers a change made on instance A to a subscriber on instance B exactly once, and stores its notification once', async () => {
    const { alice, bob, doc } = await seed(a);
    users = { alice, bob };
    // Both instances run the group: two pull subscriptions wait on the one durable consumer.
    const group = await (await jetstreamManager(connectionOf(a))).consumers.info(queueName, 'notifications');
    assert.ok(group.num_waiting >= 2, `pull requests from both instances on the notifications group: ${group.num_waiting}`);

    const onB = await WsProbe.connect(b.url, alice.token);
    const onA = await WsProbe.connect(a.url, alice.token);
    probes.push(onB, onA);
    onB.subscribe('r', RESOURCE_CHANGED, { id: doc.id });
    onB.subscribe('n', NOTIFICATION_RECEIVED);
    onA.subscribe('r', RESOURCE_CHANGED, { id: doc.id });
    await eventually('the subscriptions registered on both instances', 5000, () => (liveFeeds(b) >= 2 && liveFeeds(a) >= 1) || undefined);

    const version = await change(a, bob, doc.id, 1);
    const seen = await eventually('the change and its notification on B', 10_000, () => {
      const changes = changesOf(onB, 'r', 'UPDATED');
      const notes = notificationsOf(onB, 'n', 'resource.updated', doc.id);
      return changes.length > 0 && notes.length > 0 ? { change: changes[0]!, notification: notes[0]! } : undefined;
    });
    assert.equal(seen.change.resourceId, doc.id);
    assert.equal(seen.change.version, version);
    assert.equal(seen.change.actorId, bob.user.id);
    assert.equal(seen.change.resource?.id, doc.id);
    assert.equal(seen.notification.payload.version, version);
    assert.equal(seen.notification.payload.actorId, bob.user.id);
    // A's own subscriber got it too: every instance's broadcast sees every event.
    await eventually('the change on A as well', 5000, () => (changesOf(onA, 'r', 'UPDATED').length > 0 ? true : undefined));

    // Nothing comes twice, however long one waits.
    await sleep(1500);
    assert.equal(changesOf(onB, 'r', 'UPDATED').length, 1, `resourceChanged on B: ${JSON.stringify(onB.messages)}`);
    assert.equal(notificationsOf(onB, 'n', 'resource.updated', doc.id).length, 1, `notificationReceived on B: ${JSON.stringify(onB.messages)}`);
    assert.equal(changesOf(onA, 'r', 'UPDATED').length, 1, 'resourceChanged on A');

    const eventId = seen.change.eventId!;
    assert.equal(await db!.count('select count(*) as n from outbox where id = $1 and published_at is not null', [eventId]), 1, 'the event was relayed');
    assert.equal(handlersOf(eventId).length, 1, `one instance handled the event: ${JSON.stringify(handlersOf(eventId))}`);
    assert.equal(await db!.count('select count(*) as n from notifications where event_id = $1', [eventId]), 1, 'one notification for the event');
    const [row] = await db!.query<{ id: string; user_id: string }>('select id, user_id from notifications where event_id = $1', [eventId]);
    assert.deepEqual(row, { id: seen.notification.id, user_id: alice.user.id });
    assert.equal(
      await db!.count(`select count(*) as n from outbox where topic = 'notification.created' and payload->'notification'->>'id' = $1`, [row!.id]),
      1,
      'one notification.created event',
    );
    for (const t of [a, b]) {
      const mine = (await listed(t, alice)).filter((n) => n.kind === 'resource.updated' && n.payload.resourceId === doc.id);
      assert.deepEqual(
        mine.map((n) => n.id),
        [seen.notification.id],
        `listed once on ${t === a ? 'A' : 'B'}`,
      );
    }
  });

  it('stores each of a burst of changes once while both instances consume the group, and B delivers each once', async (ctx) => {
    // The users of the test above. The share is made before bob's first request to B: an
    // instance without a shared cache keeps a user's grants for up to 1 s (by design), so a
    // grant made on A could be unseen on B for that long had B loaded them already.
    const { alice, bob } = users!;
    const created = await as(a, alice.token, 'POST', '/api/v1/resources', { name: 'Burst', type: 'doc', data: { n: 0 } });
    assert.equal(created.statusCode, 201, created.body);
    const doc = created.json() as { id: string };
    assert.equal(
      (await as(a, alice.token, 'POST', `/api/v1/resources/${doc.id}/shares`, { userId: bob.user.id, actions: ['read', 'update'] })).statusCode,
      201,
    );

    const onB = await WsProbe.connect(b.url, alice.token);
    probes.push(onB);
    const feedsBefore = liveFeeds(b);
    onB.subscribe('n', NOTIFICATION_RECEIVED);
    await eventually('the subscription registered on B', 5000, () => (liveFeeds(b) > feedsBefore ? true : undefined));

    // Alternate the instance the change is made on.
    const versions: number[] = [];
    for (let i = 1; i <= 10; i++) versions.push(await change(i % 2 === 0 ? a : b, bob, doc.id, i));
    await eventually('10 notifications on B', 10_000, () => (notificationsOf(onB, 'n', 'resource.updated', doc.id).length >= 10 ? true : undefined));
    await sleep(1000);
    const delivered = notificationsOf(onB, 'n', 'resource.updated', doc.id);
    assert.deepEqual(
      delivered.map((n) => n.payload.version).sort((x, y) => x! - y!),
      versions,
      'each change once (two instances consume the group, so the order may interleave)',
    );
    assert.equal(new Set(delivered.map((n) => n.id)).size, 10);
    const rows = await db!.query<{ event_id: string; n: string }>(
      `select o.id as event_id, count(n.id) as n from outbox o left join notifications n on n.event_id = o.id where o.aggregate_id = $1 and o.topic = 'resource.updated' group by o.id`,
      [doc.id],
    );
    assert.equal(rows.length, 10);
    assert.deepEqual(
      rows.map((r) => Number(r.n)),
      Array(10).fill(1),
      'one notification per event',
    );
    const handlers = rows.map((r) => handlersOf(r.event_id));
    assert.ok(
      handlers.every((h) => h.length === 1),
      `each event handled by one instance: ${JSON.stringify(handlers)}`,
    );
    ctx.diagnostic(
      `notifications group: A handled ${handlers.filter((h) => h[0] === 'A').length}, B ${handlers.filter((h) => h[0] === 'B').length} of 10 events`,
    );
  });

  it('has B drop what it cached of a share made or taken on A once the event reaches it (no shared cache)', async () => {
    const { alice, bob } = users!;
    const created = await as(a, alice.token, 'POST', '/api/v1/resources', { name: 'Lent across', type: 'doc', data: {} });
    assert.equal(created.statusCode, 201, created.body);
    const doc = created.json() as { id: string };
    const onB = await WsProbe.connect(b.url, alice.token);
    probes.push(onB);
    const feedsBefore = liveFeeds(b);
    onB.subscribe('w', RESOURCE_CHANGED, { id: doc.id });
    await eventually('the subscription registered on B', 5000, () => (liveFeeds(b) > feedsBefore ? true : undefined));
    /** B has handled an event of this kind once alice's subscriber there has it (caches are dropped first). */
    const handledOnB = (kind: string) => eventually(`${kind} on B`, 5000, () => (changesOf(onB, 'w', kind).length > 0 ? true : undefined));
    const readOnB = async () => (await as(b, bob.token, 'GET', `/api/v1/resources/${doc.id}`)).statusCode;

    // Bob's grants are cached on B (for a second: no Redis) without the share.
    assert.equal(await readOnB(), 404);
    assert.equal((await as(a, alice.token, 'POST', `/api/v1/resources/${doc.id}/shares`, { userId: bob.user.id, actions: ['read'] })).statusCode, 201);
    await handledOnB('SHARED');
    assert.equal(await readOnB(), 200, 'B reads bob’s grants again once it heard of the share');

    assert.equal((await as(a, alice.token, 'DELETE', `/api/v1/resources/${doc.id}/shares/${bob.user.id}`)).statusCode, 204);
    await handledOnB('UNSHARED');
    assert.equal(await readOnB(), 404, 'and once it heard the share was taken back');
  });
});

describe(
  'real-time through a broker outage',
  { skip: SKIP || (NATS_SERVER_BIN ? false : 'needs nats-server installed (the test starts and stops a broker of its own)'), timeout: 40_000 },
  () => {
    let nats: DedicatedNats | undefined;
    let database: TestDatabase | undefined;
    let db: ReturnType<typeof sqlOf> | undefined;
    let t: TestServer | undefined;
    let seeded: Awaited<ReturnType<typeof seed>> | undefined;
    const queueName = uniqueQueueName();
    const others: TestServer[] = [];
    const probes: WsProbe[] = [];

    before(async () => {
      nats = await DedicatedNats.create();
      await nats.start();
      database = await createTestDatabase('postgres');
      db = sqlOf(database);
      t = await startTestServer('postgres', {
        config: { ...BASE_CONFIG, 'queue.url': nats.url, 'queue.name': queueName, 'events.maxBackoffMs': 1000 },
        database: shared(database),
      });
      await t.server.events.started;
    });
    // Always: no nats-server child outlives the test, whatever failed. The broker is brought
    // back first so the server's queue connection closes cleanly instead of waiting on it.
    after(async () => {
      for (const probe of probes) probe.close();
      if (nats && !nats.running && t) await nats.start().catch(() => undefined);
      await Promise.allSettled([t, ...others].map((server) => server?.close()));
      await nats?.destroy();
      await db?.end();
      await database?.drop();
    });

    it('keeps the API answering while the broker is down, and delivers every change once, in order, when it is back', async (ctx) => {
      const server = t!;
      const broker = nats!;
      seeded = await seed(server);
      const { alice, bob, doc } = seeded;
      const readiness = async () => {
        const response = await fetch(`${server.url}/health/ready`);
        return { status: response.status, body: (await response.json()) as { status: string; checks: Record<string, { status: string; error?: string }> } };
      };
      // Before the outage: everything relayed and handled, the queue check up.
      await settle(server, queueName, db!);
      const healthy = await readiness();
      assert.equal(healthy.status, 200);
      assert.equal(healthy.body.checks.queue?.status, 'up', JSON.stringify(healthy.body));
      const [lastBefore] = await listed(server, alice);
      assert.ok(lastBefore, 'alice has a notification from before the outage (her login)');

      await broker.stop();

      // A subscriber that connects during the outage (the WebSocket API needs only the database).
      const live = await WsProbe.connect(server.url, alice.token);
      probes.push(live);
      live.subscribe('n', NOTIFICATION_RECEIVED);
      live.subscribe('r', RESOURCE_CHANGED, { id: doc.id });
      await eventually('the subscriptions registered', 5000, () => (liveFeeds(server) >= 2 ? true : undefined));

      const started = Date.now();
      const versions: number[] = [];
      for (let i = 1; i <= 5; i++) versions.push(await change(server, bob, doc.id, i));
      const apiMs = Date.now() - started;
      assert.ok(apiMs < 5000, `5 changes took ${apiMs} ms: the API does not wait for the broker`);

      const pending = await db!.query<{ id: string; published_at: Date | null }>(
        `select id, published_at from outbox where aggregate_id = $1 and topic = 'resource.updated' order by id`,
        [doc.id],
      );
      assert.equal(pending.length, 5);
      assert.ok(
        pending.every((r) => r.published_at === null),
        `all 5 wait in the outbox: ${JSON.stringify(pending)}`,
      );
      const eventIds = pending.map((r) => r.id);

      // Readiness: the queue check fails, the instance still takes traffic (degraded, not 503).
      const degraded = await eventually('readiness to see the queue down', 5000, async () => {
        const answer = await readiness();
        return answer.body.checks.queue?.status === 'down' ? answer : undefined;
      });
      assert.equal(degraded.status, 200, JSON.stringify(degraded.body));
      assert.equal(degraded.body.status, 'degraded');
      assert.equal(degraded.body.checks.database?.status, 'up');

      // Nothing reached the subscriber meanwhile.
      assert.equal(notificationsOf(live, 'n', 'resource.updated', doc.id).length, 0);
      assert.equal(changesOf(live, 'r', 'UPDATED').length, 0);

      const restarted = Date.now();
      await broker.start();
      await eventually('the 5 outbox rows published', 15_000, async () =>
        (await db!.count(`select count(*) as n from outbox where id = any($1::uuid[]) and published_at is null`, [eventIds])) === 0 ? true : undefined,
      );
      const publishedMs = Date.now() - restarted;
      await eventually('a notification stored for each change', 15_000, async () =>
        (await db!.count(`select count(*) as n from notifications where event_id = any($1::uuid[])`, [eventIds])) >= 5 ? true : undefined,
      );
      const storedMs = Date.now() - restarted;

      const rows = await db!.query<{ event_id: string; user_id: string }>(
        `select event_id, user_id from notifications where event_id = any($1::uuid[]) order by id`,
        [eventIds],
      );
      assert.deepEqual(
        rows,
        eventIds.map((id) => ({ event_id: id, user_id: alice.user.id })),
        'one stored notification per change, in order',
      );
      const ready = await eventually('readiness to see the queue up again', 5000, async () => {
        const answer = await readiness();
        return answer.body.checks.queue?.status === 'up' ? answer : undefined;
      });
      assert.equal(ready.body.status, 'healthy');

      // A client resuming after its last notification gets all 5, in order (the durable path).
      const resumed = await WsProbe.connect(server.url, alice.token);
      probes.push(resumed);
      resumed.subscribe('n', NOTIFICATION_RECEIVED, { after: lastBefore.id });
      await eventually('the 5 replayed to the resumed subscriber', 5000, () => (resumed.messages.filter((m) => m.id === 'n').length >= 5 ? true : undefined));

      // The subscriber connected during the outage gets them live.
      await liveAfterRestart(
        ctx,
        server,
        queueName,
        'all 5 notifications and changes live',
        () => notificationsOf(live, 'n', 'resource.updated', doc.id).length >= 5 && changesOf(live, 'r', 'UPDATED').length >= 5,
        () => `${notificationsOf(live, 'n', 'resource.updated', doc.id).length} notifications and ${changesOf(live, 'r', 'UPDATED').length} changes`,
      );
      const liveMs = Date.now() - restarted;

      // Nothing comes twice, to either (the relay's retry of an event the broker may already
      // hold is one message to the broker: it deduplicates on the event id).
      await sleep(1500);
      const expected = versions.map((v) => `resource.updated v${v}`);
      const resumedNotes = resumed.messages.filter((m) => m.id === 'n').map((m) => deliveryOf(m));
      assert.deepEqual(
        resumedNotes.map((d) => `${d.notification?.kind} v${d.notification?.payload.version}`),
        expected,
        'the resumed subscriber: every notification once, in order, and nothing else',
      );
      assert.ok(resumedNotes.every((d) => !d.resync));
      assert.deepEqual(
        notificationsOf(live, 'n', 'resource.updated', doc.id).map((n) => `${n.kind} v${n.payload.version}`),
        expected,
        'the live subscriber: every notification once, in order',
      );
      assert.deepEqual(
        changesOf(live, 'r', 'UPDATED').map((c) => c.version),
        versions,
        'the live subscriber: every change once, in order',
      );
      assert.deepEqual(
        notificationsOf(live, 'n', 'resource.updated', doc.id).map((n) => n.id),
        resumedNotes.map((d) => d.notification?.id),
        'the same notifications both ways',
      );
      ctx.diagnostic(
        `5 changes during the outage answered in ${apiMs} ms; after the broker restarted: published ${publishedMs} ms, stored ${storedMs} ms, delivered live ${liveMs} ms`,
      );
    });

    it('sends the live subscribers of an instance that had received no event yet only new events after the broker restarts', async (ctx) => {
      const first = t!;
      const broker = nats!;
      assert.ok(seeded, 'the test above seeded users and a resource');
      const { alice, bob, doc } = seeded;
      await settle(first, queueName, db!);
      // A second instance on the same stream; nothing is published from here to the restart,
      // so its broadcast subscriber receives nothing before it (no login either: A's token
      // serves). A consumer reset then must not start it over at the stream's first event.
      const second = await startTestServer('postgres', {
        config: { ...BASE_CONFIG, 'queue.url': broker.url, 'queue.name': queueName, 'events.maxBackoffMs': 1000 },
        database: shared(database!),
      });
      others.push(second);
      await second.server.events.started;
      const ws = await WsProbe.connect(second.url, alice.token);
      probes.push(ws);
      ws.subscribe('r', RESOURCE_CHANGED, { id: doc.id });
      ws.subscribe('n', NOTIFICATION_RECEIVED);
      await eventually('the subscriptions registered', 5000, () => (liveFeeds(second) >= 2 ? true : undefined));

      await broker.stop();
      await broker.start();
      // A new change once the first instance publishes again: the second delivers it, and only it.
      await eventually('the first instance to reach the broker again', 10_000, () =>
        first.server.events.ping().then(
          () => true,
          () => undefined,
        ),
      );
      const version = await change(first, bob, doc.id, 100);
      const describeAll = () => ({
        changes: ws.messages.filter((m) => m.id === 'r').map((m) => `${changeOf(m).kind} v${changeOf(m).version}`),
        notifications: ws.messages
          .filter((m) => m.id === 'n')
          .map((m) => `${deliveryOf(m).notification?.kind} v${deliveryOf(m).notification?.payload.version ?? '-'}`),
      });
      await liveAfterRestart(
        ctx,
        second,
        queueName,
        'the new change and its notification on the second instance',
        () =>
          changesOf(ws, 'r', 'UPDATED').some((c) => c.version === version) &&
          notificationsOf(ws, 'n', 'resource.updated', doc.id).some((n) => n.payload.version === version),
        () => JSON.stringify(describeAll()),
      );
      await sleep(500);
      assert.deepEqual(describeAll(), { changes: [`UPDATED v${version}`], notifications: [`resource.updated v${version}`] }, 'nothing old replayed as new');
    });
  },
);

describe('real-time after a crash with events committed but not published', { skip: SKIP, timeout: 30_000 }, () => {
  const queueName = uniqueQueueName();
  const servers: TestServer[] = [];
  let database: TestDatabase | undefined;
  let db: ReturnType<typeof sqlOf> | undefined;

  before(async () => {
    database = await createTestDatabase('postgres');
    db = sqlOf(database);
  });
  after(async () => {
    await Promise.allSettled(servers.map((t) => t.close()));
    await db?.end();
    await database?.drop();
    await deleteStreams(NATS_URL!, [queueName]);
  });

  it('has the next instance to start relay what the stopped one committed, and store its notification', async (ctx) => {
    // A: a queue nobody listens on, so its pipeline never starts and events wait.
    const dead = `nats://127.0.0.1:${await freePort()}`;
    const a = await startTestServer('postgres', {
      config: { ...BASE_CONFIG, 'queue.url': dead, 'queue.name': queueName, 'events.maxBackoffMs': 1000 },
      database: shared(database!),
    });
    servers.push(a);
    const { alice, bob, doc } = await seed(a);
    const version = await change(a, bob, doc.id, 1);
    const [event] = await db!.query<{ id: string; published_at: Date | null }>(
      `select id, published_at from outbox where aggregate_id = $1 and topic = 'resource.updated'`,
      [doc.id],
    );
    assert.ok(event, 'the change wrote its event');
    assert.equal(event.published_at, null);
    assert.equal(a.server.events.queue, undefined, 'A never reached a queue');
    const leftByA = (await db!.query<{ id: string }>('select id from outbox where published_at is null')).map((r) => r.id);
    assert.ok(leftByA.length >= 5, `registrations, logins, creation, share and change wait: ${leftByA.length}`);
    await a.server.stop();
    assert.equal(await db!.count('select count(*) as n from outbox where published_at is null'), leftByA.length, 'stopping A published nothing');

    const started = Date.now();
    const b = await startTestServer('postgres', { config: { ...BASE_CONFIG, 'queue.url': NATS_URL, 'queue.name': queueName }, database: shared(database!) });
    servers.push(b);
    await b.server.events.started;
    await eventually('B to relay every pending row of A', 10_000, async () =>
      (await db!.count('select count(*) as n from outbox where id = $1 and published_at is not null', [event.id])) === 1 ? true : undefined,
    );
    const notification = await eventually('B to store the notification of A’s change', 10_000, async () => {
      const [row] = await db!.query<{ id: string; user_id: string; kind: string }>('select id, user_id, kind from notifications where event_id = $1', [
        event.id,
      ]);
      return row;
    });
    const relayedMs = Date.now() - started;
    assert.deepEqual({ user: notification.user_id, kind: notification.kind }, { user: alice.user.id, kind: 'resource.updated' });
    const mine = (await listed(b, alice)).find((n) => n.id === notification.id);
    assert.ok(mine, 'alice sees it through B');
    assert.equal(mine.payload.version, version);
    // Everything A left behind went out, not only this change.
    await eventually('no row of A left unpublished', 10_000, async () =>
      (await db!.count(`select count(*) as n from outbox where id = any($1::uuid[]) and published_at is null`, [leftByA])) === 0 ? true : undefined,
    );
    ctx.diagnostic(`B relayed A's event and stored its notification ${relayedMs} ms after it started`);
  });
});
