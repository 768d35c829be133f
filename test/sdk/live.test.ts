import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { createClient, PcfError } from '../../sdk/src/index.js';
import { live, type LiveState, type ResourceChangedPayload } from '../../sdk/src/live/index.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { pgliteTemplate } from '../support/template.js';

/**
 * `pcf.live` against the real server: events in order, RESYNC surfaced, notifications, `break`
 * closing the subscription, and a subscription that outlives its server: stopped, changed
 * through another instance on the same database, started again on the same port, the
 * iterator yields every change in order.
 */

let serial = 0;
/** Every live client made, closed after each test however it ended (an open one would reconnect forever). */
const opened: { live: { close(): Promise<void> } }[] = [];
afterEach(async () => {
  for (const client of opened.splice(0)) await client.live.close();
});

async function liveClient(url: string, name: string) {
  serial += 1;
  const pcf = createClient({ url, WebSocket }).with(live({ minDelayMs: 50, maxDelayMs: 500 }));
  opened.push(pcf);
  const input = { email: `${name.toLowerCase()}.${serial}@live.example`, name, password: `${name} long passphrase` };
  const user = await pcf.auth.register(input);
  await pcf.auth.login({ email: input.email, password: input.password });
  return Object.assign(pcf, { me: user.id, input });
}

/** Live subscriptions the server holds, from its /metrics gauge. */
async function liveCount(t: TestServer): Promise<number> {
  const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
  return Number(/^live_subscriptions (\d+)$/m.exec(text)?.[1] ?? NaN);
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The promise's value, or a failure naming what did not come within `timeoutMs` (never a hang). */
async function within<T>(promise: Promise<T>, what: string, timeoutMs = 15_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs)));
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** The next `n` events of an iterator, failing if they do not come within the deadline. */
async function take<T>(iterator: AsyncIterator<T>, n: number, timeoutMs = 15_000): Promise<T[]> {
  const events: T[] = [];
  const deadline = AbortSignal.timeout(timeoutMs);
  while (events.length < n) {
    const next = await Promise.race([
      iterator.next(),
      new Promise<never>((_, reject) =>
        deadline.addEventListener('abort', () => reject(new Error(`only ${events.length} of ${n} events: ${JSON.stringify(events)}`))),
      ),
    ]);
    if (next.done) assert.fail(`the iterator ended after ${events.length} of ${n} events`);
    events.push(next.value);
  }
  return events;
}

