import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { newId } from '../../src/core/ids.js';
import { DATABASE_KINDS } from '../support/databases.js';
import { assertGraphqlError, gql } from '../support/graphql.js';
import { createResource as create, signedInUser, type Resource, type Session } from '../support/factories.js';
import { ADMIN_ROLE_ID, assertProblem, bearer, type InjectedResponse } from '../support/identity.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { changeOf, RESOURCE_CHANGED, WsProbe } from '../support/ws.js';

/**
 * Outbox atomicity through the API: a rolled-back change emits nothing (docs/notifications.md
 * "Domain events"):
 * a change the service refuses part-way (a stale If-Match found under the row lock, a share
 * with a user who does not exist, the last admin's admin role, invalid input, a commit that
 * fails after the event was written) leaves no outbox row behind, for its aggregate or any
 * other, and no subscriber hears of it; the same change done right writes exactly one event.
 * resources.rest.test.ts checks the topics each successful write records; this file is about
 * the writes that do not happen.
 */

interface OutboxRow {
  id: string;
  topic: string;
  payload: unknown;
}

const R = '/api/v1/resources';
/**
 * Written by the notifications consumer in transactions of its own, some time after the
 * event it reacts to: it may land while a refused request runs, so the counts leave it out.
 */
const ASYNC_TOPIC = 'notification.created';

