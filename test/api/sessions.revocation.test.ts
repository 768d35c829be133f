import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestDatabase, DATABASE_KINDS, TEST_DATABASE_URL, type TestDatabase } from '../support/databases.js';
import { signedInUser, type Session } from '../support/factories.js';
import { as, login } from '../support/identity.js';
import { SESSION_IDS_PER_EVENT } from '../../src/services/auth/sessions.js';
import { deleteStreams } from '../support/nats.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { changeOf, RESOURCE_CHANGED, WsProbe, type Closed, type WsMessage } from '../support/ws.js';

/*
 * A session that ends (logout, revocation, a password or email change, the user deleted)
 * closes its sockets at once, on every instance, rather than at the next periodic session
 * check (`websocket.authCheckIntervalMs`, set to its 4 s maximum here); docs/limits.md
 * "Sessions ending".
 * No timing is asserted: after the revocation a change is made, and the first thing the
 * socket gets next must be the close (4403), never that change.
 */

const CONFIG = { 'websocket.authCheckIntervalMs': 4000 };
const PASSWORD = 'revocation passphrase';

/** The next thing an operation's socket gets: a message of the operation, or the close. */
function nextOf(ws: WsProbe, id: string): Promise<{ message: WsMessage } | { closed: Closed }> {
  return Promise.race([ws.next(id, 15_000).then((message) => ({ message })), ws.closed.then((closed) => ({ closed }))]);
}

async function assertClosedFirst(ws: WsProbe, id: string): Promise<void> {
  const outcome = await nextOf(ws, id);
  assert.ok('closed' in outcome, `the socket was handed ${JSON.stringify('message' in outcome ? outcome.message : undefined)} after its session ended`);
  assert.equal(outcome.closed.code, 4403);
}

/** A test server's pieces a scenario needs: its accounts, resources and live subscriptions. */
function harness(server: () => TestServer) {
  const probes: WsProbe[] = [];
  return {
    probes,
    account(email: string): Promise<Session> {
      return signedInUser(server(), { email, name: email.split('@')[0], password: PASSWORD });
    },
    async resource(token: string): Promise<string> {
      const response = await as(server(), token, 'POST', '/api/v1/resources', { name: `doc ${randomBytes(3).toString('hex')}`, type: 'doc', data: { n: 0 } });
      assert.equal(response.statusCode, 201, response.body);
      return (response.json() as { id: string }).id;
    },
    async change(t: TestServer, token: string, id: string, n: number): Promise<void> {
      const response = await as(t, token, 'PATCH', `/api/v1/resources/${id}`, { data: { n } });
      assert.equal(response.statusCode, 200, response.body);
    },
    /** A socket of `token` on `t` watching resource `id`, live: a first change has reached it. */
    async watch(t: TestServer, token: string, id: string, writer: { t: TestServer; token: string }): Promise<WsProbe> {
      const ws = await WsProbe.connect(t.url, token);
      probes.push(ws);
      const live = t.server.events.deps.live;
      const before = live.size;
      ws.subscribe('1', RESOURCE_CHANGED, { id });
      for (const deadline = Date.now() + 10_000; live.size <= before; await sleep(10)) assert.ok(Date.now() < deadline, 'the subscription went live');
      await this.change(writer.t, writer.token, id, 1);
      assert.equal(changeOf(await ws.next('1')).kind, 'UPDATED');
      return ws;
    },
  };
}