for (const kind of DATABASE_KINDS) {
  describe(`SDK live subscriptions (${kind})`, () => {
    let t: TestServer;

    before(async () => {
      t = await startTestServer(kind);
    });
    after(() => t.close());

    it('yields each change of a resource in order, and break closes the subscription', async () => {
      const alice = await liveClient(t.url, 'Alice');
      const doc = await alice.resources.create({ name: 'Watched', type: 'doc', data: { n: 0 } });
      const before = await liveCount(t);
      const changes = alice.live.resource(doc.id);
      const first = changes.next();
      await until('the subscription is live', async () => (await liveCount(t)) > before);
      await alice.resources.update(doc, { data: { n: 1 } });
      await alice.resources.update(doc.id, { name: 'Renamed' });
      const [one, two] = [(await within(first, 'first change')).value as ResourceChangedPayload, ...(await take(changes, 1))];
      assert.deepEqual([one.kind, one.version, one.resource?.data], ['UPDATED', 2, { n: 1 }]);
      assert.deepEqual([two!.kind, two!.resource?.name], ['UPDATED', 'Renamed']);
      await alice.resources.update(doc.id, { name: 'Third' });
      for await (const third of changes) {
        assert.equal(third.resource?.name, 'Third');
        break;
      }
      await until('the server dropped the subscription', async () => (await liveCount(t)) === before);
      assert.equal((await changes.next()).done, true, 'ended');
      await alice.live.close();
    });

    it('surfaces RESYNC as an event and goes on; ends after DELETED', async () => {
      const bob = await liveClient(t.url, 'Bob');
      const doc = await bob.resources.create({ name: 'Old', type: 'doc', data: 1 });
      await bob.resources.update(doc, { data: 2 });
      const before = await liveCount(t);
      // An `after` the server no longer has: what happened since cannot be replayed.
      const changes = bob.live.resource(doc.id, { after: '00000000-0000-7000-8000-000000000000' });
      const [resync] = await take(changes, 1);
      assert.equal(resync!.kind, 'RESYNC');
      await until('the subscription is live', async () => (await liveCount(t)) > before);
      await bob.resources.update(doc.id, { data: 3 });
      await bob.resources.delete(doc.id);
      const rest = await take(changes, 2);
      assert.deepEqual(
        rest.map((e) => [e.kind, e.version]),
        [
          ['UPDATED', 3],
          ['DELETED', 3],
        ],
      );
      assert.equal((await changes.next()).done, true, 'completes after DELETED');
      await bob.live.close();
    });

    it('yields notifications, and throws a typed error for a resource it may not watch', async () => {
      const owner = await liveClient(t.url, 'Owner');
      const friend = await liveClient(t.url, 'Friend');
      const before = await liveCount(t);
      const inbox = friend.live.notifications();
      const first = inbox.next();
      await until('the subscription is live', async () => (await liveCount(t)) > before);
      const doc = await owner.resources.create({ name: 'For you', type: 'doc', data: {} });
      await owner.resources.share(doc.id, { userId: friend.me, actions: ['read'] });
      // The friend's own login.new may come first.
      let delivery = (await within(first, 'first notification')).value!;
      while (delivery.notification?.kind === 'login.new') [delivery] = await take(inbox, 1);
      assert.equal(delivery.resync, false);
      assert.equal(delivery.notification?.kind, 'resource.shared');
      assert.equal(delivery.notification?.payload.resourceId, doc.id);
      await inbox.return();

      const secret = await owner.resources.create({ name: 'Secret', type: 'doc', data: {} });
      await assert.rejects(friend.live.resource(secret.id).next(), (err: unknown) => err instanceof PcfError && err.code === 'NOT_FOUND');
      await owner.live.close();
      await friend.live.close();
    });

    it('reports its state: idle until a subscription, connected, idle after close, and connects again', async () => {
      const dave = await liveClient(t.url, 'Dave');
      const seen: LiveState[] = [];
      const stop = dave.live.onStateChange((state) => seen.push(state));
      assert.equal(dave.live.state, 'idle', 'lazy: no socket before a subscription');
      const inbox = dave.live.notifications();
      await until('connected', async () => dave.live.state === 'connected');
      await dave.live.close();
      assert.equal(dave.live.state, 'idle');
      assert.equal((await inbox.next()).done, true, 'close ended the subscription');
      // After close the client still works: the console closes it at every sign-in.
      const again = dave.live.notifications();
      await until('connected again', async () => dave.live.state === 'connected');
      assert.deepEqual(seen, ['connecting', 'connected', 'idle', 'connecting', 'connected']);
      stop();
      await again.return();
      await until('idle once the last subscription ends', async () => dave.live.state === 'idle');
      assert.equal(seen.length, 5, 'an unsubscribed listener hears nothing more');
    });

    it('ends quietly when its AbortSignal fires', async () => {
      const carol = await liveClient(t.url, 'Carol');
      const doc = await carol.resources.create({ name: 'Short-lived', type: 'doc', data: {} });
      const controller = new AbortController();
      const changes = carol.live.resource(doc.id, { signal: controller.signal });
      const pending = changes.next();
      controller.abort();
      assert.equal((await within(pending, 'the end')).done, true);
      await carol.live.close();
    });
  });
}

