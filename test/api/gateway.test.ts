import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { PROBLEM_CONTENT_TYPE, as, bearer, registerRaw, type InjectedResponse } from '../support/identity.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The API gateway through the public interface, with the in-process store (embedded mode):
 * the four budgets and their headers, client identity behind trusted proxies, the other
 * consumption limits, security headers and CORS. The shared Redis store, its outage and two
 * instances sharing one budget are in test/e2e/rate-limit.redis.test.ts.
 *
 * Every test speaks for its own client addresses: the server trusts 10.0.0.0/8 as proxies,
 * so a request injected from 10.0.0.1 with `X-Forwarded-For: <address>` is that address's.
 */
const LIMITS = {
  'rateLimit.windowSeconds': 60,
  'rateLimit.anonymousPerWindow': 5,
  'rateLimit.userPerWindow': 20,
  'rateLimit.authPerWindow': 3,
  'rateLimit.graphqlPointsPerWindow': 600,
  'graphql.maxComplexity': 600,
  'websocket.maxConnectionsPerUser': 2,
  'websocket.initTimeoutMs': 500,
  'http.trustProxy': '10.0.0.0/8',
  'http.corsOrigins': 'https://console.example.com',
  'http.headersTimeoutMs': 1000,
  'graphql.maxTokens': 200,
};

const PROXY = '10.0.0.1';
const PASSWORD = 'correct horse battery';

const via = (client: string) => ({ remoteAddress: PROXY, headers: { 'x-forwarded-for': client } });

/** `"name";q=5;w=60`, as the draft's structured-field list has it. */
const POLICY_ITEM = /^"([a-z]+)";q=(\d+);w=(\d+)$/;
const STATE_ITEM = /^"([a-z]+)";r=(\d+);t=(\d+)$/;

/** The items of a RateLimit header but the body-bytes budget's (gateway.body-bytes.test.ts has it). */
function parseList(header: unknown, item: RegExp): string[][] {
  assert.equal(typeof header, 'string', 'the header is present');
  return (header as string)
    .split(', ')
    .filter((member) => !member.startsWith('"body-bytes"'))
    .map((member) => {
      const match = item.exec(member);
      assert.ok(match, `"${member}" is a structured-field item`);
      return match.slice(1);
    });
}

