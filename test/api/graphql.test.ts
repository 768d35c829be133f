import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { getIntrospectionQuery } from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { DATABASE_KINDS } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';

interface GraphqlResponse {
  data?: unknown;
  errors?: { message: string; extensions: { code: string; traceId: string } }[];
}

async function post(t: TestServer, payload: unknown, headers: Record<string, string> = {}) {
  const response = await t.app.inject({ method: 'POST', url: '/graphql', payload: payload as object, headers });
  return { status: response.statusCode, body: response.json() as GraphqlResponse, headers: response.headers };
}

function assertRejected(result: { status: number; body: GraphqlResponse }, pattern: RegExp) {
  assert.equal(result.status, 400, JSON.stringify(result.body));
  assert.equal(result.body.data, null);
  assert.ok(result.body.errors?.length, 'errors are listed');
  const error = result.body.errors!.find((e) => pattern.test(e.message));
  assert.ok(error, `an error matching ${pattern}: ${JSON.stringify(result.body.errors)}`);
  assert.equal(error!.extensions.code, 'INVALID_INPUT');
  assert.match(error!.extensions.traceId, /^[0-9a-f]{32}$/);
}

/**
 * A document `depth` selections deep. `__type { ofType { ofType … } } }` nests as deep as
 * asked; only the `__schema` field is exempt from the depth limit, so this is measured.
 */
function deepQuery(depth: number, { name = 'Deep', fragment = false } = {}) {
  let selection = '{ name }';
  for (let i = 0; i < depth - 2; i++) selection = `{ ofType ${selection} }`;
  if (!fragment) return `query ${name} { __type(name: "Query") ${selection} }`;
  return `query Q { ...${name} } fragment ${name} on Query { __type(name: "Query") ${selection} }`;
}

/** `n` aliased pages of 100 users, 501 points each: cost grows with n while depth stays at 4. */
function costlyQuery(n: number) {
  return `{ ${Array.from({ length: n }, (_, i) => `u${i}: users(first: 100) { edges { node { id email name } } }`).join(' ')} }`;
}