for (const kind of DATABASE_KINDS) {
  describe(`SDK live subscription across a server restart (${kind})`, () => {
    let database: TestDatabase;
    let dataDir: string | undefined;
    const servers: TestServer[] = [];

    /**
     * Servers that share one database: on disk for PGlite, the same PostgreSQL database otherwise.
     * Their drain is short: a socket the client has already left must not hold a stop for 30 s.
     */
    let seeded = false;
    const serve = async (port = 0): Promise<TestServer> => {
      const first = !seeded;
      seeded = true;
      const shared: TestDatabase =
        kind === 'pglite'
          ? {
              kind,
              options: { kind: 'pglite', dataDir, ...(first ? { loadDataDir: await pgliteTemplate() } : {}) },
              drop: async () => undefined,
            }
          : database;
      const server = await startTestServer(kind, { database: shared, config: { port, 'websocket.keepAliveMs': 1000, 'shutdown.drainTimeoutMs': 2000 } });
      servers.push(server);
      return server;
    };
    const stop = async (server: TestServer) => {
      servers.splice(servers.indexOf(server), 1);
      await server.server.stop();
    };

    before(async () => {
      if (kind === 'pglite') dataDir = mkdtempSync(join(tmpdir(), 'pcf-sdk-live-'));
      else database = await createTestDatabase(kind);
    });
    after(async () => {
      for (const server of servers) await server.server.stop().catch(() => undefined);
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
      else await database.drop();
    });

    it('loses no event: stopped, changed elsewhere, started again on the same port', async () => {
      const first = await serve();
      const port = Number(new URL(first.url).port);
      const pcf = await liveClient(first.url, 'Survivor');
      const doc = await pcf.resources.create({ name: 'Durable', type: 'doc', data: { n: 0 } });
      const changes = pcf.live.resource(doc.id);
      const pending = changes.next();
      await until('the subscription is live', async () => (await liveCount(first)) > 0);
      await pcf.resources.update(doc, { data: { n: 1 } });
      const one = (await within(pending, 'first change')).value!;
      assert.equal(one.version, 2);

      await stop(first);
      // Meanwhile, on another instance of the same database, two more changes.
      const other = await serve();
      const elsewhere = createClient({ url: other.url });
      await elsewhere.auth.login({ email: pcf.input.email, password: pcf.input.password });
      const changed = await elsewhere.resources.update(doc.id, { data: { n: 2 } }, { revision: '*' });
      await elsewhere.resources.update(changed, { data: { n: 3 } });
      await stop(other);

      const again = await serve(port);
      assert.equal(again.url, first.url, 'the same address');
      const [two, three] = await take(changes, 2, 30_000);
      await pcf.resources.update(doc.id, { data: { n: 4 } }, { revision: '*' });
      const [four] = await take(changes, 1);
      assert.deepEqual(
        [one, two!, three!, four!].map((e) => [e.kind, e.version]),
        [
          ['UPDATED', 2],
          ['UPDATED', 3],
          ['UPDATED', 4],
          ['UPDATED', 5],
        ],
      );
      const ids = [one, two!, three!, four!].map((e) => e.eventId!);
      assert.deepEqual([...ids].sort(), ids, 'in order');
      await changes.return();
      await pcf.live.close();
    });

    it('reports reconnecting while the server is away and connected once it is back', async () => {
      // One server at a time on the shared database (PGlite's directory takes one).
      for (const running of [...servers]) await stop(running);
      const first = await serve();
      const port = Number(new URL(first.url).port);
      const pcf = await liveClient(first.url, 'Watcher');
      const seen: LiveState[] = [];
      pcf.live.onStateChange((state) => seen.push(state));
      const inbox = pcf.live.notifications();
      await until('connected', async () => pcf.live.state === 'connected');

      await stop(first);
      await until('reconnecting', async () => pcf.live.state === 'reconnecting');

      await serve(port);
      await until('connected again', async () => pcf.live.state === 'connected', 30_000);
      assert.deepEqual(seen.slice(0, 3), ['connecting', 'connected', 'reconnecting']);
      assert.equal(seen.at(-1), 'connected');
      assert.ok(!seen.includes('idle'), `never idle while a subscription waits: ${seen.join(', ')}`);
      await inbox.return();
      await pcf.live.close();
    });
  });
}
