import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { IdempotencyStore } from '../../src/services/shared/idempotency.js';
import { DATABASE_KINDS } from '../support/databases.js';
import { createResource, createResourceRaw, signedInUser, type Resource, type Session } from '../support/factories.js';
import { as, assertInvalidField, assertProblem } from '../support/identity.js';
import { startTestServer, type TestServer } from '../support/server.js';

// Resource writes at their edges: deleting a user hands its resources to `transferTo` while
// the version history stays immutable (docs/resources.md "Versions"); If-Match takes an
// RFC 9110 list of strong tags (docs/limits.md "Concurrent changes (ETag and If-Match)"); an
// idempotency key replays whatever the order of the body's keys and recovers a claim its
// request abandoned (docs/resources.md "Idempotency"); a share always includes read
// (docs/limits.md "Shares and permissions"); U+0000, which PostgreSQL text cannot hold, is
// refused as input rather than failing in the database (docs/limits.md "Input: one rule for
// every transport").
for (const kind of DATABASE_KINDS) {
  describe(`resource writes: ownership transfer, preconditions, idempotency, shares and text (${kind})`, () => {
    let t: TestServer;
    let admin: Session;
    let author: Session;
    let heir: Session;
    before(async () => {
      t = await startTestServer(kind);
      admin = await signedInUser(t, { name: 'Admin' });
      author = await signedInUser(t, { name: 'Author' });
      heir = await signedInUser(t, { name: 'Heir' });
    });
    after(() => t.close());

    describe('deleting an author', () => {
      it('deletes a user who wrote versions: its resources move to transferTo, history keeps the versions with no author', async () => {
        const doc = await createResource(t, author, { data: { n: 1 } });
        assert.equal((await as(t, author.token, 'PATCH', `/api/v1/resources/${doc.id}`, { data: { n: 2 } })).statusCode, 200);
        assert.equal((await as(t, admin.token, 'GET', `/api/v1/resources/${doc.id}`)).statusCode, 200, 'cached for the admin');

        const deleted = await as(t, admin.token, 'DELETE', `/api/v1/users/${author.user.id}?transferTo=${heir.user.id}`);
        assert.equal(deleted.statusCode, 204, deleted.body);
        const read = await as(t, heir.token, 'GET', `/api/v1/resources/${doc.id}`);
        assert.equal(read.statusCode, 200, 'the new owner reads it at once (no stale cached owner)');
        assert.equal((read.json() as Resource).ownerId, heir.user.id);
        const versions = (await as(t, heir.token, 'GET', `/api/v1/resources/${doc.id}/versions`)).json() as {
          items: { version: number; createdBy: string | null }[];
        };
        assert.deepEqual(
          versions.items.map((v) => [v.version, v.createdBy]),
          [
            [2, null],
            [1, null],
          ],
        );
        // Still immutable for everything else.
        await assert.rejects(t.server.database.db.updateTable('resource_versions').set({ created_by: null }).where('resource_id', '=', doc.id).execute());
        await assert.rejects(t.server.database.db.deleteFrom('resource_versions').where('resource_id', '=', doc.id).execute());
      });
    });

    describe('If-Match lists', () => {
      it('matches If-Match against every strong tag in the list, never a weak one', async () => {
        const doc = await createResource(t, heir, { data: { n: 1 } });
        const patch = (ifMatch: string, n: number) =>
          t.app.inject({
            method: 'PATCH',
            url: `/api/v1/resources/${doc.id}`,
            headers: { authorization: `Bearer ${heir.token}`, 'if-match': ifMatch },
            payload: { data: { n } },
          });
        assert.equal((await patch('"7", "1"', 2)).statusCode, 200, 'the second tag matches');
        const weak = await patch('W/"2"', 3);
        assertProblem(weak, 412, 'PRECONDITION_FAILED');
        assert.equal(weak.headers.etag, '"2"');
        assertProblem(await patch('"x"', 3), 412, 'PRECONDITION_FAILED');
        assert.equal((await patch('*', 3)).statusCode, 200);
      });
    });

    describe('idempotency keys', () => {
      it('replays an idempotent create whatever the order of the body’s keys', async () => {
        const headers = { authorization: `Bearer ${heir.token}`, 'idempotency-key': 'order-1', 'content-type': 'application/json' };
        const first = await t.app.inject({
          method: 'POST',
          url: '/api/v1/resources',
          headers,
          payload: '{"name":"Ordered","type":"doc","data":{"a":1,"b":2}}',
        });
        const again = await t.app.inject({
          method: 'POST',
          url: '/api/v1/resources',
          headers,
          payload: '{"data":{"b":2,"a":1},"type":"doc","name":"Ordered"}',
        });
        assert.equal(first.statusCode, 201);
        assert.equal(again.statusCode, 201, again.body);
        assert.equal((again.json() as Resource).id, (first.json() as Resource).id);
        assert.equal(again.headers['idempotent-replayed'], 'true');
      });

      it('takes over a claim its request abandoned (no answer after 5 minutes)', async () => {
        const headers = { 'idempotency-key': 'abandoned-1' };
        // A claim with no answer, as a crashed instance leaves it.
        await t.server.database.db
          .insertInto('idempotency_keys')
          .values({
            user_id: heir.user.id,
            scope: 'POST /resources',
            key: 'abandoned-1',
            request_hash: IdempotencyStore.fingerprint({ input: { name: 'Doc', type: 'doc', data: { n: 1 } } }),
            status: null,
            response: null,
          })
          .execute();
        assertProblem(await createResourceRaw(t, heir, { data: { n: 1 } }, headers), 409, 'CONFLICT');
        await sql`UPDATE idempotency_keys SET created_at = now() - interval '6 minutes' WHERE key = 'abandoned-1'`.execute(t.server.database.db);
        assert.equal((await createResourceRaw(t, heir, { data: { n: 1 } }, headers)).statusCode, 201);
      });

      it('deletes every expired key and none of the live ones, however many (the retention job)', async () => {
        const db = t.server.database.db;
        // More than one batch of keys past their 24 h, beside three fresh ones.
        await sql`
          INSERT INTO idempotency_keys (user_id, scope, key, request_hash, status, response, created_at)
          SELECT ${heir.user.id}, 'POST /resources', 'old-' || g, decode(repeat('00', 32), 'hex'), 201, '{}', now() - interval '25 hours' - g * interval '1 second'
          FROM generate_series(1, 12000) g`.execute(db);
        for (const key of ['fresh-1', 'fresh-2', 'fresh-3'])
          assert.equal((await createResourceRaw(t, heir, { data: { key } }, { 'idempotency-key': key })).statusCode, 201);
        assert.equal(await t.server.events.deps.resources.purgeExpiredIdempotencyKeys(), 12000);
        const left = await db.selectFrom('idempotency_keys').select('key').where('user_id', '=', heir.user.id).where('key', 'like', '%-%').execute();
        assert.deepEqual(
          left
            .map((r) => r.key)
            .filter((k) => k.startsWith('old-') || k.startsWith('fresh-'))
            .sort(),
          ['fresh-1', 'fresh-2', 'fresh-3'],
        );
      });
    });

    describe('shares', () => {
      it('shares read with every share, so update alone is usable', async () => {
        const doc = await createResource(t, heir, { data: { n: 1 } });
        const shared = await as(t, heir.token, 'POST', `/api/v1/resources/${doc.id}/shares`, { userId: admin.user.id, actions: ['update'] });
        assert.equal(shared.statusCode, 201, shared.body);
        assert.deepEqual((shared.json() as { actions: string[] }).actions, ['read', 'update']);
      });
    });

    describe('U+0000 in text', () => {
      it('refuses U+0000 in data, metadata keys and filters with 400, not a database error', async () => {
        assertInvalidField(await createResourceRaw(t, heir, { data: 'a\u0000b' }), /^data$/);
        const withKey = await as(t, heir.token, 'POST', '/api/v1/resources', { name: 'N', type: 'doc', metadata: { 'k\u0000': 1 }, data: 1 });
        assertInvalidField(withKey, /^metadata$/);
        const filtered = await as(t, heir.token, 'GET', '/api/v1/resources?q=%00');
        assert.equal(filtered.statusCode, 400, filtered.body);
      });
    });
  });
}