for (const kind of DATABASE_KINDS) {
  describe(`outbox atomicity through the API (${kind})`, () => {
    let t: TestServer;
    let admin: Session;
    let alice: Session;
    let bob: Session;
    const probes: WsProbe[] = [];

    const db = () => t.server.database.db;
    /** The events recorded for one aggregate (a resource, a user), in commit order. */
    const eventsOf = (aggregateId: string): Promise<OutboxRow[]> =>
      db()
        .selectFrom('outbox')
        .select(['id', 'topic', 'payload'])
        .where('aggregate_id', '=', aggregateId)
        .where('topic', '<>', ASYNC_TOPIC)
        .orderBy('seq')
        .execute();
    /** Every event written by a request, whatever its aggregate. */
    const eventCount = async (): Promise<number> =>
      Number(
        (
          await db()
            .selectFrom('outbox')
            .select(sql<string>`count(*)`.as('n'))
            .where('topic', '<>', ASYNC_TOPIC)
            .executeTakeFirstOrThrow()
        ).n,
      );

    /** Runs requests the API must refuse and asserts that no event was written by them, for this aggregate or any other. */
    const writesNoEvent = async (aggregateId: string, refused: () => Promise<void>): Promise<void> => {
      const before = await eventsOf(aggregateId);
      const total = await eventCount();
      await refused();
      assert.deepEqual(await eventsOf(aggregateId), before, 'no event for the aggregate');
      assert.equal(await eventCount(), total, 'no event anywhere');
    };

    /** Runs one request that must succeed and returns the events it added for the aggregate. */
    const addedBy = async (aggregateId: string, change: () => Promise<void>): Promise<OutboxRow[]> => {
      const before = await eventsOf(aggregateId);
      const total = await eventCount();
      await change();
      const now = await eventsOf(aggregateId);
      assert.deepEqual(now.slice(0, before.length), before, 'earlier events untouched');
      assert.equal(await eventCount(), total + now.length - before.length, 'no event for another aggregate');
      return now.slice(before.length);
    };

    const call = (
      token: string,
      method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
      url: string,
      payload?: unknown,
      headers: Record<string, string> = {},
    ): Promise<InjectedResponse> =>
      t.app.inject({ method, url, headers: { ...bearer(token), ...headers }, ...(payload === undefined ? {} : { payload: payload as object }) });
    const expect = async <T>(response: Promise<InjectedResponse>, status: number): Promise<T> => {
      const r = await response;
      assert.equal(r.statusCode, status, r.body);
      return (r.body ? r.json() : undefined) as T;
    };
    const createResource = (name: string): Promise<Resource> => create(t, alice, { name, type: 'memo', metadata: { stage: 'draft' }, data: { n: 1 } });
    const read = (id: string): Promise<Resource> => expect(call(alice.token, 'GET', `${R}/${id}`), 200);
    const versionCount = async (id: string): Promise<number> =>
      (await expect<{ items: unknown[] }>(call(alice.token, 'GET', `${R}/${id}/versions?limit=100`), 200)).items.length;
    /** The resource as a client reads it, with its number of versions: what a refused change must leave as it was. */
    const stateOf = async (id: string) => {
      const resource = await read(id);
      return { version: resource.version, name: resource.name, metadata: resource.metadata, data: resource.data, versions: await versionCount(id) };
    };

    before(async () => {
      t = await startTestServer(kind);
      // The first account is the only admin.
      admin = await signedInUser(t, { name: 'Admin' });
      alice = await signedInUser(t, { name: 'Alice' });
      bob = await signedInUser(t, { name: 'Bob' });
    });
    after(async () => {
      for (const probe of probes) probe.close();
      await t.close();
    });

    it('a PATCH with a stale If-Match (412, found under the row lock) writes no event; with the current version, exactly one resource.updated', async () => {
      const doc = await createResource('Versioned');
      await expect(call(alice.token, 'PATCH', `${R}/${doc.id}`, { data: { n: 2 } }), 200);
      const state = await stateOf(doc.id);
      assert.equal(state.version, 2);

      await writesNoEvent(doc.id, async () => {
        assertProblem(await call(alice.token, 'PATCH', `${R}/${doc.id}`, { data: { n: 3 } }, { 'if-match': '"1"' }), 412, 'PRECONDITION_FAILED');
        assertProblem(
          await call(alice.token, 'PATCH', `${R}/${doc.id}`, { name: 'Renamed', metadata: { stage: 'final' } }, { 'if-match': '"1"' }),
          412,
          'PRECONDITION_FAILED',
        );
        const stale = await gql(
          t,
          'mutation($id: ID!) { updateResource(id: $id, input: { data: { n: 3 } }, expectedVersion: 1) { version } }',
          { id: doc.id },
          alice.token,
        );
        // GraphQL's expectedVersion says CONFLICT where REST says 412 (docs/resources.md).
        assertGraphqlError(stale.body, 'CONFLICT');
      });
      assert.deepEqual(await stateOf(doc.id), state, 'the resource is unchanged');

      const added = await addedBy(doc.id, async () => {
        const changed = await expect<Resource>(call(alice.token, 'PATCH', `${R}/${doc.id}`, { data: { n: 3 } }, { 'if-match': '"2"' }), 200);
        assert.equal(changed.version, 3);
      });
      assert.deepEqual(
        added.map((e) => [e.topic, (e.payload as { version?: number }).version]),
        [['resource.updated', 3]],
      );
    });

    it('two PATCHes racing with the same If-Match: one wins with one event, the loser (refused after waiting for the lock) writes none', async () => {
      const doc = await createResource('Raced');
      const added = await addedBy(doc.id, async () => {
        const answers = await Promise.all(
          [{ n: 'first' }, { n: 'second' }].map((data) => call(alice.token, 'PATCH', `${R}/${doc.id}`, { data }, { 'if-match': '"1"' })),
        );
        assert.deepEqual(answers.map((a) => a.statusCode).sort(), [200, 412], answers.map((a) => a.body).join('\n'));
      });
      assert.deepEqual(
        added.map((e) => [e.topic, (e.payload as { version?: number }).version]),
        [['resource.updated', 2]],
      );
      assert.equal((await stateOf(doc.id)).versions, 2);
    });

    it('a PATCH with invalid input (400) writes no event and changes nothing', async () => {
      const doc = await createResource('Validated');
      const state = await stateOf(doc.id);
      let deep: unknown = 'leaf';
      for (let i = 0; i < 70; i++) deep = { a: deep };
      const invalid: [string, Record<string, unknown>][] = [
        ['data holding U+0000 (which PostgreSQL cannot store)', { data: { n: 'a\u0000b' } }],
        ['valid data with an empty name', { data: { n: 2 }, name: '' }],
        ['valid data with metadata that is not an object', { data: { n: 2 }, metadata: ['stage'] }],
        ['valid data with a type change', { data: { n: 2 }, type: 'other' }],
        ['data nested too deep', { data: deep }],
        ['a name with a control character', { name: 'bad\u0007name' }],
      ];
      await writesNoEvent(doc.id, async () => {
        for (const [label, body] of invalid) {
          const response = await call(alice.token, 'PATCH', `${R}/${doc.id}`, body);
          assert.equal(response.statusCode, 400, `${label}: ${response.body}`);
          assertProblem(response, 400, 'INVALID_INPUT');
        }
      });
      assert.deepEqual(await stateOf(doc.id), state, 'the resource is unchanged');

      const added = await addedBy(doc.id, async () => void (await expect(call(alice.token, 'PATCH', `${R}/${doc.id}`, { data: { n: 2 } }), 200)));
      assert.deepEqual(
        added.map((e) => e.topic),
        ['resource.updated'],
      );
    });

    it('a share with a user who does not exist (400) writes no event and grants nothing; a share with bob, one resource.shared', async () => {
      const doc = await createResource('Shared');
      const shares = () => expect<{ items: { userId: string }[] }>(call(alice.token, 'GET', `${R}/${doc.id}/shares`), 200);
      const sharesBefore = await shares();
      const shareRowsOf = () => db().selectFrom('resource_shares').select('user_id').where('resource_id', '=', doc.id).execute();
      await writesNoEvent(doc.id, async () => {
        const ghost = await call(alice.token, 'POST', `${R}/${doc.id}/shares`, { userId: newId(), actions: ['read', 'update'] });
        assertProblem(ghost, 400, 'INVALID_INPUT');
        assertProblem(await call(alice.token, 'POST', `${R}/${doc.id}/shares`, { userId: 'not-a-user-id', actions: ['read'] }), 400, 'INVALID_INPUT');
        assertProblem(await call(alice.token, 'POST', `${R}/${doc.id}/shares`, { userId: bob.user.id, actions: ['own'] }), 400, 'INVALID_INPUT');
      });
      assert.deepEqual(await shares(), sharesBefore, 'shared with nobody');
      assert.deepEqual(await shareRowsOf(), [], 'no share row was left behind');

      const added = await addedBy(
        doc.id,
        async () => void (await expect(call(alice.token, 'POST', `${R}/${doc.id}/shares`, { userId: bob.user.id, actions: ['read'] }), 201)),
      );
      assert.deepEqual(
        added.map((e) => [e.topic, (e.payload as { userId?: string }).userId]),
        [['resource.shared', bob.user.id]],
      );
    });

    it('a change whose commit fails after its event was written emits nothing: no row, no version, no event to a subscriber', async () => {
      const doc = await createResource('Commit fails');
      const ws = await WsProbe.connect(t.url, alice.token);
      probes.push(ws);
      const liveBefore = await liveSubscriptions();
      ws.subscribe('r', RESOURCE_CHANGED, { id: doc.id });
      const deadline = Date.now() + 5000;
      while ((await liveSubscriptions()) <= liveBefore) {
        if (Date.now() > deadline) assert.fail(`the subscription never went live: ${JSON.stringify(ws.messages)}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const state = await stateOf(doc.id);

      // Checked at COMMIT, after every statement of the change (the outbox insert included) succeeded.
      await sql`CREATE FUNCTION test_fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'test: commit refused'; END; $$`.execute(db());
      await sql`CREATE CONSTRAINT TRIGGER test_fail_at_commit AFTER INSERT ON outbox DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW WHEN (NEW.aggregate_id = ${sql.lit(doc.id)}::uuid) EXECUTE FUNCTION test_fail_at_commit()`.execute(db());
      try {
        await writesNoEvent(doc.id, async () => {
          const attempts: [string, Promise<InjectedResponse>][] = [
            ['data', call(alice.token, 'PATCH', `${R}/${doc.id}`, { data: { n: 'never' } })],
            ['metadata', call(alice.token, 'PATCH', `${R}/${doc.id}`, { metadata: { stage: 'never' } })],
            ['restore', call(alice.token, 'POST', `${R}/${doc.id}/versions/1/restore`)],
            ['share', call(alice.token, 'POST', `${R}/${doc.id}/shares`, { userId: bob.user.id, actions: ['read'] })],
            ['delete', call(alice.token, 'DELETE', `${R}/${doc.id}`)],
          ];
          for (const [label, attempt] of attempts) {
            const response = await attempt;
            assert.equal(response.statusCode, 500, `${label}: ${response.body}`);
            const body = assertProblem(response, 500, 'INTERNAL_ERROR');
            assert.doesNotMatch(JSON.stringify(body), /commit refused|plpgsql|outbox/i, `${label}: no internal message`);
          }
        });
      } finally {
        await sql`DROP TRIGGER test_fail_at_commit ON outbox`.execute(db());
        await sql`DROP FUNCTION test_fail_at_commit()`.execute(db());
      }
      assert.deepEqual(await stateOf(doc.id), state, 'the resource is unchanged (not deleted, no version)');
      assert.deepEqual(await expect(call(alice.token, 'GET', `${R}/${doc.id}/shares`), 200), { items: [] }, 'not shared');

      // Events go out in commit order: had a failed change emitted one, it would come first.
      const added = await addedBy(doc.id, async () => void (await expect(call(alice.token, 'PATCH', `${R}/${doc.id}`, { data: { n: 2 } }), 200)));
      assert.deepEqual(
        added.map((e) => e.topic),
        ['resource.updated'],
      );
      const first = changeOf(await ws.next('r'));
      assert.deepEqual(
        [first.kind, first.version, first.eventId],
        ['UPDATED', 2, added[0]!.id],
        `the subscriber's first event is the committed change: ${JSON.stringify(ws.messages)}`,
      );
    });

    it('removing the last admin’s admin role is refused (409) and writes no event; once another admin exists, it writes one user.role_unassigned', async () => {
      const adminRole = `/api/v1/users/${admin.user.id}/roles/${ADMIN_ROLE_ID}`;
      const roles = async () => (await expect<{ roles: { id: string }[] }>(call(admin.token, 'GET', '/api/v1/auth/me'), 200)).roles.map((r) => r.id);
      assert.ok((await roles()).includes(ADMIN_ROLE_ID));
      await writesNoEvent(admin.user.id, async () => {
        assertProblem(await call(admin.token, 'DELETE', adminRole), 409, 'CONFLICT');
        assertProblem(await call(admin.token, 'DELETE', `/api/v1/users/${admin.user.id}`), 409, 'CONFLICT');
      });
      assert.ok((await roles()).includes(ADMIN_ROLE_ID), 'still an admin');

      const assigned = await addedBy(
        bob.user.id,
        async () => void (await expect(call(admin.token, 'PUT', `/api/v1/users/${bob.user.id}/roles/${ADMIN_ROLE_ID}`), 204)),
      );
      assert.deepEqual(
        assigned.map((e) => [e.topic, (e.payload as { roleId?: string }).roleId]),
        [['user.role_assigned', ADMIN_ROLE_ID]],
      );
      const unassigned = await addedBy(admin.user.id, async () => void (await expect(call(bob.token, 'DELETE', adminRole), 204)));
      assert.deepEqual(
        unassigned.map((e) => [e.topic, (e.payload as { roleId?: string }).roleId, (e.payload as { userId?: string }).userId]),
        [['user.role_unassigned', ADMIN_ROLE_ID, admin.user.id]],
      );
    });

    /** Live subscriptions on the server, from its /metrics gauge. */
    async function liveSubscriptions(): Promise<number> {
      const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
      return Number(/^live_subscriptions (\d+)$/m.exec(text)?.[1] ?? NaN);
    }
  });
}
