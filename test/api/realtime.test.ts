import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newId } from '../../src/core/ids.js';
import { DATABASE_KINDS } from '../support/databases.js';
import { createResource, signedInUser, type Session } from '../support/factories.js';
import { as, login } from '../support/identity.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { changeOf, nextData, NOTIFICATION_RECEIVED, RESOURCE_CHANGED, WsProbe, type WsMessage } from '../support/ws.js';

/**
 * Real-time delivery over WebSocket (graphql-transport-ws, DESIGN §5): resourceChanged and
 * notificationReceived end to end (REST change → outbox → relay → queue → subscriber),
 * authorization of every event, session revocation, resume after reconnect, and the
 * protocol's close codes. One instance here; across instances in test/e2e.
 */
const errorCode = (message: WsMessage): string | undefined => {
  const errors = (message.type === 'error' ? message.payload : (message.payload as { errors?: unknown[] }).errors) as
    { extensions?: { code?: string } }[] | undefined;
  return errors?.[0]?.extensions?.code;
};

for (const kind of DATABASE_KINDS) {
  describe(`real-time over WebSocket (${kind})`, () => {
    let t: TestServer;
    let admin: Session;
    let alice: Session;
    let bob: Session;
    const probes: WsProbe[] = [];

    const connect = async (token?: string) => {
      const probe = await WsProbe.connect(t.url, token);
      probes.push(probe);
      return probe;
    };
    const open = async (protocol?: string | string[]) => {
      const probe = await WsProbe.open(t.url, protocol);
      probes.push(probe);
      return probe;
    };
    const patch = async (token: string, id: string, body: Record<string, unknown>) => {
      const response = await as(t, token, 'PATCH', `/api/v1/resources/${id}`, body);
      assert.equal(response.statusCode, 200, response.body);
      return response.json() as { version: number };
    };
    const share = async (token: string, id: string, userId: string, actions: string[]) => {
      const response = await as(t, token, 'POST', `/api/v1/resources/${id}/shares`, { userId, actions });
      assert.equal(response.statusCode, 201, response.body);
    };

    /** Live subscriptions on the server, from its /metrics gauge. */
    const liveCount = async (): Promise<number> => {
      const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
      return Number(/^live_subscriptions (\d+)$/m.exec(text)?.[1] ?? NaN);
    };
    /**
     * Subscribes and waits until the server has registered the subscription (its gauge
     * grew): a change made before that moment would rightly not be delivered.
     */
    const subscribed = async (ws: WsProbe, id: string, query: string, variables?: Record<string, unknown>) => {
      const before = await liveCount();
      ws.subscribe(id, query, variables);
      const deadline = Date.now() + 5000;
      while ((await liveCount()) <= before) {
        if (Date.now() > deadline) throw new Error(`subscription ${id} never went live`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };

    before(async () => {
      t = await startTestServer(kind, {
        config: { 'websocket.authCheckIntervalMs': 500, 'websocket.keepAliveMs': 1000, 'websocket.maxSubscriptionsPerConnection': 3 },
      });
      admin = await signedInUser(t, { name: 'Admin' });
      alice = await signedInUser(t, { name: 'Alice' });
      bob = await signedInUser(t, { email: 'bob@realtime.example', name: 'Bob', password: 'Bob long passphrase' });
    });
    after(async () => {
      for (const probe of probes) probe.close();
      await t.close();
    });

    describe('resourceChanged', () => {
      it('delivers each change of a readable resource in order, with its current state, and completes after its deletion', async () => {
        const doc = await createResource(t, alice, { name: 'Watched', data: { n: 0 } });
        await share(alice.token, doc.id, bob.user.id, ['read', 'update']);
        const ws = await connect(alice.token);
        await subscribed(ws, 'w', RESOURCE_CHANGED, { id: doc.id });
        await patch(bob.token, doc.id, { data: { n: 1 } });
        const first = changeOf(await ws.next('w'));
        assert.equal(first.kind, 'UPDATED');
        assert.equal(first.resourceId, doc.id);
        assert.equal(first.version, 2);
        assert.equal(first.actorId, bob.user.id);
        assert.equal(first.resource?.id, doc.id);
        assert.match(first.at, /^\d{4}-\d\d-\d\dT/);

        await patch(alice.token, doc.id, { name: 'Renamed' });
        const restored = await as(t, alice.token, 'POST', `/api/v1/resources/${doc.id}/versions/1/restore`);
        assert.equal(restored.statusCode, 200);
        const second = changeOf(await ws.next('w'));
        const third = changeOf(await ws.next('w'));
        assert.deepEqual([second.kind, second.version], ['UPDATED', 2]);
        assert.equal(second.resource?.name, 'Renamed');
        assert.deepEqual([third.kind, third.version, third.restoredFrom], ['RESTORED', 3, 1]);
        assert.ok(first.eventId! < second.eventId! && second.eventId! < third.eventId!, 'event ids in order');

        assert.equal((await as(t, alice.token, 'DELETE', `/api/v1/resources/${doc.id}`)).statusCode, 204);
        const gone = changeOf(await ws.next('w'));
        assert.deepEqual([gone.kind, gone.resource], ['DELETED', null]);
        assert.equal((await ws.next('w')).type, 'complete');
      });

      it('refuses to watch a resource the caller may not read, with the answer a read gets (NOT_FOUND)', async () => {
        const secret = await createResource(t, alice, { name: 'Secret', data: { n: 0 } });
        const ws = await connect(bob.token);
        ws.subscribe('s', RESOURCE_CHANGED, { id: secret.id });
        const refused = await ws.next('s');
        assert.equal(errorCode(refused), 'NOT_FOUND');
        ws.subscribe('missing', RESOURCE_CHANGED, { id: newId() });
        assert.equal(errorCode(await ws.next('missing')), 'NOT_FOUND');
        // Anonymous sockets may connect, but not subscribe to anything private.
        const anonymous = await connect();
        anonymous.subscribe('a', RESOURCE_CHANGED, { id: secret.id });
        assert.equal(errorCode(await anonymous.next('a')), 'UNAUTHORIZED');
      });

      it('ends a subscription with NOT_FOUND when access goes, while another subscriber of the same resource goes on', async () => {
        const doc = await createResource(t, alice, { name: 'Shared then not', data: { n: 0 } });
        await share(alice.token, doc.id, bob.user.id, ['read']);
        const bobWs = await connect(bob.token);
        const aliceWs = await connect(alice.token);
        await subscribed(bobWs, 'b', RESOURCE_CHANGED, { id: doc.id });
        await subscribed(aliceWs, 'a', RESOURCE_CHANGED, { id: doc.id });
        await patch(alice.token, doc.id, { data: { n: 1 } });
        assert.equal(changeOf(await bobWs.next('b')).kind, 'UPDATED');
        assert.equal(changeOf(await aliceWs.next('a')).kind, 'UPDATED');

        assert.equal((await as(t, alice.token, 'DELETE', `/api/v1/resources/${doc.id}/shares/${bob.user.id}`)).statusCode, 204);
        const ended = await bobWs.next('b');
        assert.equal(ended.type, 'error', JSON.stringify(ended));
        assert.equal(errorCode(ended), 'NOT_FOUND');
        // Alice saw the unshare; her subscription goes on.
        assert.equal(changeOf(await aliceWs.next('a')).kind, 'UNSHARED');
        await patch(alice.token, doc.id, { data: { n: 2 } });
        assert.equal(changeOf(await aliceWs.next('a')).version, 3);
        // Bob got nothing after the error.
        assert.equal(bobWs.messages.filter((m) => m.id === 'b').length, 2);
      });

      it('ends a subscription at once when a role or a permission that gave access is taken away, before any later change reaches it', async () => {
        const ok = (response: { statusCode: number; body: string }, status: number) => assert.equal(response.statusCode, status, response.body);
        /** Bob watches a doc of alice's through `grant`; `revoke` takes it away; alice's next change must not reach him. */
        const revoked = async (grant: () => Promise<void>, revoke: () => Promise<void>) => {
          const doc = await createResource(t, alice, { name: 'Readable through a grant', data: { n: 0 } });
          await grant();
          ok(await as(t, bob.token, 'GET', `/api/v1/resources/${doc.id}`), 200);
          const ws = await connect(bob.token);
          await subscribed(ws, 'w', RESOURCE_CHANGED, { id: doc.id });
          await patch(alice.token, doc.id, { data: { n: 1 } });
          assert.equal(changeOf(await ws.next('w')).version, 2, 'delivered while the grant holds');
          await revoke();
          await patch(alice.token, doc.id, { name: 'Secret name', data: { n: 2 } });
          const ended = await ws.next('w');
          assert.equal(errorCode(ended), 'NOT_FOUND', JSON.stringify(ended));
          assert.ok(!JSON.stringify(ws.messages).includes('Secret name'), 'nothing of the change after the revocation');
          ws.close();
        };

        // A direct permission, revoked.
        let permissionId = '';
        await revoked(
          async () => {
            const granted = await as(t, admin.token, 'POST', `/api/v1/users/${bob.user.id}/permissions`, { resourceType: 'doc', action: 'read' });
            ok(granted, 201);
            permissionId = (granted.json() as { id: string }).id;
          },
          async () => ok(await as(t, admin.token, 'DELETE', `/api/v1/users/${bob.user.id}/permissions/${permissionId}`), 204),
        );

        // A role, taken from the user.
        const role = await as(t, admin.token, 'POST', '/api/v1/roles', { name: 'doc-readers', description: 'Read every doc' });
        ok(role, 201);
        const roleId = (role.json() as { id: string }).id;
        const rolePermission = await as(t, admin.token, 'POST', `/api/v1/roles/${roleId}/permissions`, { resourceType: 'doc', action: 'read' });
        ok(rolePermission, 201);
        await revoked(
          async () => ok(await as(t, admin.token, 'PUT', `/api/v1/users/${bob.user.id}/roles/${roleId}`), 204),
          async () => ok(await as(t, admin.token, 'DELETE', `/api/v1/users/${bob.user.id}/roles/${roleId}`), 204),
        );

        // A permission removed from a role the user keeps.
        await revoked(
          async () => ok(await as(t, admin.token, 'PUT', `/api/v1/users/${bob.user.id}/roles/${roleId}`), 204),
          async () => ok(await as(t, admin.token, 'DELETE', `/api/v1/roles/${roleId}/permissions/${(rolePermission.json() as { id: string }).id}`), 204),
        );
      });

      it('refuses a subscription started on an open socket after the access it needs was taken away, with or without after', async () => {
        const doc = await createResource(t, alice, { name: 'Readable, then not', data: { n: 0 } });
        const granted = await as(t, admin.token, 'POST', `/api/v1/users/${bob.user.id}/permissions`, { resourceType: 'doc', action: 'read' });
        assert.equal(granted.statusCode, 201, granted.body);
        // The socket is open, its caller checked, while bob may still read the doc.
        const ws = await connect(bob.token);
        await subscribed(ws, 'before', RESOURCE_CHANGED, { id: doc.id });
        await patch(alice.token, doc.id, { data: { n: 1 } });
        const seen = changeOf(await ws.next('before'));
        ws.send({ type: 'complete', id: 'before' });
        const revoked = await as(t, admin.token, 'DELETE', `/api/v1/users/${bob.user.id}/permissions/${(granted.json() as { id: string }).id}`);
        assert.equal(revoked.statusCode, 204);
        // A change bob missed, then the revocation's event gone by (no feed of his to hear it).
        await patch(alice.token, doc.id, { name: 'Not for bob', data: { n: 2 } });
        const relayed = Date.now() + 5000;
        const db = t.server.database.db;
        while (
          !(await db
            .selectFrom('outbox')
            .select('id')
            .where('topic', '=', 'user.permission_revoked')
            .where('aggregate_id', '=', bob.user.id)
            .where('published_at', 'is not', null)
            .executeTakeFirst())
        ) {
          assert.ok(Date.now() < relayed, 'the revocation was relayed');
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
        await new Promise((resolve) => setTimeout(resolve, 30));
        // Before the socket's periodic check: started now, neither may run.
        ws.subscribe('fresh', RESOURCE_CHANGED, { id: doc.id });
        ws.subscribe('resumed', RESOURCE_CHANGED, { id: doc.id, after: seen.eventId });
        assert.equal(errorCode(await ws.next('fresh')), 'NOT_FOUND');
        assert.equal(errorCode(await ws.next('resumed')), 'NOT_FOUND');
        assert.ok(!JSON.stringify(ws.messages).includes('Not for bob'), 'nothing of the change bob may not read');
      });

      it('replays what a reconnecting subscriber missed after its last event id, in order; an unknown id gets RESYNC', async () => {
        const doc = await createResource(t, alice, { name: 'Resumable', data: { n: 0 } });
        const first = await connect(alice.token);
        await subscribed(first, 'r', RESOURCE_CHANGED, { id: doc.id });
        await patch(alice.token, doc.id, { data: { n: 1 } });
        const seen = changeOf(await first.next('r'));
        first.close();
        await first.closed;

        await patch(alice.token, doc.id, { data: { n: 2 } });
        await patch(alice.token, doc.id, { data: { n: 3 } });
        const again = await connect(alice.token);
        again.subscribe('r', RESOURCE_CHANGED, { id: doc.id, after: seen.eventId });
        const missed = [changeOf(await again.next('r')), changeOf(await again.next('r'))];
        assert.deepEqual(
          missed.map((c) => c.version),
          [3, 4],
        );
        // Live events follow the replay, none twice.
        await patch(alice.token, doc.id, { data: { n: 4 } });
        const newest = changeOf(await again.next('r'));
        assert.equal(newest.version, 5);

        again.subscribe('lost', RESOURCE_CHANGED, { id: doc.id, after: newId() });
        const resync = changeOf(await again.next('lost'));
        assert.equal(resync.kind, 'RESYNC');
        assert.equal(resync.eventId, newest.eventId, 'RESYNC names the newest event, to resume after');

        // A resource deleted while its subscriber was away: the resume replays up to the deletion.
        again.close();
        await again.closed;
        assert.equal((await as(t, alice.token, 'DELETE', `/api/v1/resources/${doc.id}`)).statusCode, 204);
        const late = await connect(alice.token);
        late.subscribe('end', RESOURCE_CHANGED, { id: doc.id, after: newest.eventId });
        assert.equal(changeOf(await late.next('end')).kind, 'DELETED');
        assert.equal((await late.next('end')).type, 'complete');
        late.subscribe('fresh', RESOURCE_CHANGED, { id: doc.id });
        assert.equal(errorCode(await late.next('fresh')), 'NOT_FOUND', 'without after, a deleted resource is not found');
      });
      it('tells the holder of a share how the resource ended, live and on resuming, although the share went with it', async () => {
        const live = await createResource(t, alice, { name: 'Shared, then deleted', data: { n: 0 } });
        await share(alice.token, live.id, bob.user.id, ['read']);
        const watching = await connect(bob.token);
        await subscribed(watching, 'live', RESOURCE_CHANGED, { id: live.id });
        assert.equal((await as(t, alice.token, 'DELETE', `/api/v1/resources/${live.id}`)).statusCode, 204);
        assert.equal(changeOf(await watching.next('live')).kind, 'DELETED');
        assert.equal((await watching.next('live')).type, 'complete');

        const later = await createResource(t, alice, { name: 'Shared, then deleted while away', data: { n: 0 } });
        await share(alice.token, later.id, bob.user.id, ['read']);
        const away = await connect(bob.token);
        await subscribed(away, 'r', RESOURCE_CHANGED, { id: later.id });
        await patch(alice.token, later.id, { data: { n: 1 } });
        const last = changeOf(await away.next('r'));
        away.close();
        await away.closed;
        assert.equal((await as(t, alice.token, 'DELETE', `/api/v1/resources/${later.id}`)).statusCode, 204);
        // Long enough for bob's grants (without the share) to be what the server knows.
        await new Promise((resolve) => setTimeout(resolve, 600));
        const back = await connect(bob.token);
        back.subscribe('r', RESOURCE_CHANGED, { id: later.id, after: last.eventId });
        assert.equal(changeOf(await back.next('r')).kind, 'DELETED');
        assert.equal((await back.next('r')).type, 'complete');
      });
    });

    describe('notificationReceived', () => {
      it('delivers a new notification to its user only, and replays those missed after the last one received', async () => {
        const doc = await createResource(t, alice, { name: 'Noticed', data: { n: 0 } });
        await share(alice.token, doc.id, bob.user.id, ['read', 'update']);
        const aliceWs = await connect(alice.token);
        const adminWs = await connect(admin.token);
        await subscribed(aliceWs, 'n', NOTIFICATION_RECEIVED);
        await subscribed(adminWs, 'n', NOTIFICATION_RECEIVED);
        await patch(bob.token, doc.id, { data: { n: 1 } });
        const delivery = nextData<{
          notificationReceived: { resync: boolean; notification: { id: string; kind: string; payload: Record<string, unknown>; read: boolean } };
        }>(await aliceWs.next('n')).notificationReceived;
        assert.equal(delivery.resync, false);
        assert.equal(delivery.notification.kind, 'resource.updated');
        assert.equal(delivery.notification.payload.resourceId, doc.id);
        assert.equal(delivery.notification.payload.actorName, 'Bob');
        assert.equal(delivery.notification.read, false);

        aliceWs.close();
        await aliceWs.closed;
        await patch(bob.token, doc.id, { data: { n: 2 } });
        await patch(bob.token, doc.id, { data: { n: 3 } });
        const again = await connect(alice.token);
        again.subscribe('n', NOTIFICATION_RECEIVED, { after: delivery.notification.id });
        const replayed = [await again.next('n'), await again.next('n')].map(
          (m) => nextData<{ notificationReceived: { notification: { payload: { version: number } } } }>(m).notificationReceived.notification.payload.version,
        );
        assert.deepEqual(replayed, [3, 4]);
        again.subscribe('old', NOTIFICATION_RECEIVED, { after: newId() });
        assert.equal(nextData<{ notificationReceived: { resync: boolean } }>(await again.next('old')).notificationReceived.resync, true);
        // The admin was told nothing of alice's resource.
        assert.equal(adminWs.messages.filter((m) => m.id === 'n').length, 0);
      });
    });

    describe('sessions and protocol', () => {
      it('closes the socket of a session that ends (logout elsewhere) with 4403 within seconds', async () => {
        const session = await login(t, 'bob@realtime.example', 'Bob long passphrase');
        const ws = await connect(session.token);
        ws.subscribe('n', NOTIFICATION_RECEIVED);
        const started = Date.now();
        assert.equal((await as(t, session.token, 'POST', '/api/v1/auth/logout')).statusCode, 204);
        const closed = await ws.closedWithin(5000);
        assert.equal(closed.code, 4403);
        assert.ok(Date.now() - started < 5000);
      });

      it('gives a connection slot back however early the client goes, and leaves no live feed behind', async () => {
        const carol = await signedInUser(t, { name: 'Carol' });
        // More inits abandoned mid-authentication than the 20 slots a user has.
        for (let i = 0; i < 25; i++) {
          const ws = await open();
          ws.send({ type: 'connection_init', payload: { authorization: `Bearer ${carol.token}` } });
          ws.socket.terminate();
        }
        const baseline = await liveCount();
        const ws = await connect(carol.token);
        const doc = await createResource(t, carol, { name: 'Short-lived watches', data: { n: 0 } });
        // Subscriptions given up as soon as they are asked for, then a socket closed mid-way.
        for (let i = 0; i < 20; i++) {
          ws.subscribe(`gone${i}`, RESOURCE_CHANGED, { id: doc.id });
          ws.send({ type: 'complete', id: `gone${i}` });
        }
        // Running subscriptions, waiting on a quiet resource: stopped, and with their socket closed.
        await subscribed(ws, 'running', RESOURCE_CHANGED, { id: doc.id });
        ws.send({ type: 'complete', id: 'running' });
        const waiting = await connect(carol.token);
        await subscribed(waiting, 'quiet', RESOURCE_CHANGED, { id: doc.id });
        await subscribed(waiting, 'mine', NOTIFICATION_RECEIVED);
        waiting.close();
        const abandoned = await connect(carol.token);
        for (let i = 0; i < 5; i++) abandoned.subscribe(`s${i}`, NOTIFICATION_RECEIVED);
        abandoned.socket.terminate();
        const deadline = Date.now() + 5000;
        while ((await liveCount()) !== baseline && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        assert.equal(await liveCount(), baseline, 'no feed outlives its subscription');
        ws.close();
      });

      it('refuses a bad token in connection_init with 4403', async () => {
        const ws = await open();
        ws.send({ type: 'connection_init', payload: { authorization: 'Bearer pcf_nope' } });
        assert.equal((await ws.closedWithin(5000)).code, 4403);
      });

      it('answers protocol violations with the graphql-ws close codes', async () => {
        const early = await open();
        early.subscribe('x', '{ server { name } }');
        assert.equal((await early.closedWithin(5000)).code, 4401, 'subscribe before connection_ack');

        const garbage = await connect(alice.token);
        garbage.send('not json');
        assert.equal((await garbage.closedWithin(5000)).code, 4400, 'invalid message');

        const serverMessage = await connect(alice.token);
        serverMessage.send({ type: 'connection_ack' });
        assert.equal((await serverMessage.closedWithin(5000)).code, 4400, 'a message only a server sends');

        const twice = await connect(alice.token);
        twice.subscribe('same', NOTIFICATION_RECEIVED);
        twice.subscribe('same', NOTIFICATION_RECEIVED);
        assert.equal((await twice.closedWithin(5000)).code, 4409, 'duplicate operation id');

        // A client asking only for another subprotocol is refused at the handshake; one that
        // asks for none is accepted by HTTP and closed by graphql-ws.
        await assert.rejects(WsProbe.open(t.url, 'graphql-ws'), /no subprotocol/);
        const none = await open([]);
        assert.equal((await none.closedWithin(5000)).code, 4406, 'no subprotocol');
      });

      it('pings idle sockets, answers queries and mutations too, and caps operations per connection', async () => {
        const ws = await connect(alice.token);
        ws.subscribe('q', '{ me { user { id } } }');
        assert.deepEqual(nextData(await ws.next('q')), { me: { user: { id: alice.user.id } } });
        assert.equal((await ws.next('q')).type, 'complete');
        for (const id of ['s1', 's2', 's3']) ws.subscribe(id, NOTIFICATION_RECEIVED);
        ws.subscribe('s4', NOTIFICATION_RECEIVED);
        assert.equal(errorCode(await ws.next('s4')), 'RATE_LIMITED');
        ws.send({ type: 'complete', id: 's1' });
        // With one stopped, another may start.
        let admitted = false;
        for (let i = 0; i < 20 && !admitted; i++) {
          ws.subscribe(`again${i}`, NOTIFICATION_RECEIVED);
          const outcome = await Promise.race([ws.next(`again${i}`, 300).catch(() => 'running' as const)]);
          admitted = outcome === 'running';
        }
        assert.ok(admitted, 'a freed slot is taken again');
        const deadline = Date.now() + 5000;
        while (ws.pings.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
        assert.ok(ws.pings.length >= 2, `keep-alive pings arrive (${ws.pings.length})`);
      });

      it('drops a peer that stops answering pings, and lets its subscriptions go', async () => {
        const before = await liveCount();
        const silent = await WsProbe.connect(t.url, alice.token, { autoPong: false });
        probes.push(silent);
        await subscribed(silent, 'n', NOTIFICATION_RECEIVED);
        // keepAliveMs is 1 s here: a ping, 1 s without its pong, then the socket is cut.
        const closed = await silent.closedWithin(6000);
        assert.equal(closed.code, 1006, 'terminated, not closed by a handshake');
        assert.ok(silent.pings.length >= 1);
        const deadline = Date.now() + 3000;
        while ((await liveCount()) !== before && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        assert.equal(await liveCount(), before);
      });

      it('refuses a subscription over HTTP with a 4xx, not a 500', async () => {
        const response = await t.app.inject({
          method: 'POST',
          url: '/graphql',
          headers: { authorization: `Bearer ${alice.token}` },
          payload: { query: NOTIFICATION_RECEIVED },
        });
        assert.ok(response.statusCode >= 400 && response.statusCode < 500, `${response.statusCode} ${response.body}`);
      });
    });
  });
}