for (const kind of DATABASE_KINDS) {
  describe(`sessions end on open sockets at once (${kind})`, () => {
    let t: TestServer;
    let admin: Session;
    const h = harness(() => t);
    before(async () => {
      t = await startTestServer(kind, { config: CONFIG });
      admin = await h.account('admin@revocation.example');
    });
    after(async () => {
      for (const probe of h.probes) probe.close();
      await t.close();
    });

    it('closes the socket of a session that logged out before it gets the next change', async () => {
      const watcher = await h.account('logout@revocation.example');
      const writer = await login(t, 'logout@revocation.example', PASSWORD);
      const doc = await h.resource(writer.token);
      const ws = await h.watch(t, watcher.token, doc, { t, token: writer.token });
      assert.equal((await as(t, watcher.token, 'POST', '/api/v1/auth/logout')).statusCode, 204);
      await h.change(t, writer.token, doc, 2);
      await assertClosedFirst(ws, '1');
    });

    it('closes the sockets of the other sessions when the password changes, and of a revoked session', async () => {
      const first = await h.account('password@revocation.example');
      const second = await login(t, 'password@revocation.example', PASSWORD);
      const writer = await login(t, 'password@revocation.example', PASSWORD);
      const doc = await h.resource(writer.token);
      const revokedWs = await h.watch(t, first.token, doc, { t, token: writer.token });
      const passwordWs = await h.watch(t, second.token, doc, { t, token: writer.token });
      assert.equal(changeOf(await revokedWs.next('1')).version, 3, 'the change that showed the second socket live');
      const sessions = (await as(t, writer.token, 'GET', '/api/v1/auth/sessions')).json() as { items: { id: string; current: boolean; createdAt: string }[] };
      const firstId = sessions.items.filter((s) => !s.current).sort((x, y) => x.createdAt.localeCompare(y.createdAt))[0]!.id;
      assert.equal((await as(t, writer.token, 'DELETE', `/api/v1/auth/sessions/${firstId}`)).statusCode, 204);
      await h.change(t, writer.token, doc, 2);
      await assertClosedFirst(revokedWs, '1');
      assert.equal(changeOf(await passwordWs.next('1')).version, 4, 'a session not revoked goes on');

      const changed = await as(t, writer.token, 'POST', '/api/v1/auth/password', { currentPassword: PASSWORD, newPassword: `${PASSWORD} renewed` });
      assert.equal(changed.statusCode, 204, changed.body);
      await h.change(t, writer.token, doc, 3);
      await assertClosedFirst(passwordWs, '1');
    });

    it('closes the sockets of the other sessions when the email changes', async () => {
      const watcher = await h.account('email@revocation.example');
      const writer = await login(t, 'email@revocation.example', PASSWORD);
      const doc = await h.resource(writer.token);
      const ws = await h.watch(t, watcher.token, doc, { t, token: writer.token });
      const moved = await as(t, writer.token, 'PATCH', `/api/v1/users/${writer.user.id}`, {
        email: 'email.moved@revocation.example',
        currentPassword: PASSWORD,
      });
      assert.equal(moved.statusCode, 200, moved.body);
      await h.change(t, writer.token, doc, 2);
      await assertClosedFirst(ws, '1');
    });

    it('closes the sockets of a deleted user', async () => {
      const owner = await h.account('owner@revocation.example');
      const reader = await h.account('reader@revocation.example');
      const doc = await h.resource(owner.token);
      const shared = await as(t, owner.token, 'POST', `/api/v1/resources/${doc}/shares`, { userId: reader.user.id, actions: ['read'] });
      assert.equal(shared.statusCode, 201, shared.body);
      const ws = await h.watch(t, reader.token, doc, { t, token: owner.token });
      assert.equal((await as(t, admin.token, 'DELETE', `/api/v1/users/${reader.user.id}`)).statusCode, 204);
      await h.change(t, owner.token, doc, 2);
      await assertClosedFirst(ws, '1');
    });

    // Sessions per user are not capped: one event naming them all could outgrow the queue's
    // message limit (about 1 MB) and stop the relay for everyone. The ids go in chunks.
    it('writes the ids of many revoked sessions in events of at most 1,000 ids, on a password change and on deletion', async () => {
      const db = t.server.database.db;
      /** Sessions of `userId` made directly in the table, as thousands of logins would. */
      const manySessions = async (userId: string, n: number): Promise<Set<string>> => {
        const now = Date.now();
        const rows = Array.from({ length: n }, () => ({
          id: randomUUID(),
          user_id: userId,
          token: randomBytes(32),
          expires_at: new Date(now + 3_600_000),
          last_seen_at: new Date(now),
          created_at: new Date(now),
          user_agent: null,
          ip: null,
        }));
        await db.insertInto('sessions').values(rows).execute();
        return new Set(rows.map((r) => r.id));
      };
      /** The session ids of each `session.revoked` event of a user. */
      const revokedEvents = async (userId: string): Promise<string[][]> => {
        const rows = await db
          .selectFrom('outbox')
          .select('payload')
          .where('topic', '=', 'session.revoked')
          .where('aggregate_id', '=', userId)
          .orderBy('seq')
          .execute();
        return rows.map((r) => (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload) as { sessionIds: string[] }).map((p) => p.sessionIds);
      };
      const assertChunked = (events: string[][], expected: Set<string>): void => {
        assert.equal(events.length, Math.ceil(expected.size / SESSION_IDS_PER_EVENT), 'one event per chunk of ids');
        for (const ids of events) assert.ok(ids.length <= SESSION_IDS_PER_EVENT, `an event of ${ids.length} ids`);
        assert.deepEqual(new Set(events.flat()), expected, 'every revoked session, once');
        assert.equal(events.flat().length, expected.size);
      };
      assert.equal(SESSION_IDS_PER_EVENT, 1000);

      const user = await h.account('many@revocation.example');
      const others = await manySessions(user.user.id, 2 * SESSION_IDS_PER_EVENT + 1);
      const changed = await as(t, user.token, 'POST', '/api/v1/auth/password', { currentPassword: PASSWORD, newPassword: `${PASSWORD} renewed` });
      assert.equal(changed.statusCode, 204, changed.body);
      assertChunked(await revokedEvents(user.user.id), others);

      const doomed = await h.account('many.deleted@revocation.example');
      await manySessions(doomed.user.id, SESSION_IDS_PER_EVENT + 500);
      const sessions = new Set((await db.selectFrom('sessions').select('id').where('user_id', '=', doomed.user.id).execute()).map((r) => r.id));
      assert.equal(sessions.size, SESSION_IDS_PER_EVENT + 501, 'its login session too');
      assert.equal((await as(t, admin.token, 'DELETE', `/api/v1/users/${doomed.user.id}`)).statusCode, 204);
      assertChunked(await revokedEvents(doomed.user.id), sessions);
    });
  });
}

