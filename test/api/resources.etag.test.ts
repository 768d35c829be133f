import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { DATABASE_KINDS } from '../support/databases.js';
import { assertGraphqlError, data, gql } from '../support/graphql.js';
import { createResourceRaw, signedInUser, type Resource } from '../support/factories.js';
import { as, assertProblem, bearer, type InjectedResponse, type Session } from '../support/identity.js';
import { startTestServer, type TestServer } from '../support/server.js';

const R = '/api/v1/resources';

/**
 * If-Match protects the whole record (docs/limits.md "Concurrent changes (ETag and If-Match)"):
 * the ETag is the revision, which every change bumps (name, metadata, data, owner), so a
 * write made with a tag read before any other change is refused (412 over REST, CONFLICT
 * over GraphQL) instead of silently overwriting it.
 */
for (const kind of DATABASE_KINDS) {
  describe(`resources: whole-record ETag (${kind})`, () => {
    let t: TestServer;
    let admin: Session;
    let alice: Session;
    let bob: Session;
    before(async () => {
      t = await startTestServer(kind);
      admin = await signedInUser(t, { name: 'Admin' });
      alice = await signedInUser(t, { name: 'Alice' });
      bob = await signedInUser(t, { name: 'Bob' });
    });
    after(() => t.close());

    const create = async (s: Session, body: Record<string, unknown> = {}) => {
      const r = await createResourceRaw(t, s, { data: { n: 1 }, ...body });
      assert.equal(r.statusCode, 201, r.body);
      assert.equal(r.headers.etag, '"1"');
      return r.json() as Resource;
    };
    const patch = (s: Session, id: string, body: Record<string, unknown>, ifMatch?: string): Promise<InjectedResponse> =>
      t.app.inject({
        method: 'PATCH',
        url: `${R}/${id}`,
        headers: { ...bearer(s.token), ...(ifMatch === undefined ? {} : { 'if-match': ifMatch }) },
        payload: body,
      });

    it('refuses a metadata-only PATCH made with a tag from before another metadata change (412), keeping the first change', async () => {
      const doc = await create(alice);
      // Two editors read the same ETag, then both change metadata.
      const etag = (await as(t, alice.token, 'GET', `${R}/${doc.id}`)).headers.etag as string;
      const first = await patch(alice, doc.id, { metadata: { editor: 'first' } }, etag);
      assert.equal(first.statusCode, 200, first.body);
      assert.equal(first.headers.etag, '"2"', 'a metadata change moves the tag on');
      assert.equal((first.json() as Resource).version, 1, 'the data version stays');
      assert.equal((first.json() as Resource).revision, 2);

      const second = await patch(alice, doc.id, { metadata: { editor: 'second' } }, etag);
      const problem = assertProblem(second, 412, 'PRECONDITION_FAILED');
      assert.equal(second.headers.etag, '"2"', 'the refusal names the current tag');
      assert.match(problem.detail, /revision 2/);
      const now = await as(t, alice.token, 'GET', `${R}/${doc.id}`);
      assert.deepEqual((now.json() as Resource).metadata, { editor: 'first' }, 'the first change is not lost');
      assert.equal(now.headers.etag, '"2"');
    });

    it('moves the tag on for a rename, new data and an owner transfer, and never for a no-op', async () => {
      const doc = await create(bob);
      const renamed = await patch(bob, doc.id, { name: 'Renamed' }, '"1"');
      assert.equal(renamed.headers.etag, '"2"');
      assertProblem(await patch(bob, doc.id, { name: 'Again' }, '"1"'), 412, 'PRECONDITION_FAILED');
      const rewritten = await patch(bob, doc.id, { data: { n: 2 } }, '"2"');
      assert.equal(rewritten.headers.etag, '"3"');
      assert.equal((rewritten.json() as Resource).version, 2);
      // A body with nothing to change writes nothing, so the tag stays; its If-Match is still checked.
      assert.equal((await patch(bob, doc.id, {}, '"3"')).headers.etag, '"3"');
      assertProblem(await patch(bob, doc.id, {}, '"2"'), 412, 'PRECONDITION_FAILED');
      // Restoring a version is a change too.
      const restored = await as(t, bob.token, 'POST', `${R}/${doc.id}/versions/1/restore`);
      assert.equal(restored.headers.etag, '"4"');
      // A new owner: the user is deleted and its resources go to an heir.
      assert.equal((await as(t, admin.token, 'DELETE', `/api/v1/users/${bob.user.id}?transferTo=${alice.user.id}`)).statusCode, 204);
      const moved = await as(t, alice.token, 'GET', `${R}/${doc.id}`);
      assert.equal(moved.headers.etag, '"5"');
      assertProblem(await patch(alice, doc.id, { metadata: { stale: true } }, '"4"'), 412, 'PRECONDITION_FAILED');
    });

    it('lets exactly one of several concurrent metadata PATCHes with the same tag through', async () => {
      const doc = await create(alice);
      const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => patch(alice, doc.id, { metadata: { writer: i } }, '"1"')));
      const won = answers.filter((a) => a.statusCode === 200);
      assert.equal(won.length, 1, answers.map((a) => a.statusCode).join(','));
      for (const lost of answers.filter((a) => a.statusCode !== 200)) assertProblem(lost, 412, 'PRECONDITION_FAILED');
      const now = (await as(t, alice.token, 'GET', `${R}/${doc.id}`)).json() as Resource;
      assert.deepEqual(now.metadata, (won[0]!.json() as Resource).metadata);
      assert.equal(now.revision, 2);
    });

    const UPDATE = `mutation($id: ID!, $input: UpdateResourceInput!, $revision: Int, $version: Int) {
      updateResource(id: $id, input: $input, expectedRevision: $revision, expectedVersion: $version) { version revision metadata }
    }`;

    it('over GraphQL, a stale expectedRevision after a metadata change is a CONFLICT', async () => {
      const doc = await create(alice);
      const read = await data<{ resource: { revision: number; version: number } }>(
        t,
        'query($id: ID!) { resource(id: $id) { revision version } }',
        { id: doc.id },
        alice.token,
      );
      assert.deepEqual(read.resource, { revision: 1, version: 1 });
      const first = await data<{ updateResource: Resource }>(t, UPDATE, { id: doc.id, input: { metadata: { by: 'first' } }, revision: 1 }, alice.token);
      assert.deepEqual(first.updateResource, { version: 1, revision: 2, metadata: { by: 'first' } });
      const stale = await gql(t, UPDATE, { id: doc.id, input: { metadata: { by: 'second' } }, revision: 1 }, alice.token);
      assert.match(assertGraphqlError(stale.body, 'CONFLICT').message, /revision 2/);
      assert.deepEqual(((await as(t, alice.token, 'GET', `${R}/${doc.id}`)).json() as Resource).metadata, { by: 'first' }, 'the first change is not lost');
    });

    it('keeps the deprecated expectedVersion comparing the data version, and says why it is deprecated', async () => {
      const doc = await create(alice);
      const changed = await data<{ updateResource: Resource }>(t, UPDATE, { id: doc.id, input: { data: { n: 2 } }, version: 1 }, alice.token);
      assert.equal(changed.updateResource.version, 2);
      assertGraphqlError((await gql(t, UPDATE, { id: doc.id, input: { data: { n: 3 } }, version: 1 }, alice.token)).body, 'CONFLICT');
      const schema = await data<{ __type: { fields: { name: string; args: { name: string; isDeprecated: boolean; deprecationReason: string | null }[] }[] } }>(
        t,
        '{ __type(name: "Mutation") { fields { name args(includeDeprecated: true) { name isDeprecated deprecationReason } } } }',
        undefined,
        alice.token,
      );
      const args = schema.__type.fields.find((f) => f.name === 'updateResource')!.args;
      const version = args.find((a) => a.name === 'expectedVersion')!;
      assert.equal(version.isDeprecated, true);
      assert.match(version.deprecationReason ?? '', /expectedRevision/);
      assert.equal(args.find((a) => a.name === 'expectedRevision')?.isDeprecated, false);
    });

    it('replays an idempotent create answered before revisions existed with its version as the revision', async () => {
      const headers = { ...bearer(alice.token), 'idempotency-key': 'before-0005' };
      const payload = { name: 'Old', type: 'doc', data: { n: 1 } };
      const first = await t.app.inject({ method: 'POST', url: R, headers, payload });
      assert.equal(first.statusCode, 201, first.body);
      // An answer stored by a server older than migration 0005 carries no revision.
      await sql`UPDATE idempotency_keys SET response = response - 'revision' WHERE key = 'before-0005'`.execute(t.server.database.db);
      const replay = await t.app.inject({ method: 'POST', url: R, headers, payload });
      assert.equal(replay.statusCode, 201, replay.body);
      assert.equal(replay.headers['idempotent-replayed'], 'true');
      assert.equal((replay.json() as Resource).revision, 1);
      assert.equal(replay.headers.etag, '"1"');
    });
  });
}