function assertLimited(response: InjectedResponse, budget: string): void {
  assert.equal(response.statusCode, 429, response.body);
  assert.equal(response.headers['content-type'], PROBLEM_CONTENT_TYPE);
  const body = response.json() as { code: string; status: number; detail: string; traceId: string };
  assert.equal(body.code, 'RATE_LIMITED');
  assert.equal(body.status, 429);
  assert.match(body.detail, new RegExp(budget));
  const retryAfter = Number(response.headers['retry-after']);
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After ${response.headers['retry-after']}`);
}

describe('API gateway (in-process store)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer('pglite', { config: LIMITS });
  });
  after(() => t.close());

  /** Registers and signs in an account from its own address; returns its token and id. */
  let accounts = 0;
  async function account(): Promise<{ token: string; id: string; email: string }> {
    const n = ++accounts;
    const email = `gateway${n}@example.com`;
    const register = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { email, name: `G ${n}`, password: PASSWORD },
      ...via(`192.0.2.${n}`),
    });
    assert.equal(register.statusCode, 201, register.body);
    const login = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: PASSWORD }, ...via(`192.0.2.${n}`) });
    assert.equal(login.statusCode, 200, login.body);
    const body = login.json() as { token: string; user: { id: string } };
    return { token: body.token, id: body.user.id, email };
  }

  describe('budgets and signalling', () => {
    it('counts anonymous requests per client address, says so in RateLimit headers, then answers 429 with Retry-After', async () => {
      for (let i = 0; i < 5; i++) {
        const response = await t.app.inject({ method: 'GET', url: '/api/v1/', ...via('203.0.113.1') });
        assert.equal(response.statusCode, 200);
        assert.deepEqual(parseList(response.headers['ratelimit-policy'], POLICY_ITEM), [['anonymous', '5', '60']]);
        const [[name, remaining, reset]] = parseList(response.headers.ratelimit, STATE_ITEM) as [[string, string, string]];
        assert.equal(name, 'anonymous');
        assert.equal(Number(remaining), 4 - i, 'each request spends one');
        assert.ok(Number(reset) >= 1 && Number(reset) <= 60);
      }
      const refused = await t.app.inject({ method: 'GET', url: '/api/v1/resources', ...via('203.0.113.1') });
      assertLimited(refused, 'anonymous');
      assert.deepEqual(
        parseList(refused.headers.ratelimit, STATE_ITEM).map(([name, r]) => [name, r]),
        [['anonymous', '0']],
      );
      // Another client is not affected.
      assert.equal((await t.app.inject({ method: 'GET', url: '/api/v1/', ...via('203.0.113.2') })).statusCode, 200);
    });

    it('counts signed-in requests per user, across its sessions, apart from its address', async () => {
      const user = await account();
      const second = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: user.email, password: PASSWORD },
        ...via('198.51.100.20'),
      });
      const tokens = [user.token, (second.json() as { token: string }).token];
      for (let i = 0; i < 20; i++) {
        const response = await t.app.inject({
          method: 'GET',
          url: '/api/v1/auth/me',
          remoteAddress: PROXY,
          headers: { ...bearer(tokens[i % 2]!), 'x-forwarded-for': '198.51.100.21' },
        });
        assert.equal(response.statusCode, 200, response.body);
        assert.deepEqual(
          parseList(response.headers.ratelimit, STATE_ITEM).map(([name, r]) => [name, Number(r)]),
          [['user', 19 - i]],
        );
      }
      const refused = await t.app.inject({
        method: 'GET',
        url: '/api/v1/auth/me',
        remoteAddress: PROXY,
        headers: { ...bearer(tokens[0]!), 'x-forwarded-for': '198.51.100.22' },
      });
      assertLimited(refused, 'user');
      // The address the user called from still has its anonymous budget.
      assert.equal((await t.app.inject({ method: 'GET', url: '/api/v1/', ...via('198.51.100.21') })).statusCode, 200);
    });

    it('gives login, register and password changes the strict auth budget, over REST and GraphQL alike', async () => {
      const from = via('203.0.113.30');
      const wrong = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: 'nobody@example.com', password: 'wrong password' },
        ...from,
      });
      assert.equal(wrong.statusCode, 401);
      assert.deepEqual(parseList(wrong.headers['ratelimit-policy'], POLICY_ITEM), [
        ['anonymous', '5', '60'],
        ['auth', '3', '60'],
      ]);
      // One GraphQL document with two login fields is two attempts: 3 spent, none left.
      const graphql = await t.app.inject({
        method: 'POST',
        url: '/graphql',
        payload: {
          query:
            'mutation { a: login(email: "nobody@example.com", password: "wrong one") { token } b: login(email: "x@example.com", password: "wrong two") { token } }',
        },
        ...from,
      });
      assert.equal(graphql.statusCode, 200, graphql.body);
      const next = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/register',
        payload: { email: 'late@example.com', name: 'Late', password: PASSWORD },
        ...from,
      });
      assertLimited(next, 'auth');
      const viaGraphql = await t.app.inject({
        method: 'POST',
        url: '/graphql',
        payload: { query: 'mutation { login(email: "nobody@example.com", password: "wrong three") { token } }' },
        ...via('203.0.113.30'),
      });
      assert.equal(viaGraphql.statusCode, 429);
      assert.equal((viaGraphql.json() as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code, 'RATE_LIMITED');
      assert.ok(Number(viaGraphql.headers['retry-after']) >= 1);
      // A password change is counted per user.
      const user = await account();
      for (let i = 0; i < 3; i++) {
        const change = await t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/password',
          headers: bearer(user.token),
          payload: { currentPassword: 'not it at all', newPassword: 'another long one' },
        });
        assert.notEqual(change.statusCode, 429, `attempt ${i + 1}`);
      }
      assertLimited(
        await t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/password',
          headers: bearer(user.token),
          payload: { currentPassword: PASSWORD, newPassword: 'another long one' },
        }),
        'auth',
      );
    });

    it('charges a refused token to its sender’s address: guessing tokens ends in 429, not endless 401s', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) {
        const response = await t.app.inject({
          method: 'GET',
          url: '/api/v1/auth/me',
          remoteAddress: PROXY,
          headers: { ...bearer(`pcf_${'x'.repeat(43)}`), 'x-forwarded-for': '203.0.113.40' },
        });
        statuses.push(response.statusCode);
      }
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429]);
      // Someone else's good token from that address is judged by its own user's budget.
      const user = await account();
      const good = await t.app.inject({
        method: 'GET',
        url: '/api/v1/auth/me',
        remoteAddress: PROXY,
        headers: { ...bearer(user.token), 'x-forwarded-for': '203.0.113.40' },
      });
      assert.equal(good.statusCode, 200);
    });

    it('counts login and register per address even for a caller who sends a token', async () => {
      const user = await account();
      const attempt = () =>
        t.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          remoteAddress: PROXY,
          headers: { ...bearer(user.token), 'x-forwarded-for': '203.0.113.45' },
          payload: { email: 'nobody@example.com', password: 'not the one' },
        });
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await attempt()).statusCode);
      assert.deepEqual(statuses, [401, 401, 401, 429]);
      // The same account from another address has its own attempts.
      const elsewhere = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: user.email, password: PASSWORD },
        ...via('203.0.113.46'),
      });
      assert.equal(elsewhere.statusCode, 200);
    });

    it('gives back what a refused request was charged: a GraphQL login refused by the auth budget spends no points', async () => {
      const user = await account();
      const login = () =>
        t.app.inject({
          method: 'POST',
          url: '/graphql',
          remoteAddress: PROXY,
          headers: { ...bearer(user.token), 'x-forwarded-for': '203.0.113.48' },
          payload: { query: 'mutation { login(email: "nobody@example.com", password: "not the one") { token } }' },
        });
      for (let i = 0; i < 3; i++) assert.equal((await login()).statusCode, 200);
      assert.equal((await login()).statusCode, 429, 'the fourth attempt from the address');
      const after = await t.app.inject({ method: 'POST', url: '/graphql', headers: bearer(user.token), payload: { query: '{ __typename }' } });
      // 3 logins at 2 points each, and this one: the refused login cost nothing.
      assert.equal((after.json() as { extensions: { cost: { remaining: number } } }).extensions.cost.remaining, 600 - 6 - 1);
    });

    it('answers CORS preflights without charging them; another OPTIONS request is charged and answered by the router', async () => {
      const other = await t.app.inject({ method: 'OPTIONS', url: '/api/v1/resources', ...via('203.0.113.49') });
      assert.equal(other.statusCode, 404);
      assert.equal(other.headers['content-type'], PROBLEM_CONTENT_TYPE);
      assert.deepEqual(
        parseList(other.headers.ratelimit, STATE_ITEM).map(([name, r]) => [name, r]),
        [['anonymous', '4']],
      );
      for (let i = 0; i < 8; i++) {
        const preflight = await t.app.inject({
          method: 'OPTIONS',
          url: '/api/v1/resources',
          headers: { origin: 'https://console.example.com', 'access-control-request-method': 'GET', 'x-forwarded-for': '203.0.113.47' },
          remoteAddress: PROXY,
        });
        assert.equal(preflight.statusCode, 204);
      }
      const after = await t.app.inject({ method: 'GET', url: '/api/v1/', ...via('203.0.113.47') });
      assert.deepEqual(
        parseList(after.headers.ratelimit, STATE_ITEM).map(([name, r]) => [name, r]),
        [['anonymous', '4']],
      );
    });

    it('charges GraphQL operations their cost, page sizes in variables included, and reports it in extensions', async () => {
      const user = await account();
      const query = (first: string) => `query${first === '$n' ? '($n: Int)' : ''} { resources(first: ${first}) { edges { node { id } } } }`;
      const run = (payload: object) => t.app.inject({ method: 'POST', url: '/graphql', headers: bearer(user.token), payload });
      // 1 for resources, 50 × (edges + node + id): 151 points, literal or variable alike.
      const literal = await run({ query: query('50') });
      assert.equal(literal.statusCode, 200, literal.body);
      const { resetSeconds, ...spent } = (literal.json() as { extensions: { cost: { resetSeconds: number } } }).extensions.cost;
      assert.deepEqual(spent, { requested: 151, remaining: 449, limit: 600 });
      assert.ok(Number.isInteger(resetSeconds) && resetSeconds >= 1 && resetSeconds <= 60, `resetSeconds ${resetSeconds}`);
      const variable = await run({ query: query('$n'), variables: { n: 50 } });
      assert.equal((variable.json() as { extensions: { cost: { requested: number; remaining: number } } }).extensions.cost.requested, 151);
      // Left out, the page size is the schema's default (20): 61 points.
      const defaulted = await run({ query: '{ resources { edges { node { id } } } }' });
      assert.deepEqual((defaulted.json() as { extensions: { cost: { requested: number; remaining: number } } }).extensions.cost.requested, 61);
      // 600 − 151 − 151 − 61 = 237 left: a third page of 50 fits, a fourth does not.
      assert.equal((await run({ query: query('50') })).statusCode, 200);
      const refused = await run({ query: query('$n'), variables: { n: 50 } });
      assert.equal(refused.statusCode, 429, refused.body);
      const error = (refused.json() as { data: unknown; errors: { message: string; extensions: { code: string } }[] }).errors[0]!;
      assert.equal(error.extensions.code, 'RATE_LIMITED');
      assert.match(error.message, /graphql limit/);
      assert.ok(Number(refused.headers['retry-after']) >= 1);
      assert.match(String(refused.headers['ratelimit-policy']), /"graphql";q=600;w=60/);
      // A refused operation spends nothing: 86 points are still there for a cheap one.
      const cheap = await run({ query: '{ __typename }' });
      assert.equal(cheap.statusCode, 200, cheap.body);
      assert.equal((cheap.json() as { extensions: { cost: { remaining: number } } }).extensions.cost.remaining, 85);
    });

    it("charges a page size left to a variable's default like the default itself, and every operation of a batch", async () => {
      const user = await account();
      const run = (payload: object) => t.app.inject({ method: 'POST', url: '/graphql', headers: bearer(user.token), payload });
      const defaulted = await run({ query: 'query($n: Int = 100) { resources(first: $n) { edges { node { id } } } }' });
      assert.equal((defaulted.json() as { extensions: { cost: { requested: number } } }).extensions.cost.requested, 301);
      const batch = await run([{ query: '{ __typename }' }, { query: '{ server { name } }' }, { query: '{ __typename }' }]);
      assert.equal(batch.statusCode, 200, batch.body);
      const costs = (batch.json() as { extensions: { cost: { requested: number; remaining: number } } }[]).map((r) => r.extensions.cost);
      assert.deepEqual(
        costs.map((c) => c.requested),
        [1, 2, 1],
      );
      assert.equal(Math.min(...costs.map((c) => c.remaining)), 600 - 301 - 4, 'each operation of the batch is charged');
    });

    it('runs and charges the operation a request names, however often a document of several operations is sent', async () => {
      const user = await account();
      const query = 'query Cheap { __typename } query Dear { resources(first: 100) { edges { node { id } } } }';
      const run = (operationName: string) => t.app.inject({ method: 'POST', url: '/graphql', headers: bearer(user.token), payload: { query, operationName } });
      // Enough runs for mercurius to JIT-compile the document (it does after 10).
      for (let i = 0; i < 12; i++) {
        const cheap = (await run('Cheap')).json() as { data: unknown; extensions: { cost: { requested: number } } };
        assert.deepEqual(cheap.data, { __typename: 'Query' });
        assert.equal(cheap.extensions.cost.requested, 1);
      }
      // In a batch each item is charged for the operation it names.
      const batch = await t.app.inject({
        method: 'POST',
        url: '/graphql',
        headers: bearer(user.token),
        payload: [
          { query, operationName: 'Cheap' },
          { query, operationName: 'Cheap' },
        ],
      });
      assert.deepEqual(
        (batch.json() as { extensions: { cost: { requested: number } } }[]).map((r) => r.extensions.cost.requested),
        [1, 1],
      );
      const dear = (await run('Dear')).json() as { data: { resources?: unknown; __typename?: string }; extensions: { cost: { requested: number } } };
      assert.ok(dear.data.resources, JSON.stringify(dear));
      assert.equal(dear.extensions.cost.requested, 301);
      const cheapAgain = (await run('Cheap')).json() as { data: unknown };
      assert.deepEqual(cheapAgain.data, { __typename: 'Query' }, 'the named operation runs, not the one compiled first');
    });

    it('refuses a document over graphql.maxComplexity before execution, whether its page size is literal or a variable', async () => {
      const user = await account();
      const pages = (first: string) =>
        `query${first === '$n' ? '($n: Int)' : ''} { a: resources(first: ${first}) { edges { node { id name type } } } b: resources(first: ${first}) { edges { node { id name type } } } }`;
      for (const payload of [{ query: pages('100') }, { query: pages('$n'), variables: { n: 100 } }]) {
        const response = await t.app.inject({ method: 'POST', url: '/graphql', headers: bearer(user.token), payload });
        assert.equal(response.statusCode, 400, response.body);
        const error = (response.json() as { errors: { message: string; extensions: { code: string } }[] }).errors[0]!;
        assert.equal(error.extensions.code, 'INVALID_INPUT');
        assert.match(error.message, /Cost limit of 600 exceeded, found 1002/);
      }
    });
  });

  describe('client identity', () => {
    it('ignores X-Forwarded-For and Forwarded from a peer that is not a trusted proxy', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        // A client that makes up a new address each time is still one client.
        const response = await t.app.inject({
          method: 'GET',
          url: '/api/v1/',
          remoteAddress: '198.51.100.99',
          headers: { 'x-forwarded-for': `192.0.2.${100 + i}`, forwarded: `for=192.0.2.${200 + i}` },
        });
        statuses.push(response.statusCode);
      }
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
    });

    it('believes trusted proxies: the nearest untrusted hop of X-Forwarded-For is the client', async () => {
      const remaining = async (headers: Record<string, string>, remoteAddress = PROXY) => {
        const response = await t.app.inject({ method: 'GET', url: '/api/v1/', remoteAddress, headers });
        return Number(parseList(response.headers.ratelimit, STATE_ITEM)[0]![1]);
      };
      // The left-most entry is whatever the client wrote; the proxies' own hops are skipped.
      assert.equal(await remaining({ 'x-forwarded-for': 'made-up, 198.51.100.50, 10.9.9.9' }), 4);
      assert.equal(await remaining({ 'x-forwarded-for': '198.51.100.50' }), 3, 'the same client');
      assert.equal(await remaining({ 'x-forwarded-for': '198.51.100.50:51234' }), 2, 'a port some proxies add is not part of the address');
      // The proxies append to X-Forwarded-For and pass a client's own Forwarded through: it
      // is never read, so it cannot make a client someone else.
      assert.equal(await remaining({ 'x-forwarded-for': '198.51.100.50', forwarded: 'for=192.0.2.77' }), 1);
      // IPv6 clients are counted per /64, what one host is usually given; mapped IPv4 as IPv4.
      assert.equal(await remaining({ 'x-forwarded-for': '2001:db8:cafe:1::17' }), 4);
      assert.equal(await remaining({ 'x-forwarded-for': '2001:db8:cafe:1:ffff::99' }), 3);
      assert.equal(await remaining({ 'x-forwarded-for': '::FFFF:198.51.100.50' }), 0);
      // A hop that is not an address leaves the proxy that reported it as the client.
      assert.equal(await remaining({ 'x-forwarded-for': 'unknown' }, '10.7.7.7'), 4);
      assert.equal(await remaining({}, '10.7.7.7'), 3);
    });

    it('reads Forwarded (RFC 7239) instead when http.proxyHeader says so, and then never X-Forwarded-For', async () => {
      const forwarded = await startTestServer('pglite', { config: { ...LIMITS, 'http.proxyHeader': 'forwarded' } });
      try {
        const remaining = async (headers: Record<string, string>, remoteAddress = PROXY) => {
          const response = await forwarded.app.inject({ method: 'GET', url: '/api/v1/', remoteAddress, headers });
          return Number(parseList(response.headers.ratelimit, STATE_ITEM)[0]![1]);
        };
        // Quoted IPv6 with a port, several elements, other parameters.
        assert.equal(await remaining({ forwarded: 'for="[2001:db8:cafe::17]:4711";proto=https' }), 4);
        assert.equal(await remaining({ forwarded: 'for=192.0.2.60, for=198.51.100.51;by=10.0.0.1' }), 4);
        assert.equal(
          await remaining({ forwarded: 'for=198.51.100.51:8080', 'x-forwarded-for': '192.0.2.99' }),
          3,
          'the same client; X-Forwarded-For is not read',
        );
        assert.equal(await remaining({ forwarded: 'for=unknown' }, '10.7.7.7'), 4);
        assert.equal(await remaining({}, '10.7.7.7'), 3);
        const tls = await forwarded.app.inject({ method: 'GET', url: '/health', remoteAddress: PROXY, headers: { forwarded: 'for=203.0.113.80;proto=https' } });
        assert.match(String(tls.headers['strict-transport-security']), /^max-age=31536000/, 'proto=https from a trusted proxy is TLS');
      } finally {
        await forwarded.close();
      }
    });
  });

  describe('other consumption limits', () => {
    it('answers a body over http.bodyLimitBytes with 413 and a GraphQL document of too many tokens with 400', async () => {
      const big = await t.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: 'a@example.com', password: 'x'.repeat(3_000_000) },
        ...via('203.0.113.60'),
      });
      assert.equal(big.statusCode, 413);
      assert.equal((big.json() as { code: string }).code, 'PAYLOAD_TOO_LARGE');
      const tokens = await t.app.inject({ method: 'POST', url: '/graphql', payload: { query: `{ ${'__typename '.repeat(250)} }` }, ...via('203.0.113.61') });
      assert.equal(tokens.statusCode, 400, tokens.body);
      const error = (tokens.json() as { errors: { message: string; extensions: { code: string } }[] }).errors[0]!;
      assert.equal(error.extensions.code, 'INVALID_INPUT');
      assert.match(error.message, /contains more \w+ 200 tokens/);
    });

    it('closes a connection whose headers do not arrive within http.headersTimeoutMs with a 400 problem', async () => {
      const port = Number(new URL(t.url).port);
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: '));
        let data = '';
        socket.on('data', (chunk) => (data += chunk.toString()));
        socket.on('close', () => resolve(data));
        socket.on('error', reject);
        setTimeout(() => reject(new Error('still open after 10 s')), 10_000).unref();
      });
      assert.match(answer, /^HTTP\/1\.1 400 /);
      assert.match(answer, /"code":"INVALID_INPUT"/);
      assert.match(answer, /not received in time/);
    });
  });

  describe('WebSocket', () => {
    // Its own server: every socket here upgrades from 127.0.0.1, which spends that
    // address's anonymous budget.
    let ws: TestServer;
    before(async () => {
      ws = await startTestServer('pglite', { config: { ...LIMITS, 'rateLimit.anonymousPerWindow': 100 } });
    });
    after(() => ws.close());

    async function wsAccount(): Promise<string> {
      const n = ++accounts;
      const email = `socket${n}@example.com`;
      assert.equal(
        (await ws.app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { email, name: `S ${n}`, password: PASSWORD }, ...via(`192.0.2.${n}`) }))
          .statusCode,
        201,
      );
      const login = await ws.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: PASSWORD }, ...via(`192.0.2.${n}`) });
      return (login.json() as { token: string }).token;
    }

    interface Opened {
      socket: WebSocket;
      outcome: string;
      messages: { type: string; id?: string; payload?: unknown }[];
    }

    /** Opens a socket, sends `init` (unless null) and resolves on connection_ack or close. */
    function open(init: Record<string, unknown> | null): Promise<Opened> {
      return new Promise((resolve, reject) => {
        const socket = new WebSocket(`${ws.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
        const messages: Opened['messages'] = [];
        socket.on('open', () => {
          if (init) socket.send(JSON.stringify({ type: 'connection_init', payload: init }));
        });
        socket.on('message', (data) => {
          const message = JSON.parse(data.toString()) as Opened['messages'][number];
          messages.push(message);
          if (message.type === 'connection_ack') resolve({ socket, outcome: 'ack', messages });
        });
        socket.on('close', (code, reason) => resolve({ socket, outcome: `closed ${code} ${reason.toString()}`, messages }));
        socket.on('error', reject);
        setTimeout(() => reject(new Error('neither acknowledged nor closed within 5 s')), 5000).unref();
      });
    }

    const closed = (socket: WebSocket) =>
      new Promise<string>((resolve, reject) => {
        socket.once('close', (code, reason) => resolve(`closed ${code} ${reason.toString()}`));
        setTimeout(() => reject(new Error('still open after 5 s')), 5000).unref();
      });

    it('caps open connections per user; a closed one frees its slot', async () => {
      const auth = { authorization: `Bearer ${await wsAccount()}` };
      const first = await open(auth);
      const second = await open(auth);
      assert.deepEqual([first.outcome, second.outcome], ['ack', 'ack']);
      assert.equal((await open(auth)).outcome, 'closed 4429 at most 2 connections per user');
      const gone = closed(first.socket);
      first.socket.close();
      await gone;
      // The server releases the slot as it sees the close; allow it that moment.
      let again = await open(auth);
      for (let i = 0; again.outcome !== 'ack' && i < 20; i++) again = await open(auth);
      assert.equal(again.outcome, 'ack');
      second.socket.close();
      again.socket.close();
    });

    it('closes a connection that does not send connection_init in time with 4408', async () => {
      const silent = await open(null);
      assert.equal(silent.outcome, 'closed 4408 Connection initialisation timeout');
    });

    it('closes a second connection_init with 4429, and it takes no connection slot', async () => {
      const auth = { authorization: `Bearer ${await wsAccount()}` };
      const first = await open(auth);
      assert.equal(first.outcome, 'ack');
      const gone = closed(first.socket);
      first.socket.send(JSON.stringify({ type: 'connection_init', payload: auth }));
      assert.equal(await gone, 'closed 4429 Too many initialisation requests');
      // Both slots are free again: two connections open.
      const [a, b] = [await open(auth), await open(auth)];
      assert.deepEqual([a.outcome, b.outcome], ['ack', 'ack']);
      a.socket.close();
      b.socket.close();
    });

    it('charges every operation on a socket to the request budget and its GraphQL points', async () => {
      const token = await wsAccount();
      const opened = await open({ authorization: `Bearer ${token}` });
      assert.equal(opened.outcome, 'ack');
      const results: { type: string; payload: unknown }[] = [];
      const done = new Promise<void>((resolve, reject) => {
        setTimeout(() => reject(new Error(`${results.length} answers after 5 s`)), 5000).unref();
        opened.socket.on('message', (data) => {
          const message = JSON.parse(data.toString()) as { type: string; id: string; payload: unknown };
          if (message.type === 'next' || message.type === 'error') results.push(message);
          if (results.length === 21) resolve();
        });
      });
      // userPerWindow is 20: the 21st operation is refused like a 21st HTTP request.
      for (let i = 1; i <= 21; i++) opened.socket.send(JSON.stringify({ type: 'subscribe', id: String(i), payload: { query: '{ __typename }' } }));
      await done;
      const refused = results.filter((r) => r.type === 'error' || (r.payload as { errors?: unknown }).errors);
      assert.equal(refused.length, 1, JSON.stringify(refused));
      assert.match(JSON.stringify(refused[0]), /Too many requests for the user limit/);
      const served = results.filter((r) => r.type === 'next' && (r.payload as { data?: unknown }).data);
      assert.equal(served.length, 20);
      opened.socket.close();
    });
  });

  describe('security headers and CORS', () => {
    it('sends nosniff, frame denial and no referrer everywhere, a CSP on HTML pages only', async () => {
      const json = await t.app.inject({ method: 'GET', url: '/health', ...via('203.0.113.70') });
      assert.equal(json.headers['x-content-type-options'], 'nosniff');
      assert.equal(json.headers['x-frame-options'], 'DENY');
      assert.equal(json.headers['referrer-policy'], 'no-referrer');
      assert.equal(json.headers['content-security-policy'], undefined);
      const problem = await t.app.inject({ method: 'GET', url: '/api/v1/nowhere', ...via('203.0.113.70') });
      assert.equal(problem.statusCode, 404);
      assert.equal(problem.headers['x-content-type-options'], 'nosniff', 'errors too');
      const page = await t.app.inject({ method: 'GET', url: '/docs/', ...via('203.0.113.71') });
      assert.equal(page.statusCode, 200);
      assert.match(String(page.headers['content-type']), /^text\/html/);
      const csp = String(page.headers['content-security-policy']);
      for (const directive of ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"])
        assert.ok(csp.includes(directive), `${directive} in ${csp}`);
    });

    it('sends HSTS only when the client came over TLS, as a trusted proxy reports it', async () => {
      const hsts = async (remoteAddress: string, headers: Record<string, string>) =>
        (await t.app.inject({ method: 'GET', url: '/health', remoteAddress, headers: { 'x-forwarded-for': '203.0.113.80', ...headers } })).headers[
          'strict-transport-security'
        ];
      assert.equal(await hsts(PROXY, {}), undefined, 'plain HTTP');
      assert.match(String(await hsts(PROXY, { 'x-forwarded-proto': 'https' })), /^max-age=31536000/);
      assert.equal(await hsts(PROXY, { forwarded: 'for=203.0.113.80;proto=https' }), undefined, "Forwarded is not this server's proxy header");
      assert.equal(await hsts('198.51.100.81', { 'x-forwarded-proto': 'https' }), undefined, 'not from an untrusted peer');
    });

    it('answers CORS preflights for allowed origins only, and exposes the rate-limit headers to them', async () => {
      const preflight = (origin: string) =>
        t.app.inject({
          method: 'OPTIONS',
          url: '/api/v1/auth/login',
          headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
          ...{ remoteAddress: '203.0.113.90' },
        });
      const allowed = await preflight('https://console.example.com');
      assert.equal(allowed.statusCode, 204);
      assert.equal(allowed.headers['access-control-allow-origin'], 'https://console.example.com');
      assert.match(String(allowed.headers['access-control-allow-headers']), /authorization/);
      assert.equal(allowed.headers['access-control-allow-credentials'], undefined, 'tokens, never cookies');
      const other = await preflight('https://evil.example');
      assert.equal(other.headers['access-control-allow-origin'], undefined);
      const get = await t.app.inject({ method: 'GET', url: '/health', headers: { origin: 'https://console.example.com' }, remoteAddress: '203.0.113.91' });
      assert.equal(get.headers['access-control-allow-origin'], 'https://console.example.com');
      assert.match(String(get.headers['access-control-expose-headers']), /ratelimit, ratelimit-policy/);
    });
  });
});

