import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestDatabase, TEST_DATABASE_URL, type TestDatabase } from '../support/databases.js';
import { expectStatus, type Instance, liveSubscriptions, queueUp, spawnInstance, stop, stopAll, until } from '../support/instances.js';
import { deleteStreams } from '../support/nats.js';
import { changeOf, nextData, NOTIFICATION_RECEIVED, RESOURCE_CHANGED, WsProbe, type WsMessage } from '../support/ws.js';

/*
 * Changes reach subscribers on every instance (docs/notifications.md "Subscriptions over
 * WebSocket"), as it is deployed: two server processes (`node src/main.ts`, configured
 * by PCF_* only) sharing one PostgreSQL database and one NATS JetStream stream. A change
 * made through one reaches a subscriber connected to the other exactly once, both as
 * resourceChanged and as the owner's notificationReceived, in either direction.
 * test/e2e/realtime.cluster.test.ts covers more cases with two servers in one process,
 * where they share a module graph and an event loop; here nothing is shared but the
 * database and the broker.
 */

const NATS_URL = process.env.PCF_TEST_NATS_URL;
const SKIP =
  TEST_DATABASE_URL && NATS_URL
    ? false
    : 'needs PCF_TEST_DATABASE_URL (one PostgreSQL database shared by the processes) and PCF_TEST_NATS_URL (the JetStream broker between them)';

/** How long a delivery may take (it usually takes a few milliseconds). */
const DELIVERY_MS = 10_000;
/** How long to keep listening after the first delivery, for a duplicate that must not come. */
const DUPLICATE_WINDOW_MS = 1500;

after(() => stopAll());

interface Notification {
  id: string;
  kind: string;
  payload: { resourceId?: string; version?: number; actorId?: string };
}

const deliveredNotification = (message: WsMessage): Notification | null =>
  nextData<{ notificationReceived: { resync: boolean; notification: Notification | null } }>(message).notificationReceived.notification;

/** Every `next` of one operation, so a test sees duplicates and strays as well as what it waits for. */
const nextsOf = (ws: WsProbe, id: string): WsMessage[] => ws.messages.filter((m) => m.id === id && m.type === 'next');

