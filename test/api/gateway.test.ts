import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { PROBLEM_CONTENT_TYPE, bearer, type InjectedResponse } from '../support/identity.js';
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
  'websocket.maxConnectionsPerUser': 2,
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

function parseList(header: unknown, item: RegExp): string[][] {
  assert.equal(typeof header, 'string', 'the header is present');
  return (header as string).split(', ').map((member) => {
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
    const register = await t.app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { email, name: `G ${n}`, password: PASSWORD }, ...via(`192.0.2.${n}`) });
    assert.equal(register.statusCode, 201, register.body);
    const login = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password: PASSWORD }, ...via(`192.0.2.${n}`) });
    assert.equal(login.statusCode, 200, login.body);
    const body = login.json() as { token: string; user: { id: string } };
    return { token: body.token, id: body.user.id, email };
  }

  describe('budgets and signalling', () => {
    it('counts anonymous requests per client address, says so in RateLimit headers, then answers 429 with Retry-After', async () => {
      for (let i = 0; i < 5; i++) {
        const response = await t.app.inject({ method: 'GET', url: '/health', ...via('203.0.113.1') });
        assert.equal(response.statusCode, 200);
        assert.deepEqual(parseList(response.headers['ratelimit-policy'], POLICY_ITEM), [['anonymous', '5', '60']]);
        const [[name, remaining, reset]] = parseList(response.headers.ratelimit, STATE_ITEM) as [[string, string, string]];
        assert.equal(name, 'anonymous');
        assert.equal(Number(remaining), 4 - i, 'each request spends one');
        assert.ok(Number(reset) >= 1 && Number(reset) <= 60);
      }
      const refused = await t.app.inject({ method: 'GET', url: '/api/v1/resources', ...via('203.0.113.1') });
      assertLimited(refused, 'anonymous');
      assert.deepEqual(parseList(refused.headers.ratelimit, STATE_ITEM).map(([name, r]) => [name, r]), [['anonymous', '0']]);
      // Another client is not affected.
      assert.equal((await t.app.inject({ method: 'GET', url: '/health', ...via('203.0.113.2') })).statusCode, 200);
    });

    it('counts signed-in requests per user, across its sessions, apart from its address', async () => {
      const user = await account();
      const second = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: user.email, password: PASSWORD }, ...via('198.51.100.20') });
      const tokens = [user.token, (second.json() as { token: string }).token];
      for (let i = 0; i < 20; i++) {
        const response = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', remoteAddress: PROXY, headers: { ...bearer(tokens[i % 2]!), 'x-forwarded-for': '198.51.100.21' } });
        assert.equal(response.statusCode, 200, response.body);
        assert.deepEqual(parseList(response.headers.ratelimit, STATE_ITEM).map(([name, r]) => [name, Number(r)]), [['user', 19 - i]]);
      }
      const refused = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', remoteAddress: PROXY, headers: { ...bearer(tokens[0]!), 'x-forwarded-for': '198.51.100.22' } });
      assertLimited(refused, 'user');
      // The address the user called from still has its anonymous budget.
      assert.equal((await t.app.inject({ method: 'GET', url: '/health', ...via('198.51.100.21') })).statusCode, 200);
    });

    it('gives login, register and password changes the strict auth budget, over REST and GraphQL alike', async () => {
      const from = via('203.0.113.30');
      const wrong = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'nobody@example.com', password: 'wrong password' }, ...from });
      assert.equal(wrong.statusCode, 401);
      assert.deepEqual(parseList(wrong.headers['ratelimit-policy'], POLICY_ITEM), [['anonymous', '5', '60'], ['auth', '3', '60']]);
      // One GraphQL document with two login fields is two attempts: 3 spent, none left.
      const graphql = await t.app.inject({
        method: 'POST',
        url: '/graphql',
        payload: { query: 'mutation { a: login(email: "nobody@example.com", password: "wrong one") { token } b: login(email: "x@example.com", password: "wrong two") { token } }' },
        ...from,
      });
      assert.equal(graphql.statusCode, 200, graphql.body);
      const next = await t.app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { email: 'late@example.com', name: 'Late', password: PASSWORD }, ...from });
      assertLimited(next, 'auth');
      const viaGraphql = await t.app.inject({ method: 'POST', url: '/graphql', payload: { query: 'mutation { login(email: "nobody@example.com", password: "wrong three") { token } }' }, ...via('203.0.113.30') });
      assert.equal(viaGraphql.statusCode, 429);
      assert.equal((viaGraphql.json() as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code, 'RATE_LIMITED');
      assert.ok(Number(viaGraphql.headers['retry-after']) >= 1);
      // A password change is counted per user.
      const user = await account();
      for (let i = 0; i < 3; i++) {
        const change = await t.app.inject({ method: 'POST', url: '/api/v1/auth/password', headers: bearer(user.token), payload: { currentPassword: 'not it at all', newPassword: 'another long one' } });
        assert.notEqual(change.statusCode, 429, `attempt ${i + 1}`);
      }
      assertLimited(await t.app.inject({ method: 'POST', url: '/api/v1/auth/password', headers: bearer(user.token), payload: { currentPassword: PASSWORD, newPassword: 'another long one' } }), 'auth');
    });

    it('charges a refused token to its sender’s address: guessing tokens ends in 429, not endless 401s', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) {
        const response = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', remoteAddress: PROXY, headers: { ...bearer(`pcf_${'x'.repeat(43)}`), 'x-forwarded-for': '203.0.113.40' } });
        statuses.push(response.statusCode);
      }
      assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429]);
    });

    it('charges GraphQL operations their cost, page sizes in variables included, and reports it in extensions', async () => {
      const user = await account();
      const query = (first: string) => `query${first === '$n' ? '($n: Int)' : ''} { resources(first: ${first}) { edges { node { id } } } }`;
      const run = (payload: object) => t.app.inject({ method: 'POST', url: '/graphql', headers: bearer(user.token), payload });
      // 1 for resources, 50 × (edges + node + id): 151 points, literal or variable alike.
      const literal = await run({ query: query('50') });
      assert.equal(literal.statusCode, 200, literal.body);
      assert.deepEqual((literal.json() as { extensions: unknown }).extensions, { cost: { requested: 151, remaining: 449, limit: 600, resetSeconds: (literal.json() as { extensions: { cost: { resetSeconds: number } } }).extensions.cost.resetSeconds } });
      const variable = await run({ query: query('$n'), variables: { n: 50 } });
      assert.equal((variable.json() as { extensions: { cost: { requested: number; remaining: number } } }).extensions.cost.requested, 151);
      // Left out, the page size is the schema's default (20): 61 points.
      const defaulted = await run({ query: '{ resources { edges { node { id } } } }' });
      assert.deepEqual(
        (defaulted.json() as { extensions: { cost: { requested: number; remaining: number } } }).extensions.cost.requested,
        61,
      );
      // 600 − 151 − 151 − 61 = 237 left: a third page of 50 fits, a fourth does not.
      assert.equal((await run({ query: query('50') })).statusCode, 200);
      const refused = await run({ query: query('$n'), variables: { n: 50 } });
      assert.equal(refused.statusCode, 429, refused.body);
      const error = (refused.json() as { data: unknown; errors: { message: string; extensions: { code: string } }[] }).errors[0]!;
      assert.equal(error.extensions.code, 'RATE_LIMITED');
      assert.match(error.message, /graphql limit/);
      assert.ok(Number(refused.headers['retry-after']) >= 1);
      assert.match(String(refused.headers['ratelimit-policy']), /"graphql";q=600;w=60/);
    });

    it('refuses a document over graphql.maxComplexity before execution, whether its page size is literal or a variable', async () => {
      const user = await account();
      const pages = (first: string) => `query${first === '$n' ? '($n: Int)' : ''} { a: resources(first: ${first}) { edges { node { id name type } } } b: resources(first: ${first}) { edges { node { id name type } } } }`;
      for (const payload of [{ query: pages('100') }, { query: pages('$n'), variables: { n: 100 } }]) {
        const response = await t.app.inject({ method: 'POST', url: '/graphql', headers: bearer(user.token), payload });
        assert.equal(response.statusCode, 400, response.body);
        const error = (response.json() as { errors: { message: string; extensions: { code: string } }[] }).errors[0]!;
        assert.equal(error.extensions.code, 'INVALID_INPUT');
        assert.match(error.message, /Cost limit of 1000 exceeded, found 1002/);
      }
    });
  });

  describe('client identity', () => {
    it('ignores X-Forwarded-For and Forwarded from a peer that is not a trusted proxy', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        // A client that makes up a new address each time is still one client.
        const response = await t.app.inject({ method: 'GET', url: '/health', remoteAddress: '198.51.100.99', headers: { 'x-forwarded-for': `192.0.2.${100 + i}`, forwarded: `for=192.0.2.${200 + i}` } });
        statuses.push(response.statusCode);
      }
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429]);
    });

    it('believes trusted proxies: the nearest untrusted hop of X-Forwarded-For or Forwarded is the client', async () => {
      const remaining = async (headers: Record<string, string>, remoteAddress = PROXY) => {
        const response = await t.app.inject({ method: 'GET', url: '/health', remoteAddress, headers });
        return Number(parseList(response.headers.ratelimit, STATE_ITEM)[0]![1]);
      };
      // The left-most entry is whatever the client wrote; the proxies' own hops are skipped.
      assert.equal(await remaining({ 'x-forwarded-for': 'made-up, 198.51.100.50, 10.9.9.9' }), 4);
      assert.equal(await remaining({ 'x-forwarded-for': '198.51.100.50' }), 3, 'the same client');
      // RFC 7239, preferred when both are present: quoted IPv6 with a port, several hops.
      assert.equal(await remaining({ forwarded: 'for="[2001:db8:cafe::17]:4711";proto=https', 'x-forwarded-for': '198.51.100.50' }), 4);
      assert.equal(await remaining({ forwarded: 'for=192.0.2.60, for=198.51.100.51;by=10.0.0.1' }), 4);
      assert.equal(await remaining({ forwarded: 'for=198.51.100.51:8080' }), 3, 'the port is not part of the address');
      // IPv6 clients are counted per /64, what one host is usually given.
      assert.equal(await remaining({ forwarded: 'for="[2001:db8:cafe::99]"' }), 3);
      // A proxy that hides the client (`for=unknown`) leaves the proxy as the client.
      assert.equal(await remaining({ forwarded: 'for=unknown' }, '10.7.7.7'), 4);
      assert.equal(await remaining({}, '10.7.7.7'), 3);
    });
  });

  describe('other consumption limits', () => {
    it('answers a body over http.bodyLimitBytes with 413 and a GraphQL document of too many tokens with 400', async () => {
      const big = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'a@example.com', password: 'x'.repeat(3_000_000) }, ...via('203.0.113.60') });
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

    it('caps open WebSocket connections per user; a closed one frees its slot', async () => {
      const user = await account();
      const url = `${t.url.replace('http', 'ws')}/graphql`;
      const open = () =>
        new Promise<{ socket: WebSocket; outcome: string }>((resolve, reject) => {
          const socket = new WebSocket(url, 'graphql-transport-ws');
          socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${user.token}` } })));
          socket.on('message', (data) => {
            if ((JSON.parse(data.toString()) as { type: string }).type === 'connection_ack') resolve({ socket, outcome: 'ack' });
          });
          socket.on('close', (code, reason) => resolve({ socket, outcome: `closed ${code} ${reason.toString()}` }));
          socket.on('error', reject);
        });
      const first = await open();
      const second = await open();
      assert.deepEqual([first.outcome, second.outcome], ['ack', 'ack']);
      const third = await open();
      assert.equal(third.outcome, 'closed 4429 at most 2 connections per user');
      const closed = new Promise((resolve) => first.socket.once('close', resolve));
      first.socket.close();
      await closed;
      // The server releases the slot as it sees the close; allow it that moment.
      let again = await open();
      for (let i = 0; again.outcome !== 'ack' && i < 20; i++) again = await open();
      assert.equal(again.outcome, 'ack');
      second.socket.close();
      again.socket.close();
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
      for (const directive of ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'"]) assert.ok(csp.includes(directive), `${directive} in ${csp}`);
    });

    it('sends HSTS only when the client came over TLS, as a trusted proxy reports it', async () => {
      const hsts = async (remoteAddress: string, headers: Record<string, string>) =>
        (await t.app.inject({ method: 'GET', url: '/health', remoteAddress, headers: { 'x-forwarded-for': '203.0.113.80', ...headers } })).headers['strict-transport-security'];
      assert.equal(await hsts(PROXY, {}), undefined, 'plain HTTP');
      assert.match(String(await hsts(PROXY, { 'x-forwarded-proto': 'https' })), /^max-age=31536000/);
      assert.match(String(await hsts(PROXY, { forwarded: 'for=203.0.113.80;proto=https' })), /^max-age=31536000/);
      assert.equal(await hsts('198.51.100.81', { 'x-forwarded-proto': 'https' }), undefined, 'not from an untrusted peer');
    });

    it('answers CORS preflights for allowed origins only, and exposes the rate-limit headers to them', async () => {
      const preflight = (origin: string) =>
        t.app.inject({ method: 'OPTIONS', url: '/api/v1/auth/login', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' }, ...{ remoteAddress: '203.0.113.90' } });
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
