import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { newId } from '../../src/core/ids.js';
import { DATABASE_KINDS } from '../support/databases.js';
import { signedInUser, type Resource, type Session } from '../support/factories.js';
import { as } from '../support/identity.js';
import { assertGraphqlError, data, gql, type Connection, type GraphqlError, type GraphqlResponse } from '../support/graphql.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { statementCounter } from '../support/statements.js';

/**
 * Versioned resources over GraphQL (DESIGN §5 "Resources", "GraphQL"): the same service calls
 * as REST as queries and mutations, with Relay connections, contract codes in `extensions`
 * (a stale expectedVersion is CONFLICT, where REST says 412), per-resource shares, batch
 * loaders with a bounded number of statements, and operations over WebSocket.
 */

interface Version {
  version: number;
  data: unknown;
  createdBy: string | null;
  createdAt: string;
}

const RESOURCE_FIELDS = 'id ownerId name type metadata version revision data createdAt updatedAt';
const RESOURCE_KEYS = ['createdAt', 'data', 'id', 'metadata', 'name', 'ownerId', 'revision', 'type', 'updatedAt', 'version'];

const CREATE = `mutation Create($input: CreateResourceInput!, $key: String) { createResource(input: $input, idempotencyKey: $key) { ${RESOURCE_FIELDS} } }`;
const RESOURCE = `query One($id: ID!) { resource(id: $id) { ${RESOURCE_FIELDS} } }`;
// expectedVersion is deprecated (it compares the data version only); test/api/resources.etag.test.ts covers expectedRevision.
const UPDATE = `mutation Update($id: ID!, $input: UpdateResourceInput!, $expected: Int) { updateResource(id: $id, input: $input, expectedVersion: $expected) { ${RESOURCE_FIELDS} } }`;
const DELETE = 'mutation Delete($id: ID!) { deleteResource(id: $id) }';
const VERSION = 'query Version($id: ID!, $version: Int!) { resourceVersion(id: $id, version: $version) { version data createdBy createdAt } }';
const RESTORE = `mutation Restore($id: ID!, $version: Int!, $key: String) { restoreResourceVersion(id: $id, version: $version, idempotencyKey: $key) { ${RESOURCE_FIELDS} } }`;
const SHARE = 'mutation Share($id: ID!, $userId: ID!, $actions: [String!]!) { shareResource(id: $id, userId: $userId, actions: $actions) { userId actions } }';
const UNSHARE = 'mutation Unshare($id: ID!, $userId: ID!) { unshareResource(id: $id, userId: $userId) }';
const LIST =
  'query List($first: Int, $after: String, $type: String, $ownerId: ID, $q: String) { resources(first: $first, after: $after, type: $type, ownerId: $ownerId, q: $q) { edges { cursor node { id ownerId name type version } } pageInfo { hasNextPage endCursor } totalCount } }';
/** The same, without totalCount: mercurius compiles a document after its 10th run (see the JIT test). */
const PAGE =
  'query Page($first: Int, $after: String, $type: String, $ownerId: ID, $q: String) { resources(first: $first, after: $after, type: $type, ownerId: $ownerId, q: $q) { edges { cursor node { id ownerId name type version } } pageInfo { hasNextPage endCursor } } }';
/** Mercurius JIT-compiles a document after this many runs (src/api/graphql/index.ts). */
const JIT_AFTER_RUNS = 10;

/** An error raised while executing one root field: HTTP 200, that field null. */
async function executionError(
  t: TestServer,
  query: string,
  variables: Record<string, unknown> | undefined,
  token: string | undefined,
  code: string,
): Promise<GraphqlError> {
  const { status, body } = await gql(t, query, variables, token);
  assert.equal(status, 200, JSON.stringify(body));
  const root = body.data === null || body.data === undefined ? null : Object.values(body.data)[0];
  assert.equal(root ?? null, null, `no result: ${JSON.stringify(body)}`);
  return assertGraphqlError(body, code);
}

/** Runs one operation to completion over a graphql-ws client. */
function wsRun<T = Record<string, unknown>>(client: Client, query: string, variables?: Record<string, unknown>): Promise<GraphqlResponse<T>> {
  return new Promise((resolve, reject) => {
    let result: GraphqlResponse<T> | undefined;
    client.subscribe(
      { query, ...(variables ? { variables } : {}) },
      {
        next: (value) => (result = value as GraphqlResponse<T>),
        error: reject,
        complete: () => (result ? resolve(result) : reject(new Error('completed without a result'))),
      },
    );
  });
}