for (const kind of DATABASE_KINDS) {
  describe(`GraphQL (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      // Two pages of 100 users cost 1,002: the complexity limit is raised a little so the
      // cost test can show one document within it and one over it.
      t = await startTestServer(kind, { config: { 'graphql.maxDocumentBytes': 8192, 'graphql.maxComplexity': 2000 } });
    });
    after(() => t.close());

    it('answers { __typename } over POST and GET', async () => {
      const viaPost = await post(t, { query: '{ __typename server { name version profile } }' });
      assert.equal(viaPost.status, 200);
      assert.deepEqual(viaPost.body.data, {
        __typename: 'Query',
        server: {
          name: 'PCF API',
          version: viaPost.body.data && (viaPost.body.data as { server: { version: string } }).server.version,
          profile: 'development',
        },
      });
      const viaGet = await t.app.inject({ method: 'GET', url: `/graphql?query=${encodeURIComponent('{ __typename }')}` });
      assert.equal(viaGet.statusCode, 200);
      assert.deepEqual(viaGet.json(), { data: { __typename: 'Query' }, extensions: { cost: viaGet.json().extensions.cost } });
      // What the operation cost and what is left of the caller's points are in extensions.
      assert.equal(viaGet.json().extensions.cost.requested, 1);
    });

    it('rejects documents deeper than the limit before execution, however they are named', async () => {
      const ok = await post(t, { query: deepQuery(15) });
      assert.equal(ok.status, 200, `depth 15 is allowed: ${JSON.stringify(ok.body.errors)}`);
      assertRejected(await post(t, { query: deepQuery(16) }), /depth limit of 15 exceeded/i);
      // Naming the operation or a fragment __schema must not switch the limits off.
      assertRejected(await post(t, { query: deepQuery(40, { name: '__schema' }) }), /depth limit/i);
      assertRejected(await post(t, { query: deepQuery(40, { name: '__schema', fragment: true }) }), /depth limit/i);
    });

    it('rejects more aliases than allowed, __typename included', async () => {
      const aliases = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: __typename`).join(' ')} }`;
      assert.equal((await post(t, { query: aliases(15) })).status, 200);
      assertRejected(await post(t, { query: aliases(16) }), /alias/i);
    });

    it('rejects documents whose cost exceeds the complexity limit', async () => {
      const within = await post(t, { query: costlyQuery(2) });
      assert.equal(within.status, 200, JSON.stringify(within.body.errors));
      const over = await post(t, { query: costlyQuery(10) });
      assertRejected(over, /cost limit of 2000 exceeded/i);
      assert.equal(over.body.errors!.length, 1, 'only the cost limit is exceeded');
      const named = await post(t, { query: `query __schema ${costlyQuery(10)}` });
      assertRejected(named, /cost limit of 2000 exceeded/i);
    });

    it('rejects a batch of more operations than allowed, and runs one within it', async () => {
      const op = { query: '{ __typename }' };
      const ok = await t.app.inject({ method: 'POST', url: '/graphql', payload: Array(10).fill(op) });
      assert.equal(ok.statusCode, 200);
      assert.equal((ok.json() as unknown[]).length, 10);
      const tooMany = await t.app.inject({ method: 'POST', url: '/graphql', payload: Array(11).fill(op) });
      assertRejected({ status: tooMany.statusCode, body: tooMany.json() as GraphqlResponse }, /at most 10 operations/);
    });

    it('rejects a document larger than the limit', async () => {
      const big = `{ __typename ${' '.repeat(9000)} }`;
      assertRejected(await post(t, { query: big }), /at most 8192 bytes/);
    });

    it('reports syntax and validation errors with INVALID_INPUT and the trace id', async () => {
      assertRejected(await post(t, { query: '{ server { ' }), /Syntax Error/);
      assertRejected(await post(t, { query: '{ nope }' }), /Cannot query field "nope"/);
    });

    it('answers a request of the wrong shape with 400, not a server error', async () => {
      assertRejected(await post(t, { query: 123 }), /not a valid GraphQL request/);
      assertRejected(await post(t, { query: '{ __typename }', variables: 'x' }), /not a valid GraphQL request/);
      assertRejected(await post(t, [{ query: 5 }]), /not a valid GraphQL request/);
      // mercurius would take a JSON string for a pre-parsed document and crash validating it.
      assertRejected(await post(t, { query: '{"kind":"Document","definitions":[{"kind":"Nope"}]}' }), /not a valid GraphQL request/);
      const viaGet = await t.app.inject({ method: 'GET', url: `/graphql?query=${encodeURIComponent('[1,2]')}` });
      assert.equal(viaGet.statusCode, 400);
      assertRejected(await post(t, ['not an object']), /must be a JSON object/);
    });

    it('refuses introspection that nests lists to blow up the response', async () => {
      const bomb = '{ __schema { types { fields { type { fields { type { fields { type { fields { name } } } } } } } } } }';
      assertRejected(await post(t, { query: bomb }), /introspection/i);
    });

    it('allows introspection and GraphiQL in development', async () => {
      const result = await post(t, { query: getIntrospectionQuery() });
      assert.equal(result.status, 200, JSON.stringify(result.body.errors));
      assert.ok((result.body.data as { __schema: unknown }).__schema);
      const ide = await t.app.inject({ method: 'GET', url: '/graphiql' });
      assert.equal(ide.statusCode, 200);
    });

    it('serves queries over WebSocket with the graphql-transport-ws protocol', async () => {
      const client = createClient({ url: t.url.replace('http', 'ws') + '/graphql', webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
      try {
        const result = await new Promise<unknown>((resolve, reject) => {
          let value: unknown;
          client.subscribe({ query: '{ __typename server { name } }' }, { next: (v) => (value = v), error: reject, complete: () => resolve(value) });
        });
        assert.deepEqual((result as { data: unknown }).data, { __typename: 'Query', server: { name: 'PCF API' } });
        assert.equal((result as { extensions: { cost: { requested: number } } }).extensions.cost.requested, 3);
        const rejected = await new Promise<unknown>((resolve) => {
          let value: unknown;
          client.subscribe({ query: deepQuery(30) }, { next: (v) => (value = v), error: resolve, complete: () => resolve(value) });
        });
        // graphql-ws answers a refused operation with an `error` message: the contract's code.
        const errors = rejected as { message: string; extensions?: { code?: string } }[];
        assert.ok(Array.isArray(errors), `an error message: ${JSON.stringify(rejected)}`);
        assert.match(errors[0]!.message, /depth limit of 15 exceeded/i, 'limits apply over WebSocket too');
        assert.equal(errors[0]!.extensions?.code, 'INVALID_INPUT');
      } finally {
        await client.dispose();
      }
    });
  });
}

describe('GraphQL in production', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer(DATABASE_KINDS[DATABASE_KINDS.length - 1]!, { config: { profile: 'production' } });
  });
  after(() => t.close());

  it('refuses introspection and does not serve GraphiQL', async () => {
    const result = await post(t, { query: '{ __schema { queryType { name } } }' });
    assertRejected(result, /introspection/i);
    const typeQuery = await post(t, { query: '{ __type(name: "Query") { name } }' });
    assertRejected(typeQuery, /introspection/i);
    const ide = await t.app.inject({ method: 'GET', url: '/graphiql' });
    assert.equal(ide.statusCode, 404);
    assert.equal((await post(t, { query: '{ __typename }' })).status, 200, 'ordinary queries still work');
  });
});

describe('GraphQL WebSocket on shutdown', () => {
  it('closes sockets with 1012, the reconnect hint', async () => {
    const t = await startTestServer(DATABASE_KINDS[DATABASE_KINDS.length - 1]!);
    try {
      const socket = new WebSocket(t.url.replace('http', 'ws') + '/graphql', 'graphql-transport-ws');
      await new Promise((resolve, reject) => {
        socket.once('open', resolve);
        socket.once('error', reject);
      });
      socket.send(JSON.stringify({ type: 'connection_init' }));
      await new Promise((resolve) => socket.once('message', resolve));
      const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
      await t.server.stop();
      assert.equal(await closed, 1012);
    } finally {
      await t.close();
    }
  });
});