const NATS_URL = process.env.PCF_TEST_NATS_URL;

// Through the queue: the session.revoked event is published before the change that followed
// it, so the other instance closes the socket before it could hand that change on.
describe(
  'sessions end on the sockets of every instance',
  { skip: TEST_DATABASE_URL && NATS_URL ? false : 'needs PCF_TEST_DATABASE_URL and PCF_TEST_NATS_URL' },
  () => {
    const queueName = `pcf-test-${randomBytes(6).toString('hex')}`;
    let database: TestDatabase;
    const servers: TestServer[] = [];
    const h = harness(() => servers[0]!);
    before(async () => {
      database = await createTestDatabase('postgres');
      for (let i = 0; i < 2; i++) {
        const t = await startTestServer('postgres', {
          config: { ...CONFIG, 'queue.url': NATS_URL, 'queue.name': queueName },
          database: { ...database, drop: async () => undefined },
        });
        servers.push(t);
        await t.server.events.started;
      }
    });
    after(async () => {
      for (const probe of h.probes) probe.close();
      await Promise.allSettled(servers.map((t) => t.close()));
      await database.drop();
      await deleteStreams(NATS_URL!, [queueName]);
    });

    it('closes on instance B the socket of a session that logged out on instance A', async () => {
      const [a, b] = servers as [TestServer, TestServer];
      const watcher = await h.account('cluster@revocation.example');
      const writer = await login(a, 'cluster@revocation.example', PASSWORD);
      const doc = await h.resource(writer.token);
      const ws = await h.watch(b, watcher.token, doc, { t: a, token: writer.token });
      assert.equal((await as(a, watcher.token, 'POST', '/api/v1/auth/logout')).statusCode, 204);
      await h.change(a, writer.token, doc, 2);
      await assertClosedFirst(ws, '1');
    });
  },
);