// The forwarded header is believed only from a configured proxy (docs/gateway.md "Who the
// client is"): otherwise any client could name its own address, and the address on its
// session records and charged by the rate limits and login limiter would be its choice.
describe('client address behind a proxy (pglite)', () => {
  const sessionsIp = async (t: TestServer) => {
    assert.equal((await registerRaw(t, { email: 'proxied@example.com', name: 'P', password: 'proxied passphrase' })).statusCode, 201);
    const response = await t.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      headers: { 'x-forwarded-for': '203.0.113.7' },
      payload: { email: 'proxied@example.com', password: 'proxied passphrase' },
    });
    const { token } = response.json() as { token: string };
    const sessions = (await as(t, token, 'GET', '/api/v1/auth/sessions')).json() as { items: { ip: string }[] };
    return sessions.items[0]!.ip;
  };

  it('believes X-Forwarded-For only from a configured proxy', async () => {
    const trusting = await startTestServer('pglite', { config: { 'http.trustProxy': '127.0.0.1' } });
    try {
      assert.equal(await sessionsIp(trusting), '203.0.113.7');
    } finally {
      await trusting.close();
    }
    const plain = await startTestServer('pglite');
    try {
      assert.equal(await sessionsIp(plain), '127.0.0.1', 'without trustProxy the header is ignored');
    } finally {
      await plain.close();
    }
  });
});
