import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createTestDatabase, DATABASE_KINDS, TEST_DATABASE_URL, TEST_REDIS_URL, type TestDatabase } from '../support/databases.js';
import { assertProblem, registerRaw, type InjectedResponse } from '../support/identity.js';
import { startTestServer, type TestServer } from '../support/server.js';

/*
 * Failed logins must not be a kill switch (docs/limits.md "Sign-in attempts and lockout"). Failures count per (account,
 * client address), with a per-account ceiling far above it that an address which signed in
 * to the account before may pass. Client addresses come from X-Forwarded-For through a
 * trusted proxy, as behind a load balancer.
 */

const PROXY = '10.0.0.1';
const PASSWORD = 'the owner passphrase';
const CEILING = 8;
const CONFIG = { 'http.trustProxy': '10.0.0.0/8', 'auth.loginMaxFailuresPerAccount': CEILING };

function loginFrom(t: TestServer, address: string, email: string, password: string): Promise<InjectedResponse> {
  return t.app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    remoteAddress: PROXY,
    headers: { 'x-forwarded-for': address },
    payload: { email, password },
  });
}

async function registerOwner(t: TestServer, email: string): Promise<void> {
  const response = await registerRaw(t, { email, name: 'Owner', password: PASSWORD });
  assert.equal(response.statusCode, 201, response.body);
}

/** `count` wrong passwords for `email`, spread over addresses that stay under their own limit (5). */
async function failFromMany(t: TestServer, email: string, count: number, prefix: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    assertProblem(await loginFrom(t, `${prefix}.${Math.floor(i / 2)}`, email, `wrong guess ${i}`), 401, 'UNAUTHORIZED');
  }
}

for (const kind of DATABASE_KINDS) {
  describe(`login lockout (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer(kind, { config: CONFIG });
    });
    after(() => t.close());

    it('an attacker failing from one address is refused there, while the owner signs in from another', async () => {
      const email = 'owner.one@lockout.example';
      await registerOwner(t, email);
      for (let i = 0; i < 5; i++) assertProblem(await loginFrom(t, '203.0.113.10', email, `wrong guess ${i}`), 401, 'UNAUTHORIZED');
      for (let i = 0; i < 2; i++) {
        const refused = assertProblem(await loginFrom(t, '203.0.113.10', email, `more guesses ${i}`), 429, 'RATE_LIMITED');
        assert.match(refused.detail, /Too many failed logins/);
      }
      // Even the right password from the guessing address waits out the window.
      const blocked = await loginFrom(t, '203.0.113.10', email, PASSWORD);
      assertProblem(blocked, 429, 'RATE_LIMITED');
      assert.ok(Number(blocked.headers['retry-after']) > 0);
      // The owner, from an address that never signed in before, is not locked out.
      const owner = await loginFrom(t, '198.51.100.20', email, PASSWORD);
      assert.equal(owner.statusCode, 200, owner.body);
      // GraphQL's login is the same service, with the same counts.
      const graphql = await t.app.inject({
        method: 'POST',
        url: '/graphql',
        remoteAddress: PROXY,
        headers: { 'x-forwarded-for': '198.51.100.21' },
        payload: { query: 'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }', variables: { e: email, p: PASSWORD } },
      });
      assert.equal(graphql.statusCode, 200, graphql.body);
      assert.ok((graphql.json() as { data?: { login?: { token?: string } } }).data?.login?.token, graphql.body);
    });

    it('past the per-account ceiling, an unknown address is refused and a known one gets through', async () => {
      const email = 'owner.two@lockout.example';
      await registerOwner(t, email);
      const known = '198.51.100.30';
      assert.equal((await loginFrom(t, known, email, PASSWORD)).statusCode, 200, 'the owner signs in once from its usual address');

      // A guesser with many addresses, two failures each: no pair reaches its limit.
      await failFromMany(t, email, CEILING, '192.0.2');
      const unknown = await loginFrom(t, '198.51.100.31', email, PASSWORD);
      assertProblem(unknown, 429, 'RATE_LIMITED');
      assert.ok(Number(unknown.headers['retry-after']) > 0);
      assertProblem(await loginFrom(t, '192.0.2.77', email, 'another guess'), 429, 'RATE_LIMITED');

      const owner = await loginFrom(t, known, email, PASSWORD);
      assert.equal(owner.statusCode, 200, owner.body);
      // Known is not trusted: a wrong password from there fails, and counts as its own pair.
      assertProblem(await loginFrom(t, known, email, 'not the passphrase'), 401, 'UNAUTHORIZED');
      // Other accounts are not affected by this account's ceiling.
      await registerOwner(t, 'bystander@lockout.example');
      assert.equal((await loginFrom(t, '198.51.100.31', 'bystander@lockout.example', PASSWORD)).statusCode, 200);
    });
  });
}

// Counters and known addresses live in the shared cache: two instances count as one.
describe(
  'login lockout across instances sharing Redis',
  { skip: TEST_REDIS_URL && TEST_DATABASE_URL ? false : 'needs PCF_TEST_REDIS_URL and PCF_TEST_DATABASE_URL' },
  () => {
    let database: TestDatabase;
    let a: TestServer;
    let b: TestServer;
    before(async () => {
      database = await createTestDatabase('postgres');
      const config = { ...CONFIG, 'redis.url': TEST_REDIS_URL, 'redis.keyPrefix': `pcf-lockout-${randomBytes(6).toString('hex')}:` };
      a = await startTestServer('postgres', { database, config });
      b = await startTestServer('postgres', { database, config });
    });
    after(async () => {
      await a.server.stop();
      await b.server.stop();
      await database.drop();
    });

    it('counts on one instance what was failed on the other, and knows addresses on both', async () => {
      const email = 'owner.three@lockout.example';
      await registerOwner(a, email);
      const known = '198.51.100.40';
      assert.equal((await loginFrom(a, known, email, PASSWORD)).statusCode, 200);

      for (let i = 0; i < 5; i++) assertProblem(await loginFrom(i % 2 ? a : b, '203.0.113.50', email, `wrong guess ${i}`), 401, 'UNAUTHORIZED');
      assertProblem(await loginFrom(a, '203.0.113.50', email, 'one more'), 429, 'RATE_LIMITED');
      assertProblem(await loginFrom(b, '203.0.113.50', email, 'one more'), 429, 'RATE_LIMITED');

      await failFromMany(b, email, CEILING - 5, '192.0.2');
      assertProblem(await loginFrom(a, '198.51.100.41', email, PASSWORD), 429, 'RATE_LIMITED');
      assert.equal((await loginFrom(b, known, email, PASSWORD)).statusCode, 200, 'known through the shared store');
    });
  },
);
