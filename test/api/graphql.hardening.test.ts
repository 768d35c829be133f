import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DATABASE_KINDS } from '../support/databases.js';
import { assertGraphqlError, gql } from '../support/graphql.js';
import { as, assertInvalidField, login, registerRaw, type Session } from '../support/identity.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { WsProbe } from '../support/ws.js';

const LIST = 'query ($q: String, $type: String) { resources(q: $q, type: $type) { totalCount edges { node { id } } } }';

// Issue 12, points 2, 3 and 6: one input rule for every transport, refused documents refused
// cheaply, and writes charged for what they cost.
for (const kind of DATABASE_KINDS) {
  describe(`GraphQL hardening (${kind})`, () => {
    let t: TestServer;
    let member: Session;
    before(async () => {
      t = await startTestServer(kind);
      assert.equal((await registerRaw(t, { email: 'member@gql-hard.example', name: 'Member', password: 'Member passphrase' })).statusCode, 201);
      member = await login(t, 'member@gql-hard.example', 'Member passphrase');
    });
    after(() => t.close());

    it('refuses a search text over 255 characters on GraphQL, REST and WebSocket alike, before any SQL', async () => {
      const long = 'a'.repeat(256);
      const ok = await gql(t, LIST, { q: 'a'.repeat(255) }, member.token);
      assert.equal(ok.status, 200, JSON.stringify(ok.body));

      const overGraphql = await gql(t, LIST, { q: long }, member.token);
      const error = assertGraphqlError(overGraphql.body, 'INVALID_INPUT');
      assert.deepEqual(error.extensions.errors?.map((e) => e.field), ['q']);
      // A type filter longer than any type is refused the same way.
      assert.deepEqual(assertGraphqlError((await gql(t, LIST, { type: 't'.repeat(65) }, member.token)).body, 'INVALID_INPUT').extensions.errors?.map((e) => e.field), ['type']);
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
  });
}
