import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { signedInUser, type Session } from '../support/factories.js';
import { assertProblem, bearer, login } from '../support/identity.js';
import { startTestServer, type TestServer } from '../support/server.js';

/*
 * Bodies cost what they weigh (docs/limits.md "Body bytes", docs/gateway.md "Budgets"): parsing, checking and storing a 1 MiB document holds the event loop far longer
 * than a small request, so a member within its request budget could otherwise keep the
 * server busy with large writes. Bytes of bodies have a budget of their own, per user (per
 * address when anonymous), charged from the declared length before the body is read.
 */
const MIB = 1_048_576;
// A little under three bodies of ~1 MiB, and under one of them plus a chunked body.
const BUDGET = 3 * MIB - 4096;

describe('the body-bytes budget', () => {
  let t: TestServer;
  let writer: Session;
  let other: Session;
  before(async () => {
    t = await startTestServer('pglite', { config: { 'rateLimit.bodyBytesPerWindow': BUDGET, 'rateLimit.windowSeconds': 3600 } });
    writer = await signedInUser(t, { email: 'writer@bytes.example', name: 'Writer', password: 'Writer bytes passphrase' });
    // Signed in again below, from a new session.
    other = await signedInUser(t, { email: 'other@bytes.example', name: 'Other', password: 'Other bytes passphrase' });
  });
  after(() => t.close());

  const bigCreate = (s: Session) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/resources',
      headers: bearer(s.token),
      payload: { name: 'Big', type: 'doc', data: { filler: 'x'.repeat(MIB - 100) } },
    });

  it('refuses a user’s writes once their bytes pass the budget (429 naming body-bytes), while small requests and other users go on', async () => {
    assert.equal((await bigCreate(writer)).statusCode, 201);
    assert.equal((await bigCreate(writer)).statusCode, 201);
    const third = await bigCreate(writer);
    const problem = assertProblem(third, 429, 'RATE_LIMITED');
    assert.ok(Number(third.headers['retry-after']) > 0, 'Retry-After says when');
    assert.match(String(third.headers['ratelimit-policy']), /"body-bytes";q=3141632;w=3600/);
    assert.doesNotMatch(problem.detail, /\bundefined\b/);

    // What was refused spent nothing: a body that fits the rest still goes through.
    const small = await t.app.inject({
      method: 'POST',
      url: '/api/v1/resources',
      headers: bearer(writer.token),
      payload: { name: 'Small', type: 'doc', data: 1 },
    });
    assert.equal(small.statusCode, 201, small.body);
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/v1/resources', headers: bearer(writer.token) })).statusCode, 200, 'reads carry no body');
    assert.equal((await bigCreate(other)).statusCode, 201, 'another user has its own bytes');
  });

  it('charges a GraphQL body alike, and a body of unknown length (chunked) as the largest one accepted', async () => {
    const reader = await login(t, 'other@bytes.example', 'Other bytes passphrase');
    // `other` spent ~1 MiB above; a chunked body counts as http.bodyLimitBytes (2 MiB), so one
    // more chunked request, however small, passes the budget.
    const chunked = (token: string) =>
      fetch(`${t.url}/graphql`, {
        method: 'POST',
        headers: { ...bearer(token), 'content-type': 'application/json' },
        body: new Blob([JSON.stringify({ query: '{ __typename }' })]).stream(),
        duplex: 'half',
      } as RequestInit & { duplex: 'half' });
    const refused = await chunked(reader.token);
    assert.equal(refused.status, 429, await refused.text());
    assert.match(String(refused.headers.get('ratelimit-policy')), /"body-bytes"/);
    const sized = await fetch(`${t.url}/graphql`, {
      method: 'POST',
      headers: { ...bearer(reader.token), 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }' }),
    });
    assert.equal(sized.status, 200, 'a small body of known length still fits');
  });
});
