import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DATABASE_KINDS } from '../support/databases.js';
import { gql, type GraphqlResponse } from '../support/graphql.js';
import { as, login, registerRaw } from '../support/identity.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { WsProbe } from '../support/ws.js';

/*
 * Safe production defaults (docs/limits.md "Production defaults"): in the production profile
 * GraphQL errors name nothing of the schema beyond what was asked ("Did you mean …" is gone
 * while introspection is off), the first stranger to register is a member, not the admin,
 * and no response holding a token, a session or data may be cached. The development profile
 * keeps its conveniences (the quick start relies on the first account being an admin).
 */

const PASSWORD = 'correct horse battery';

/** Documents graphql-js answers with a suggestion, each naming a different rule's. */
const MISSPELT = [
  { what: 'an unknown field', query: '{ me { user { nme } } }' },
  { what: 'an unknown argument', query: '{ resources(frist: 1) { edges { cursor } } }' },
  { what: 'an unknown type', query: 'query ($id: Strin) { __typename }' },
  {
    what: 'an unknown input field in variables',
    query: 'mutation ($input: CreateResourceInput!) { createResource(input: $input) { id } }',
    variables: { input: { nme: 'x', type: 'doc', data: {} } },
    signedIn: true,
  },
];

function messages(body: GraphqlResponse<unknown>): string {
  return (body.errors ?? []).map((e) => e.message).join('\n');
}

async function member(t: TestServer, email: string): Promise<{ token: string; roles: string[] }> {
  const registered = await registerRaw(t, { email, name: 'Newcomer', password: PASSWORD });
  assert.equal(registered.statusCode, 201, registered.body);
  const { token } = await login(t, email, PASSWORD);
  const me = await as(t, token, 'GET', '/api/v1/auth/me');
  assert.equal(me.statusCode, 200, me.body);
  return { token, roles: (me.json() as { roles: { name: string }[] }).roles.map((r) => r.name) };
}

describe('the development profile (for contrast)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer(DATABASE_KINDS[0]!);
  });
  after(() => t.close());

  it('makes the first registrant an admin and suggests field names, as the quick start expects', async () => {
    const first = await member(t, 'first@dev.example');
    assert.deepEqual(first.roles, ['admin']);
    for (const { what, query, variables, signedIn } of MISSPELT) {
      const { body } = await gql(t, query, variables, signedIn ? first.token : undefined);
      assert.match(messages(body), /Did you mean/, `${what}: ${JSON.stringify(body)}`);
    }
  });
});

describe('the production profile', () => {
  let t: TestServer;
  let first: { token: string; roles: string[] };
  before(async () => {
    t = await startTestServer(DATABASE_KINDS[0]!, { config: { profile: 'production' } });
    first = await member(t, 'first@prod.example');
  });
  after(() => t.close());

  it('makes the first registrant a member: the first admin comes from pcf users create --admin', async () => {
    assert.deepEqual(first.roles, ['member']);
    const me = (await as(t, first.token, 'GET', '/api/v1/auth/me')).json() as { permissions: { resourceType: string; action: string }[] };
    assert.ok(!me.permissions.some((p) => p.resourceType === '*' && p.action === 'manage'), 'no power over everything');
  });

  it('answers misspelt GraphQL with the error but no "Did you mean …", over HTTP', async () => {
    for (const { what, query, variables, signedIn } of MISSPELT) {
      const { status, body } = await gql(t, query, variables, signedIn ? first.token : undefined);
      assert.ok(body.errors?.length, `${what} is refused`);
      assert.equal(body.errors[0]!.extensions.code, 'INVALID_INPUT');
      assert.ok(status === 400 || status === 200, `${what}: ${status}`);
      assert.doesNotMatch(messages(body), /Did you mean/, `${what}: ${JSON.stringify(body)}`);
      // The error still says what was wrong with what was sent.
      assert.match(messages(body), /nme|frist|Strin/, what);
    }
  });

  it('and over WebSocket', async () => {
    const socket = await WsProbe.connect(t.url, first.token);
    try {
      for (const [i, { what, query, variables }] of MISSPELT.entries()) {
        socket.subscribe(String(i), query, variables);
        const reply = await socket.next(String(i));
        const text = JSON.stringify(reply.payload);
        assert.match(text, /nme|frist|Strin/, `${what}: ${text}`);
        assert.doesNotMatch(text, /Did you mean/, `${what}: ${text}`);
      }
    } finally {
      socket.socket.close();
    }
  });

  it('sends Cache-Control: no-store on every API and GraphQL response, errors included; public docs stay cacheable', async () => {
    const created = await as(t, first.token, 'POST', '/api/v1/resources', { name: 'Private', type: 'doc', data: { secret: 1 } });
    assert.equal(created.statusCode, 201, created.body);
    const id = (created.json() as { id: string }).id;
    const responses = {
      'POST /auth/login': await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'first@prod.example', password: PASSWORD } }),
      'GET /auth/me': await as(t, first.token, 'GET', '/api/v1/auth/me'),
      'GET /auth/sessions': await as(t, first.token, 'GET', '/api/v1/auth/sessions'),
      'POST /resources': created,
      'GET /resources/{id}': await as(t, first.token, 'GET', `/api/v1/resources/${id}`),
      'GET /resources': await as(t, first.token, 'GET', '/api/v1/resources'),
      'GET /resources/{id}/versions/1': await as(t, first.token, 'GET', `/api/v1/resources/${id}/versions/1`),
      'POST /graphql': await t.app.inject({
        method: 'POST',
        url: '/graphql',
        headers: { authorization: `Bearer ${first.token}` },
        payload: { query: '{ me { user { email } } }' },
      }),
      'GET /graphql': await t.app.inject({ method: 'GET', url: `/graphql?query=${encodeURIComponent('{ server { name } }')}` }),
      '401': await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: 'Bearer pcf_nope' } }),
      '404': await as(t, first.token, 'GET', '/api/v1/nowhere'),
    };
    for (const [name, response] of Object.entries(responses)) {
      assert.ok(response.statusCode < 500, `${name}: ${response.statusCode}`);
      assert.equal(response.headers['cache-control'], 'no-store', `${name} (${response.statusCode})`);
    }
    const openapi = await t.app.inject({ method: 'GET', url: '/openapi.json' });
    assert.equal(openapi.statusCode, 200);
    assert.notEqual(openapi.headers['cache-control'], 'no-store', 'the public API description may be cached');
  });
});
