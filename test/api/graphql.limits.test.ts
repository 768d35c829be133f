import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DATABASE_KINDS } from '../support/databases.js';
import { assertGraphqlError, gql, type GraphqlResponse } from '../support/graphql.js';
import { signedInUser, type Session } from '../support/factories.js';
import { as, assertInvalidField } from '../support/identity.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { WsProbe } from '../support/ws.js';

const LIST = 'query ($q: String, $type: String) { resources(q: $q, type: $type) { totalCount edges { node { id } } } }';

// GraphQL's input limits, refusals and write costs: a list filter is refused with the same
// answer over GraphQL, REST and WebSocket (docs/limits.md "Input: one rule for every
// transport"); oversized variables and documents are refused before the work they would cost
// (docs/limits.md "GraphQL documents"); a batch and each write are charged what they cost
// (docs/gateway.md "What a GraphQL operation costs").
for (const kind of DATABASE_KINDS) {
  describe(`GraphQL input limits, refusals and write costs (${kind})`, () => {
    let t: TestServer;
    let member: Session;
    before(async () => {
      t = await startTestServer(kind);
      member = await signedInUser(t, { name: 'Member' });
    });
    after(() => t.close());

    it('refuses a search text over 255 characters on GraphQL, REST and WebSocket alike, before any SQL', async () => {
      const long = 'a'.repeat(256);
      const ok = await gql(t, LIST, { q: 'a'.repeat(255) }, member.token);
      assert.equal(ok.status, 200, JSON.stringify(ok.body));

      const overGraphql = await gql(t, LIST, { q: long }, member.token);
      const error = assertGraphqlError(overGraphql.body, 'INVALID_INPUT');
      assert.deepEqual(
        error.extensions.errors?.map((e) => e.field),
        ['q'],
      );
      // A type filter longer than any type is refused the same way.
      assert.deepEqual(
        assertGraphqlError((await gql(t, LIST, { type: 't'.repeat(65) }, member.token)).body, 'INVALID_INPUT').extensions.errors?.map((e) => e.field),
        ['type'],
      );
      // PostgreSQL text cannot hold U+0000: refused, not a 500.
      assertGraphqlError((await gql(t, LIST, { q: 'a\u0000b' }, member.token)).body, 'INVALID_INPUT');

      assertInvalidField(await as(t, member.token, 'GET', `/api/v1/resources?q=${long}`), /q/);

      const ws = await WsProbe.connect(t.url, member.token);
      try {
        ws.subscribe('1', LIST, { q: long });
        const message = await ws.next('1');
        assert.equal(message.type, 'next', JSON.stringify(message));
        const body = message.payload as { errors?: { extensions: { code: string } }[] };
        assert.equal(body.errors?.[0]?.extensions.code, 'INVALID_INPUT', JSON.stringify(body));
      } finally {
        ws.close();
      }
    });

    it('refuses variables over graphql.maxVariablesBytes with 413 before parsing, and still takes resource data at its own limit', async () => {
      const create = 'mutation ($input: CreateResourceInput!) { createResource(input: $input) { id version } }';
      // Data just under resources.maxDataBytes (1 MiB) fits in the variables.
      const fits = await gql<{ createResource: { version: number } }>(
        t,
        create,
        { input: { name: 'Big', type: 'doc', data: { text: 'x'.repeat(1_000_000) } } },
        member.token,
      );
      assert.equal(fits.status, 200, JSON.stringify(fits.body).slice(0, 500));
      assert.equal(fits.body.data?.createResource.version, 1);

      const over = await t.app.inject({
        method: 'POST',
        url: '/graphql',
        headers: { authorization: `Bearer ${member.token}` },
        payload: { query: LIST, variables: { q: 'x'.repeat(1_200_000) } },
      });
      assert.equal(over.statusCode, 413, over.body.slice(0, 500));
      // Answered as every refusal at /graphql is: a GraphQL response with the HTTP status.
      assertGraphqlError(over.json() as GraphqlResponse, 'PAYLOAD_TOO_LARGE');
      // A batch counts all its operations' variables together.
      const item = { query: LIST, variables: { q: 'x'.repeat(200_000) } };
      const batch = await t.app.inject({
        method: 'POST',
        url: '/graphql',
        headers: { authorization: `Bearer ${member.token}` },
        payload: Array.from({ length: 7 }, () => item),
      });
      assert.equal(batch.statusCode, 413, batch.body.slice(0, 500));
    });

    it('refuses a document of too many field selections before validating it, over HTTP and WebSocket', async () => {
      // 1,200 repeated fields: validation alone took ~290 ms of CPU before this limit.
      const repeated = `{ ${'server { name } '.repeat(1200)} }`;
      const anonymous = await gql(t, repeated);
      assert.equal(anonymous.status, 400);
      assert.match(assertGraphqlError(anonymous.body, 'INVALID_INPUT').message, /at most 250 field selections/);
      // Through fragments too: every spread counts.
      const fragments = Array.from({ length: 200 }, (_, i) => `fragment F${i} on Query { __typename }`).join(' ');
      const spread = `{ ${Array.from({ length: 200 }, (_, i) => `...F${i}`).join(' ')} } ${fragments}`;
      assertGraphqlError((await gql(t, spread, undefined, member.token)).body, 'INVALID_INPUT');
      // A document within the limit runs.
      const within = await gql(t, `{ ${'server { name } '.repeat(100)} }`, undefined, member.token);
      assert.equal(within.status, 200, JSON.stringify(within.body));

      const ws = await WsProbe.connect(t.url, member.token);
      try {
        ws.subscribe('1', repeated);
        const message = await ws.next('1');
        assert.equal(message.type, 'error', JSON.stringify(message).slice(0, 300));
        const errors = message.payload as { message: string; extensions: { code: string } }[];
        assert.equal(errors[0]?.extensions.code, 'INVALID_INPUT');
        assert.match(errors[0]!.message, /field selections/);
        // The parser's token limit holds over WebSocket too (graphql.maxTokens, 5,000).
        ws.subscribe('2', `{ ${'__typename '.repeat(6000)} }`);
        const tokens = await ws.next('2');
        assert.equal(tokens.type, 'error', JSON.stringify(tokens).slice(0, 300));
        assert.match((tokens.payload as { message: string }[])[0]!.message, /more \w+ 5000 tokens/);
      } finally {
        ws.close();
      }
    });

    it('charges each operation of a batch to the request budget, and each write its weight in points', async () => {
      // Budgets small enough to reach: 12 requests a minute, 1,000 points, per user.
      const tight = await startTestServer(kind, { config: { 'rateLimit.userPerWindow': 12, 'rateLimit.graphqlPointsPerWindow': 1000 } });
      try {
        const batcher = await signedInUser(tight, { name: 'Batch' });
        const writer = await signedInUser(tight, { name: 'Writer' });
        const post = (session: Session, payload: unknown) =>
          tight.app.inject({ method: 'POST', url: '/graphql', headers: { authorization: `Bearer ${session.token}` }, payload: payload as object });

        // 1 (the request) + 9 (the rest of the batch) of 12; the next batch of ten does not fit.
        const batch = Array.from({ length: 10 }, () => ({ query: '{ __typename }' }));
        const first = await post(batcher, batch);
        assert.equal(first.statusCode, 200, first.body);
        assert.match(
          String(first.headers.ratelimit),
          /^"user";r=2;t=\d+, "body-bytes";r=\d+;t=\d+$/,
          'one entry per budget: what is left after the whole batch',
        );
        const second = await post(batcher, batch);
        assert.equal(second.statusCode, 429, second.body);
        assert.match(assertGraphqlError(second.json() as GraphqlResponse, 'RATE_LIMITED').message, /user limit/);
        assert.ok(Number(second.headers['retry-after']) >= 1);

        // 15 aliased writes of 2 KiB each: 15 × (40 + 2) points of writes, plus the answer (15 × 2).
        const creates = Array.from({ length: 15 }, (_, i) => `c${i}: createResource(input: $input) { id }`).join(' ');
        const mutation = {
          query: `mutation ($input: CreateResourceInput!) { ${creates} }`,
          variables: { input: { name: 'Doc', type: 'doc', data: { text: 'x'.repeat(2048) } } },
        };
        const once = await post(writer, mutation);
        assert.equal(once.statusCode, 200, once.body.slice(0, 500));
        assert.equal((once.json() as { extensions: { cost: { requested: number } } }).extensions.cost.requested, 15 * (40 + 2) + 15 * 2);
        const twice = await post(writer, mutation);
        assert.equal(twice.statusCode, 429, twice.body.slice(0, 500));
        assert.match(assertGraphqlError(twice.json() as GraphqlResponse, 'RATE_LIMITED').message, /graphql limit/);
      } finally {
        await tight.close();
      }
    });
  });
}