describe('real-time across two server processes (shared PostgreSQL and NATS JetStream)', { skip: SKIP, timeout: 120_000 }, () => {
  const tag = randomBytes(4).toString('hex');
  const queueName = `pcf-test-${randomBytes(6).toString('hex')}`;
  const password = 'processes test passphrase';
  const probes: WsProbe[] = [];
  let database: TestDatabase | undefined;
  let a: Instance;
  let b: Instance;
  let alice: { id: string; token: string };
  let bob: { id: string; token: string };

  const register = async (on: Instance, label: string): Promise<{ id: string; token: string }> => {
    const email = `${label}-${tag}@processes.example`;
    const created = await expectStatus(on, 'POST', '/auth/register', 201, { body: { email, name: label, password } });
    const session = await expectStatus(on, 'POST', '/auth/login', 200, { body: { email, password } });
    return { id: (created.user as { id: string }).id, token: session.token as string };
  };

  before(async () => {
    database = await createTestDatabase('postgres');
    assert.ok(database.options.kind === 'postgres');
    const env = {
      PCF_DATABASE_URL: database.options.url,
      PCF_QUEUE_URL: NATS_URL!,
      PCF_QUEUE_NAME: queueName,
      // Stopping waits for in-flight requests; none is left by then, so no need for 30 s.
      PCF_SHUTDOWN_DRAIN_TIMEOUT_MS: '2000',
    };
    [a, b] = await Promise.all([spawnInstance('A', env), spawnInstance('B', env)]);
    // Both must be consuming before the first change: the broadcast starts at new events.
    await Promise.all([queueUp(a, DELIVERY_MS), queueUp(b, DELIVERY_MS)]);
    // The first account is the admin; alice and bob are members, all made through A.
    await register(a, 'admin');
    alice = await register(a, 'alice');
    bob = await register(a, 'bob');
  });
  after(async () => {
    for (const probe of probes) probe.close();
    await stop([a, b].filter(Boolean));
    await database?.drop();
    await deleteStreams(NATS_URL!, [queueName]);
  });

  /**
   * alice owns a resource shared with bob (made through `from`); she subscribes on `to` to
   * its changes and to her notifications; bob changes it through `from`. She must get the
   * change once and the notification of it once, and nothing else about it.
   */
  async function deliversOnce(from: Instance, to: Instance): Promise<void> {
    const created = await expectStatus(from, 'POST', '/resources', 201, {
      token: alice.token,
      body: { name: `Watched ${from.name}→${to.name}`, type: 'doc', data: { n: 0 } },
    });
    const id = created.id as string;
    await expectStatus(from, 'POST', `/resources/${id}/shares`, 201, { token: alice.token, body: { userId: bob.id, actions: ['read', 'update'] } });

    const ws = await WsProbe.connect(to.base, alice.token);
    probes.push(ws);
    const before = await liveSubscriptions(to);
    ws.subscribe('r', RESOURCE_CHANGED, { id });
    ws.subscribe('n', NOTIFICATION_RECEIVED);
    // A change committed before a subscription starts is rightly not delivered: wait for both.
    await until(
      `both subscriptions live on ${to.name}`,
      5000,
      async () => (await liveSubscriptions(to)) >= before + 2,
      () => JSON.stringify(ws.messages),
    );

    const changed = await expectStatus(from, 'PATCH', `/resources/${id}`, 200, { token: bob.token, body: { data: { n: 1 } } });
    const version = changed.version as number;
    assert.equal(version, 2);

    const updates = () => nextsOf(ws, 'r').map(changeOf);
    // alice's other notifications (her login's) may arrive too; only this resource's count here.
    const notes = () =>
      nextsOf(ws, 'n')
        .map(deliveredNotification)
        .filter((n): n is Notification => n !== null && n.payload.resourceId === id);
    await until(
      `the change and its notification on ${to.name}`,
      DELIVERY_MS,
      () => updates().length > 0 && notes().length > 0,
      () => `; got ${JSON.stringify(ws.messages)}\n${from.name}:\n${from.output()}\n${to.name}:\n${to.output()}`,
    );
    await sleep(DUPLICATE_WINDOW_MS);

    const changes = updates();
    assert.deepEqual(
      changes.map((c) => ({ kind: c.kind, resourceId: c.resourceId, version: c.version, actorId: c.actorId })),
      [{ kind: 'UPDATED', resourceId: id, version, actorId: bob.id }],
      `resourceChanged on ${to.name}: the change made on ${from.name}, once`,
    );
    const received = notes();
    assert.deepEqual(
      received.map((n) => ({ kind: n.kind, version: n.payload.version, actorId: n.payload.actorId })),
      [{ kind: 'resource.updated', version, actorId: bob.id }],
      `notificationReceived on ${to.name}: the notification of the change, once`,
    );
    const ids = nextsOf(ws, 'n').map((m) => deliveredNotification(m)?.id);
    assert.equal(new Set(ids).size, ids.length, `no notification delivered twice: ${JSON.stringify(ids)}`);
    assert.ok(!ws.messages.some((m) => m.type === 'error' || m.type === 'complete'), `both subscriptions still running: ${JSON.stringify(ws.messages)}`);

    // Stored once, too: alice's list shows it once, whichever instance she asks.
    for (const instance of [from, to]) {
      const list = await expectStatus(instance, 'GET', '/notifications?limit=100', 200, { token: alice.token });
      const listed = (list.items as Notification[]).filter((n) => n.kind === 'resource.updated' && n.payload.resourceId === id);
      assert.deepEqual(
        listed.map((n) => n.id),
        [received[0]!.id],
        `listed once on ${instance.name}`,
      );
    }
    // Last, so a failure here does not hide the checks above: the event's `resource` is the
    // resource as it is now, which is at least as new as the change the event announces.
    assert.equal(
      changes[0]!.resource?.version,
      version,
      `resourceChanged on ${to.name} carries the resource as the change left it (version ${version}), not an older copy`,
    );
    ws.close();
  }

  it('delivers a change made through A to a subscriber on B exactly once, with its notification once', async () => {
    await deliversOnce(a, b);
  });

  it('delivers a change made through B to a subscriber on A exactly once, with its notification once', async () => {
    await deliversOnce(b, a);
  });

  it('leaves no errors in either process’s log', () => {
    for (const instance of [a, b]) assert.doesNotMatch(instance.output(), /"level":"(error|fatal)"/, `${instance.name}:\n${instance.output()}`);
  });
});