for (const kind of DATABASE_KINDS) {
  describe(`resources over GraphQL (${kind})`, () => {
    let t: TestServer;
    let admin: Session;
    let a: Session;
    let b: Session;

    const create = async (token: string, input: Record<string, unknown>, key?: string): Promise<Resource> =>
      (await data<{ createResource: Resource }>(t, CREATE, { input, ...(key === undefined ? {} : { key }) }, token)).createResource;
    const read = async (token: string, id: string): Promise<Resource> => (await data<{ resource: Resource }>(t, RESOURCE, { id }, token)).resource;
    const countRows = async (table: 'resources' | 'resource_versions') =>
      Number(
        (
          await t.server.database.db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    before(async () => {
      t = await startTestServer(kind);
      // The first account is the admin; the others are members.
      admin = await signedInUser(t, { name: 'Admin' });
      a = await signedInUser(t, { email: 'a@resources-gql.example', name: 'Member A' });
      b = await signedInUser(t, { name: 'Member B' });
    });
    after(() => t.close());

    describe('create, read, update, delete', () => {
      it('creates version 1 and reads it back with data, owner and versions', async () => {
        const input = { name: 'Spec', type: 'doc', metadata: { team: 'core', n: 1 }, data: { title: 'Spec', tags: ['a', 'b'], nested: { x: null } } };
        const created = await create(a.token, input);
        assert.deepEqual(Object.keys(created).sort(), RESOURCE_KEYS);
        assert.equal(created.ownerId, a.user.id);
        assert.equal(created.version, 1);
        assert.deepEqual(created.data, input.data);
        assert.deepEqual(created.metadata, input.metadata);
        assert.equal(created.createdAt, created.updatedAt);

        const full = await data<{ resource: Resource & { owner: { id: string; email: string } | null; versions: Connection<Version> } }>(
          t,
          `query($id: ID!) { resource(id: $id) { ${RESOURCE_FIELDS} owner { id email } versions { edges { cursor node { version data createdBy createdAt } } pageInfo { hasNextPage endCursor } } } }`,
          { id: created.id },
          a.token,
        );
        const { owner, versions, ...rest } = full.resource;
        assert.deepEqual(rest, created);
        assert.deepEqual(owner, { id: a.user.id, email: 'a@resources-gql.example' });
        assert.equal(versions.edges.length, 1);
        assert.deepEqual(
          versions.edges[0]!.node,
          { version: 1, data: null, createdBy: a.user.id, createdAt: created.createdAt },
          'a history list carries no data',
        );
        assert.deepEqual(versions.pageInfo, { hasNextPage: false, endCursor: null });

        // Anything JSON is data, null and scalars included; metadata defaults to {}.
        for (const value of [null, 0, 'text', true, [], [1, [2, [3]]], { '~/': { 'a/b': '~0' } }]) {
          const made = await create(a.token, { name: 'Any', type: 'doc', data: value });
          assert.deepEqual(made.data, value);
          assert.deepEqual(made.metadata, {});
          assert.deepEqual((await read(a.token, made.id)).data, value);
        }
      });

      it('refuses invalid input with INVALID_INPUT listing every field; anonymous callers are UNAUTHORIZED', async () => {
        const before = await countRows('resources');
        const bad = await executionError(t, CREATE, { input: { name: '', type: 'Bad', data: 1 } }, a.token, 'INVALID_INPUT');
        assert.deepEqual(bad.extensions.errors?.map((e) => e.field).sort(), ['name', 'type'], JSON.stringify(bad.extensions.errors));
        assert.ok(bad.extensions.errors!.every((e) => typeof e.message === 'string' && e.message.length > 0));
        assert.deepEqual(bad.path, ['createResource']);

        const missing = await executionError(t, CREATE, { input: { name: 'No data', type: 'doc' } }, a.token, 'INVALID_INPUT');
        assert.deepEqual(
          missing.extensions.errors?.map((e) => e.field),
          ['data'],
        );
        for (const type of ['user', 'role', 'Doc', '1doc', 'x'.repeat(65)]) {
          const refused = await executionError(t, CREATE, { input: { name: 'Reserved', type, data: 1 } }, a.token, 'INVALID_INPUT');
          assert.deepEqual(
            refused.extensions.errors?.map((e) => e.field),
            ['type'],
            type,
          );
        }
        const control = await executionError(t, CREATE, { input: { name: 'a\u0007b', type: 'doc', data: 1 } }, a.token, 'INVALID_INPUT');
        assert.deepEqual(
          control.extensions.errors?.map((e) => e.field),
          ['name'],
        );
        // metadata must be an object: the JSONObject scalar refuses anything else before execution.
        const notObject = await gql(t, CREATE, { input: { name: 'x', type: 'doc', metadata: [1], data: 1 } }, a.token);
        assert.equal(notObject.status, 400);
        assertGraphqlError(notObject.body, 'INVALID_INPUT');
        // So does an unknown input field.
        const unknown = await gql(t, 'mutation { createResource(input: { name: "x", type: "doc", data: 1, ownerId: "x" }) { id } }', undefined, a.token);
        assert.equal(unknown.status, 400);
        assertGraphqlError(unknown.body, 'INVALID_INPUT');

        const changed = await create(a.token, { name: 'Valid', type: 'doc', data: 1 });
        const badPatch = await executionError(t, UPDATE, { id: changed.id, input: { name: '  ' } }, a.token, 'INVALID_INPUT');
        assert.deepEqual(
          badPatch.extensions.errors?.map((e) => e.field),
          ['name'],
        );

        await executionError(t, CREATE, { input: { name: 'x', type: 'doc', data: 1 } }, undefined, 'UNAUTHORIZED');
        await executionError(t, RESOURCE, { id: changed.id }, undefined, 'UNAUTHORIZED');
        assert.equal(await countRows('resources'), before + 1, 'only the valid create made a row');
      });

      it('answers text PostgreSQL cannot store (U+0000) with INVALID_INPUT, never INTERNAL_ERROR', async () => {
        // Valid JSON, but jsonb and text columns refuse U+0000: the client must be told which field.
        const before = await countRows('resources');
        const inData = await gql(t, CREATE, { input: { name: 'Nul', type: 'doc', data: { text: 'a\u0000b' } } }, a.token);
        assertGraphqlError(inData.body, 'INVALID_INPUT');
        assert.deepEqual(
          inData.body.errors?.[0]?.extensions.errors?.map((e) => e.field),
          ['data'],
          JSON.stringify(inData.body),
        );
        const inKey = await gql(t, CREATE, { input: { name: 'Nul', type: 'doc', data: { 'k\u0000': 1 } } }, a.token);
        assertGraphqlError(inKey.body, 'INVALID_INPUT');
        const inMetadata = await gql(t, CREATE, { input: { name: 'Nul', type: 'doc', metadata: { m: '\u0000' }, data: 1 } }, a.token);
        assertGraphqlError(inMetadata.body, 'INVALID_INPUT');
        assert.deepEqual(
          inMetadata.body.errors?.[0]?.extensions.errors?.map((e) => e.field),
          ['metadata'],
          JSON.stringify(inMetadata.body),
        );
        assert.equal(await countRows('resources'), before);
        // As a filter it matches nothing, or is refused: either way not a server error.
        for (const filter of [{ q: 'a\u0000' }, { type: 'doc\u0000' }]) {
          const { body } = await gql(t, LIST, filter, a.token);
          assert.notEqual(body.errors?.[0]?.extensions.code, 'INTERNAL_ERROR', `${JSON.stringify(filter)}: ${JSON.stringify(body)}`);
        }
      });

      it('replays createResource under the same idempotencyKey; another input under it is UNPROCESSABLE_ENTITY', async () => {
        const input = { name: 'Once', type: 'doc', data: { n: 1 } };
        const resources = await countRows('resources');
        const first = await create(a.token, input, 'create-once-1');
        const replay = await create(a.token, input, 'create-once-1');
        assert.equal(replay.id, first.id);
        assert.deepEqual(replay, first, 'the first answer, as it was');
        assert.equal(await countRows('resources'), resources + 1, 'one resource');

        const other = await executionError(t, CREATE, { input: { ...input, data: { n: 2 } }, key: 'create-once-1' }, a.token, 'UNPROCESSABLE_ENTITY');
        assert.match(other.message, /Idempotency-Key/i);
        assert.equal(await countRows('resources'), resources + 1);

        // Keys are per user: B's use of the same key creates B's own resource.
        const bs = await create(b.token, input, 'create-once-1');
        assert.notEqual(bs.id, first.id);
        assert.equal(bs.ownerId, b.user.id);

        // Without a key every call creates another resource.
        const x = await create(a.token, input);
        const y = await create(a.token, input);
        assert.notEqual(x.id, y.id);
        assert.equal(await countRows('resources'), resources + 4);

        // A malformed key is INVALID_INPUT and creates nothing.
        await executionError(t, CREATE, { input, key: 'has space' }, a.token, 'INVALID_INPUT');
        await executionError(t, CREATE, { input, key: '' }, a.token, 'INVALID_INPUT');
        assert.equal(await countRows('resources'), resources + 4);
      });

      it('updates with expectedVersion: new data is version n+1, name or metadata alone keep the version, a stale one is CONFLICT', async () => {
        const created = await create(a.token, { name: 'Draft', type: 'doc', metadata: { stage: 1 }, data: { body: 'v1' } });

        const v2 = (await data<{ updateResource: Resource }>(t, UPDATE, { id: created.id, input: { data: { body: 'v2' } }, expected: 1 }, a.token))
          .updateResource;
        assert.equal(v2.version, 2);
        assert.deepEqual(v2.data, { body: 'v2' });
        assert.equal(v2.name, 'Draft');
        assert.ok(Date.parse(v2.updatedAt) >= Date.parse(created.updatedAt));

        const renamed = (await data<{ updateResource: Resource }>(t, UPDATE, { id: created.id, input: { name: 'Final' }, expected: 2 }, a.token))
          .updateResource;
        assert.equal(renamed.version, 2, 'a name change appends no version');
        assert.equal(renamed.name, 'Final');
        assert.deepEqual(renamed.data, { body: 'v2' }, 'the data is still the current version’s');

        const retagged = (await data<{ updateResource: Resource }>(t, UPDATE, { id: created.id, input: { metadata: { stage: 2 } } }, a.token)).updateResource;
        assert.equal(retagged.version, 2);
        assert.equal(retagged.revision, 4, 'every change moves the revision on');
        assert.deepEqual(retagged.metadata, { stage: 2 });

        const stale = await executionError(t, UPDATE, { id: created.id, input: { data: { body: 'lost' } }, expected: 1 }, a.token, 'CONFLICT');
        assert.match(stale.message, /version 2/);
        await executionError(t, UPDATE, { id: created.id, input: { name: 'Lost' }, expected: 3 }, a.token, 'CONFLICT');
        const now = await read(a.token, created.id);
        assert.equal(now.version, 2);
        assert.equal(now.name, 'Final');
        assert.deepEqual(now.data, { body: 'v2' }, 'nothing changed');

        // An empty change writes nothing; its expectedVersion is still checked.
        const nothing = (await data<{ updateResource: Resource }>(t, UPDATE, { id: created.id, input: {}, expected: 2 }, a.token)).updateResource;
        assert.deepEqual(nothing, now);
        await executionError(t, UPDATE, { id: created.id, input: {}, expected: 1 }, a.token, 'CONFLICT');

        // Both together: one new version.
        const both = (await data<{ updateResource: Resource }>(t, UPDATE, { id: created.id, input: { name: 'Both', data: [3] }, expected: 2 }, a.token))
          .updateResource;
        assert.equal(both.version, 3);
        assert.deepEqual(await read(a.token, created.id), both, 'a read after the write sees it');
        assert.deepEqual(
          (await t.server.database.db.selectFrom('resource_versions').select('version').where('resource_id', '=', created.id).orderBy('version').execute()).map(
            (r) => r.version,
          ),
          [1, 2, 3],
          'versions are gapless',
        );
      });

      it('reads single versions and the history page by page; restoreResourceVersion appends a copy, replayable with a key', async () => {
        const created = await create(a.token, { name: 'History', type: 'doc', data: { step: 1 } });
        for (let step = 2; step <= 5; step++) await data(t, UPDATE, { id: created.id, input: { data: { step } } }, a.token);

        for (let n = 1; n <= 5; n++) {
          const { resourceVersion } = await data<{ resourceVersion: Version }>(t, VERSION, { id: created.id, version: n }, a.token);
          assert.equal(resourceVersion.version, n);
          assert.deepEqual(resourceVersion.data, { step: n });
          assert.equal(resourceVersion.createdBy, a.user.id);
        }
        for (const version of [0, 6, -1]) await executionError(t, VERSION, { id: created.id, version }, a.token, 'NOT_FOUND');
        await executionError(t, VERSION, { id: newId(), version: 1 }, a.token, 'NOT_FOUND');

        // The history, newest first, two at a time.
        const HISTORY =
          'query($id: ID!, $first: Int, $after: String) { resource(id: $id) { versions(first: $first, after: $after) { edges { cursor node { version } } pageInfo { hasNextPage endCursor } } } }';
        const seen: number[] = [];
        let after: string | null = null;
        for (let page = 0; page < 10; page++) {
          const { resource }: { resource: { versions: Connection<{ version: number }> } } = await data(
            t,
            HISTORY,
            { id: created.id, first: 2, after },
            a.token,
          );
          seen.push(...resource.versions.edges.map((e) => e.node.version));
          after = resource.versions.pageInfo.endCursor;
          if (!resource.versions.pageInfo.hasNextPage) break;
          assert.equal(after, resource.versions.edges.at(-1)!.cursor);
        }
        assert.deepEqual(seen, [5, 4, 3, 2, 1]);
        assert.equal(after, null);
        await executionError(t, HISTORY, { id: created.id, first: 2, after: 'bm9wZQ' }, a.token, 'INVALID_INPUT');

        const restored = (await data<{ restoreResourceVersion: Resource }>(t, RESTORE, { id: created.id, version: 2, key: 'restore-2' }, a.token))
          .restoreResourceVersion;
        assert.equal(restored.version, 6);
        assert.deepEqual(restored.data, { step: 2 });
        const replay = (await data<{ restoreResourceVersion: Resource }>(t, RESTORE, { id: created.id, version: 2, key: 'restore-2' }, a.token))
          .restoreResourceVersion;
        assert.deepEqual(replay, restored, 'the replay answers the first result and appends nothing');
        await executionError(t, RESTORE, { id: created.id, version: 3, key: 'restore-2' }, a.token, 'UNPROCESSABLE_ENTITY');
        assert.equal((await read(a.token, created.id)).version, 6);

        const again = (await data<{ restoreResourceVersion: Resource }>(t, RESTORE, { id: created.id, version: 1 }, a.token)).restoreResourceVersion;
        assert.equal(again.version, 7);
        assert.deepEqual(again.data, { step: 1 });
        assert.deepEqual((await data<{ resourceVersion: Version }>(t, VERSION, { id: created.id, version: 7 }, a.token)).resourceVersion.data, { step: 1 });
        await executionError(t, RESTORE, { id: created.id, version: 8 }, a.token, 'NOT_FOUND');
        assert.equal((await read(a.token, created.id)).version, 7, 'a missing version restores nothing');
      });

      it('deletes a resource: true, then it reads as missing, its history too', async () => {
        const created = await create(a.token, { name: 'Doomed', type: 'doc', data: 1 });
        await data(t, UPDATE, { id: created.id, input: { data: 2 } }, a.token);
        await read(a.token, created.id); // cached now: the delete must not leave it readable
        assert.deepEqual(await data(t, DELETE, { id: created.id }, a.token), { deleteResource: true });
        const gone = await gql(t, RESOURCE, { id: created.id }, a.token);
        assert.deepEqual(gone.body.data, { resource: null });
        assertGraphqlError(gone.body, 'NOT_FOUND');
        await executionError(t, VERSION, { id: created.id, version: 1 }, a.token, 'NOT_FOUND');
        await executionError(t, DELETE, { id: created.id }, a.token, 'NOT_FOUND');
        await executionError(t, UPDATE, { id: created.id, input: { name: 'Back' } }, a.token, 'NOT_FOUND');
        const left = await t.server.database.db.selectFrom('resource_versions').select('id').where('resource_id', '=', created.id).execute();
        assert.deepEqual(left, []);
        for (const id of ['not-a-uuid', newId()]) await executionError(t, DELETE, { id }, a.token, 'NOT_FOUND');
      });
    });

    describe('permissions and shares', () => {
      it('answers member B on A’s resource with NOT_FOUND everywhere, exactly like a missing one; nothing changes', async () => {
        const owned = await create(a.token, { name: 'Private', type: 'doc', data: { secret: true } });
        const missing = newId();
        const attempts: [string, string, Record<string, unknown>][] = [
          ['resource', RESOURCE, {}],
          ['resourceVersion', VERSION, { version: 1 }],
          ['updateResource', UPDATE, { input: { name: 'Mine now' } }],
          ['updateResource (data)', UPDATE, { input: { data: { secret: false } }, expected: 1 }],
          ['deleteResource', DELETE, {}],
          ['shareResource', SHARE, { userId: b.user.id, actions: ['read', 'update'] }],
          ['unshareResource', UNSHARE, { userId: b.user.id }],
          ['restoreResourceVersion', RESTORE, { version: 1 }],
        ];
        for (const [label, query, extra] of attempts) {
          const hidden = await executionError(t, query, { id: owned.id, ...extra }, b.token, 'NOT_FOUND');
          const absent = await executionError(t, query, { id: missing, ...extra }, b.token, 'NOT_FOUND');
          assert.equal(hidden.message, absent.message, `${label}: a hidden resource reads like a missing one`);
        }
        const listed = await data<{ resources: Connection<{ id: string }> }>(t, LIST, { ownerId: a.user.id }, b.token);
        assert.deepEqual(listed.resources.edges, [], 'B lists none of A’s');
        assert.equal(listed.resources.totalCount, 0);

        const after = await read(a.token, owned.id);
        assert.deepEqual(after, owned, 'unchanged');
        // The admin reads and changes anything.
        assert.equal((await read(admin.token, owned.id)).id, owned.id);
      });

      it('shares with B (who then reads it), widens to update, and unshares (NOT_FOUND again)', async () => {
        const owned = await create(a.token, { name: 'Shared doc', type: 'doc', data: { v: 1 } });
        await executionError(t, RESOURCE, { id: owned.id }, b.token, 'NOT_FOUND');

        const shared = await data<{ shareResource: { userId: string; actions: string[] } }>(
          t,
          SHARE,
          { id: owned.id, userId: b.user.id, actions: ['read'] },
          a.token,
        );
        assert.deepEqual(shared.shareResource, { userId: b.user.id, actions: ['read'] });

        const seen = await data<{ resource: Resource & { owner: { id: string } | null } }>(
          t,
          `query($id: ID!) { resource(id: $id) { ${RESOURCE_FIELDS} owner { id } } }`,
          { id: owned.id },
          b.token,
        );
        assert.deepEqual(seen.resource.data, { v: 1 });
        assert.equal(seen.resource.owner, null, 'B may read the resource, not its owner’s account');
        const listed = await data<{ resources: Connection<{ id: string }> }>(t, LIST, { ownerId: a.user.id }, b.token);
        assert.deepEqual(
          listed.resources.edges.map((e) => e.node.id),
          [owned.id],
          'and finds it in its list',
        );
        assert.equal(listed.resources.totalCount, 1);
        // Who else it is shared with is the owner's to see: B's list still answers, that field null.
        const withShares = await gql<{ resources: Connection<{ id: string; shares: unknown }> }>(
          t,
          `query($o: ID) { resources(ownerId: $o) { edges { node { id shares { userId } } } } }`,
          { o: a.user.id },
          b.token,
        );
        assert.deepEqual(
          withShares.body.data?.resources.edges.map((e) => e.node),
          [{ id: owned.id, shares: null }],
          JSON.stringify(withShares.body),
        );
        assertGraphqlError(withShares.body, 'FORBIDDEN');

        // Read only: B may not change, delete or re-share it. It may read it, so these are FORBIDDEN.
        await executionError(t, UPDATE, { id: owned.id, input: { data: { v: 'B' } } }, b.token, 'FORBIDDEN');
        await executionError(t, DELETE, { id: owned.id }, b.token, 'FORBIDDEN');
        await executionError(t, SHARE, { id: owned.id, userId: b.user.id, actions: ['update'] }, b.token, 'FORBIDDEN');

        const widened = await data<{ shareResource: { actions: string[] } }>(
          t,
          SHARE,
          { id: owned.id, userId: b.user.id, actions: ['update', 'read'] },
          a.token,
        );
        assert.deepEqual(widened.shareResource.actions, ['read', 'update']);
        const byB = (await data<{ updateResource: Resource }>(t, UPDATE, { id: owned.id, input: { data: { v: 2 } }, expected: 1 }, b.token)).updateResource;
        assert.equal(byB.version, 2);
        assert.equal(byB.ownerId, a.user.id, 'the owner stays A');
        assert.equal((await data<{ resourceVersion: Version }>(t, VERSION, { id: owned.id, version: 2 }, a.token)).resourceVersion.createdBy, b.user.id);

        // Invalid shares.
        const badActions = await executionError(t, SHARE, { id: owned.id, userId: b.user.id, actions: ['manage'] }, a.token, 'INVALID_INPUT');
        assert.deepEqual(
          badActions.extensions.errors?.map((e) => e.field),
          ['actions'],
        );
        await executionError(t, SHARE, { id: owned.id, userId: b.user.id, actions: [] }, a.token, 'INVALID_INPUT');
        const noUser = await executionError(t, SHARE, { id: owned.id, userId: newId(), actions: ['read'] }, a.token, 'INVALID_INPUT');
        assert.deepEqual(
          noUser.extensions.errors?.map((e) => e.field),
          ['userId'],
        );

        assert.deepEqual(await data(t, UNSHARE, { id: owned.id, userId: b.user.id }, a.token), { unshareResource: true });
        await executionError(t, RESOURCE, { id: owned.id }, b.token, 'NOT_FOUND');
        await executionError(t, UPDATE, { id: owned.id, input: { data: { v: 3 } } }, b.token, 'NOT_FOUND');
        assert.equal((await data<{ resources: Connection<unknown> }>(t, LIST, { ownerId: a.user.id }, b.token)).resources.totalCount, 0);
        await executionError(t, UNSHARE, { id: owned.id, userId: b.user.id }, a.token, 'NOT_FOUND');

        // The admin shares anyone's resource.
        await data(t, SHARE, { id: owned.id, userId: b.user.id, actions: ['read'] }, admin.token);
        assert.equal((await read(b.token, owned.id)).id, owned.id);
        await data(t, UNSHARE, { id: owned.id, userId: b.user.id }, admin.token);
      });
    });

    describe('the resources connection', () => {
      let mine: Resource[];
      let theirs: Resource[];

      before(async () => {
        mine = [];
        theirs = [];
        for (let i = 0; i < 13; i++) mine.push(await create(a.token, { name: `Note ${i}${i % 3 === 0 ? ' Alpha' : ''}`, type: 'note', data: { i } }));
        mine.push(await create(a.token, { name: '100% done_now', type: 'note', data: 0 }));
        mine.push(await create(a.token, { name: '100x doneXnow', type: 'note', data: 0 }));
        for (let i = 0; i < 4; i++) theirs.push(await create(b.token, { name: `B note ${i} ALPHA`, type: 'note', data: { i } }));
        theirs.push(await create(b.token, { name: 'B task', type: 'task', data: null }));
      });

      /**
       * Reads a whole connection with first/after; checks cursors and page sizes on the way, and
       * that totalCount (asked once, in a document of its own per filter set, so no document
       * here runs often enough to be JIT-compiled; see the JIT test) matches what the pages held.
       */
      async function readAll(token: string, first: number, filters: Record<string, string>) {
        const ids: string[] = [];
        let after: string | null = null;
        let pages = 0;
        do {
          const { resources }: { resources: Omit<Connection<{ id: string }>, 'totalCount'> } = await data(t, PAGE, { first, after, ...filters }, token);
          assert.ok(resources.edges.length <= first);
          if (resources.pageInfo.hasNextPage) {
            assert.equal(resources.edges.length, first, 'only the last page is short');
            assert.equal(resources.pageInfo.endCursor, resources.edges.at(-1)!.cursor);
          } else {
            assert.equal(resources.pageInfo.endCursor, null);
          }
          ids.push(...resources.edges.map((e) => e.node.id));
          after = resources.pageInfo.endCursor;
          pages++;
          assert.ok(pages < 100, 'pagination ends');
        } while (after !== null);
        assert.equal(new Set(ids).size, ids.length, 'no resource twice');
        const literals = Object.entries(filters).map(([name, value]) => `${name}: ${JSON.stringify(value)}`);
        const count = `{ resources(first: ${first}${literals.map((l) => `, ${l}`).join('')}) { totalCount } }`;
        assert.equal(
          (await data<{ resources: { totalCount: number } }>(t, count, undefined, token)).resources.totalCount,
          ids.length,
          `totalCount of ${count}`,
        );
        return { ids, pages };
      }

      const sortedIds = (rows: Resource[]) => rows.map((r) => r.id).sort();

      it('pages to the end in id order with filters type, ownerId and q; totalCount matches', async () => {
        const notes = [...mine, ...theirs.filter((r) => r.type === 'note')];
        const all = await readAll(admin.token, 4, { type: 'note' });
        assert.deepEqual(all.ids, sortedIds(notes));
        assert.equal(all.pages, Math.ceil(notes.length / 4));

        assert.deepEqual((await readAll(admin.token, 5, { type: 'note', ownerId: b.user.id })).ids, sortedIds(theirs.filter((r) => r.type === 'note')));
        assert.deepEqual((await readAll(admin.token, 3, { ownerId: b.user.id, type: 'task' })).ids, [theirs.at(-1)!.id]);
        assert.deepEqual((await readAll(admin.token, 7, { type: 'nothing-here' })).ids, []);

        // q: contains, case-insensitively; % and _ are literal characters.
        const alpha = notes.filter((r) => /alpha/i.test(r.name));
        assert.ok(alpha.length >= 8);
        assert.deepEqual((await readAll(admin.token, 3, { q: 'aLpHa', type: 'note' })).ids, sortedIds(alpha));
        assert.deepEqual((await readAll(admin.token, 3, { q: '0% done_', type: 'note' })).ids, [mine.at(-2)!.id]);
        assert.deepEqual((await readAll(admin.token, 3, { q: '', type: 'note' })).ids, sortedIds(notes), 'an empty q filters nothing');

        // A member lists its own only; its totalCount says so.
        assert.deepEqual((await readAll(a.token, 4, { type: 'note' })).ids, sortedIds(mine));
        assert.deepEqual((await readAll(b.token, 2, { type: 'note', q: 'alpha' })).ids, sortedIds(theirs.filter((r) => r.type === 'note')));
        assert.deepEqual((await readAll(a.token, 4, { ownerId: b.user.id })).ids, []);
      });

      it('defaults to 20 per page and refuses out-of-range sizes, foreign cursors and a malformed ownerId', async () => {
        const { resources } = await data<{ resources: Connection<{ id: string }> }>(
          t,
          '{ resources { edges { node { id } } pageInfo { hasNextPage } totalCount } }',
          undefined,
          admin.token,
        );
        assert.equal(resources.edges.length, Math.min(20, resources.totalCount));
        assert.equal(resources.pageInfo.hasNextPage, resources.totalCount > 20);
        for (const variables of [{ first: 0 }, { first: 101 }, { first: -1 }, { after: 'bm90LWEtY3Vyc29y' }, { ownerId: 'nope' }]) {
          const error = await executionError(t, LIST, variables, admin.token, 'INVALID_INPUT');
          assert.ok((error.extensions.errors ?? []).length > 0, JSON.stringify(error));
        }
      });

      it('answers totalCount, owner and data on every run of a document, also once mercurius has JIT-compiled it', async () => {
        // Every client repeats its documents; from the 11th run of one, mercurius executes it
        // with graphql-jit, whose default field resolver must give the same answers.
        const query =
          'query Jit($type: String!) { resources(first: 2, type: $type) { totalCount edges { node { id data owner { id } } } pageInfo { hasNextPage } } }';
        const notes = [...mine, ...theirs].filter((r) => r.type === 'note');
        const first = sortedIds(notes).slice(0, 2);
        const failures: string[] = [];
        for (let run = 1; run <= JIT_AFTER_RUNS + 3; run++) {
          const { body } = await gql<{ resources: Connection<{ id: string; data: unknown; owner: { id: string } | null }> }>(
            t,
            query,
            { type: 'note' },
            admin.token,
          );
          if (body.errors) {
            failures.push(`run ${run}: ${JSON.stringify(body.errors)}`);
            continue;
          }
          const resources = body.data!.resources;
          assert.equal(resources.totalCount, notes.length, `run ${run}`);
          assert.deepEqual(
            resources.edges.map((e) => e.node.id),
            first,
            `run ${run}`,
          );
          assert.ok(
            resources.edges.every((e) => e.node.owner !== null && e.node.data !== undefined),
            `run ${run}`,
          );
        }
        assert.deepEqual(failures, [], 'every run answers');
      });
    });

    describe('batch loaders', () => {
      it('lists 50 resources of 10 owners with owner and data in the same small number of statements for 5 as for 20', async () => {
        const db = t.server.database.db;
        const now = new Date();
        // Owners and resources straight into the tables: nobody signs in as them.
        const owners = Array.from({ length: 10 }, (_, i) => ({
          id: newId(),
          email: `owner-${i}@resources-gql.example`,
          name: `Owner ${i}`,
          password_hash: '$argon2id$v=19$m=19456,t=2,p=1$never$used',
          created_at: now,
          updated_at: now,
        }));
        await db.insertInto('users').values(owners).execute();
        const rows = Array.from({ length: 50 }, (_, i) => ({
          id: newId(),
          owner_id: owners[i % owners.length]!.id,
          name: `Bulk ${i}`,
          type: 'bulk',
          metadata: JSON.stringify({}),
          version: 1,
          created_at: now,
          updated_at: now,
        }));
        await db.insertInto('resources').values(rows).execute();
        await db
          .insertInto('resource_versions')
          .values(
            rows.map((r, i) => ({
              id: newId(),
              resource_id: r.id,
              version: 1,
              data: JSON.stringify({ i, owner: r.owner_id }),
              created_by: r.owner_id,
              created_at: now,
            })),
          )
          .execute();
        const ownerOf = new Map(rows.map((r) => [r.id, r.owner_id]));

        const query = 'query($first: Int!) { resources(first: $first, type: "bulk") { edges { node { id owner { id } data } } } }';
        type Page = { resources: { edges: { node: { id: string; owner: { id: string } | null; data: { i: number; owner: string } } }[] } };
        const counter = statementCounter(t);
        try {
          // The least of a few runs: a session or grants entry expiring in between would add
          // the statements of re-authentication.
          let runs = 0;
          const once = (first: number) =>
            counter.during(async () => {
              runs++;
              const { resources } = await data<Page>(t, query, { first }, admin.token);
              assert.equal(resources.edges.length, first);
              for (const { node } of resources.edges) {
                assert.equal(node.owner?.id, ownerOf.get(node.id), 'every owner resolved, the right one');
                assert.equal(node.data.owner, ownerOf.get(node.id), 'every resource with its own data');
              }
              if (first >= 20) assert.equal(new Set(resources.edges.map((e) => e.node.owner?.id)).size, 10, 'the page spans all 10 owners');
            });
          const measure = async (first: number) => {
            const taken: string[][] = [];
            for (let i = 0; i < 3; i++) taken.push(await once(first));
            return taken.reduce((least, run) => (run.length < least.length ? run : least));
          };
          const show = (statements: string[]) => `${statements.length} statements:\n  ${statements.join('\n  ')}`;
          await measure(5); // warm: the admin's session and grants are cached now
          const small = await measure(5);
          const large = await measure(20);
          assert.ok(small.length > 0, 'the counter sees the statements');
          assert.equal(large.length, small.length, `as many statements for 20 as for 5\n5: ${show(small)}\n20: ${show(large)}`);
          // One page, one batch of owners, one batch of data.
          assert.ok(large.length <= 3, `at most 3 statements, got ${show(large)}`);

          // The same once mercurius runs the document JIT-compiled.
          while (runs < JIT_AFTER_RUNS) await once(5);
          const compiledSmall = await measure(5);
          const compiledLarge = await measure(20);
          assert.equal(compiledSmall.length, small.length, `compiled, 5: ${show(compiledSmall)}`);
          assert.equal(compiledLarge.length, small.length, `compiled, 20: ${show(compiledLarge)}`);
        } finally {
          counter.restore();
        }
      });
    });

    describe('over WebSocket (graphql-transport-ws)', () => {
      const clients: Client[] = [];
      after(async () => {
        await Promise.all(clients.map((c) => c.dispose()));
      });

      async function connect(token?: string): Promise<Client> {
        const client = createClient({
          url: `${t.url.replace('http', 'ws')}/graphql`,
          webSocketImpl: WebSocket,
          retryAttempts: 0,
          lazy: false,
          ...(token ? { connectionParams: { authorization: `Bearer ${token}` } } : {}),
          onNonLazyError: () => undefined,
        });
        clients.push(client);
        await new Promise<void>((resolve, reject) => {
          client.on('connected', () => resolve());
          client.on('closed', () => reject(new Error('closed before connection_ack')));
        });
        return client;
      }

      it('reads resource(id) and lists with owner and data; fresh each time after updates over REST', async () => {
        const owned = await create(a.token, { name: 'Live', type: 'live', data: { n: 0 } });
        const client = await connect(a.token);
        const ONE = 'query($id: ID!) { resource(id: $id) { id name version data owner { id } } }';
        const MANY = 'query { resources(type: "live") { edges { node { id version data owner { id } } } totalCount } }';

        const first = await wsRun<{ resource: { version: number; data: unknown; owner: { id: string } } }>(client, ONE, { id: owned.id });
        assert.equal(first.errors, undefined, JSON.stringify(first.errors));
        assert.deepEqual(first.data?.resource, { id: owned.id, name: 'Live', version: 1, data: { n: 0 }, owner: { id: a.user.id } });

        for (let n = 1; n <= 3; n++) {
          const patched = await as(t, a.token, 'PATCH', `/api/v1/resources/${owned.id}`, { data: { n }, name: `Live ${n}` });
          assert.equal(patched.statusCode, 200, patched.body);
          const one = await wsRun<{ resource: unknown }>(client, ONE, { id: owned.id });
          assert.equal(one.errors, undefined, JSON.stringify(one.errors));
          assert.deepEqual(
            one.data?.resource,
            { id: owned.id, name: `Live ${n}`, version: n + 1, data: { n }, owner: { id: a.user.id } },
            `fresh after update ${n}`,
          );
          const many = await wsRun<{ resources: { edges: { node: unknown }[]; totalCount: number } }>(client, MANY);
          assert.equal(many.errors, undefined, JSON.stringify(many.errors));
          assert.deepEqual(many.data?.resources, { edges: [{ node: { id: owned.id, version: n + 1, data: { n }, owner: { id: a.user.id } } }], totalCount: 1 });
        }

        // Mutations run over the socket too.
        const updated = await wsRun<{ updateResource: { version: number } }>(
          client,
          'mutation($id: ID!) { updateResource(id: $id, input: { data: 42 }, expectedVersion: 4) { version } }',
          { id: owned.id },
        );
        assert.deepEqual(updated.data, { updateResource: { version: 5 } });
        const stale = await wsRun(client, 'mutation($id: ID!) { updateResource(id: $id, input: { data: 43 }, expectedVersion: 4) { version } }', {
          id: owned.id,
        });
        assert.equal(stale.errors?.[0]?.extensions.code, 'CONFLICT', JSON.stringify(stale));
        assert.equal((await read(a.token, owned.id)).version, 5, 'the stale write changed nothing');
      });

      it('answers another member NOT_FOUND and an anonymous socket UNAUTHORIZED', async () => {
        const owned = await create(a.token, { name: 'Hidden', type: 'doc', data: 1 });
        const other = await connect(b.token);
        const hidden = await wsRun(other, 'query($id: ID!) { resource(id: $id) { id data } }', { id: owned.id });
        assert.deepEqual(hidden.data, { resource: null });
        assert.equal(hidden.errors?.[0]?.extensions.code, 'NOT_FOUND', JSON.stringify(hidden));
        const listed = await wsRun<{ resources: { totalCount: number } }>(
          other,
          'query($o: ID) { resources(ownerId: $o) { totalCount edges { node { data } } } }',
          { o: a.user.id },
        );
        assert.deepEqual(listed.data, { resources: { totalCount: 0, edges: [] } });

        const anonymous = await connect();
        const refused = await wsRun(anonymous, 'query($id: ID!) { resource(id: $id) { id } }', { id: owned.id });
        assert.equal(refused.errors?.[0]?.extensions.code, 'UNAUTHORIZED', JSON.stringify(refused));
      });
    });
  });
}
