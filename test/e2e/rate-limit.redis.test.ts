import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { TEST_REDIS_URL } from '../support/databases.js';
import { assertProblem, loginRaw, registerRaw, type InjectedResponse } from '../support/identity.js';
import { ChildServer } from '../support/child-server.js';
import { freePort } from '../support/net.js';
import { startTestServer, type TestServer } from '../support/server.js';

/*
 * The gateway's rate limits with a shared Redis store (DESIGN §2): every instance charges the
 * same counters, and when Redis goes away the general budgets fall back to counting per
 * instance (never an outage) while the auth budget fails closed (503), until Redis is back,
 * which the store notices by itself.
 */

const PROBLEM_JSON = /^application\/problem\+json/;

/** A key prefix of its own, so parallel runs (and other test files) never share counters. */
const uniquePrefix = () => `pcf-rl-${randomBytes(6).toString('hex')}:`;

/** What the `RateLimit` header says is left of one budget (`"anonymous";r=9;t=60`). */
function remaining(header: string | null, budget: string): number {
  const match = new RegExp(`"${budget}";r=(\\d+);t=(\\d+)`).exec(header ?? '');
  assert.ok(match, `a ${budget} entry in RateLimit: ${header}`);
  return Number(match[1]);
}

/** The value of `rate_limit_decisions_total{budget, outcome}` in GET /metrics (0 when absent). */
async function decisions(t: TestServer, budget: string, outcome: string): Promise<number> {
  const response = await fetch(`${t.url}/metrics`);
  assert.equal(response.status, 200);
  const text = await response.text();
  for (const line of text.split('\n')) {
    if (!line.startsWith('rate_limit_decisions_total{')) continue;
    if (line.includes(`budget="${budget}"`) && line.includes(`outcome="${outcome}"`)) return Number(line.split(' ').at(-1));
  }
  return 0;
}

/** Log lines of this server with exactly this level, whose message starts with `prefix`. */
const logLines = (t: TestServer, level: string, prefix: string) =>
  t.logs.records().filter((r) => r.level === level && typeof r.msg === 'string' && r.msg.startsWith(prefix));

/** Polls `check` every 50 ms until it returns a value; fails after `timeoutMs`. */
async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`${what}: not seen within ${timeoutMs} ms`);
    await sleep(50);
  }
}

describe('rate limits shared through Redis', { skip: TEST_REDIS_URL ? false : 'needs PCF_TEST_REDIS_URL', timeout: 120_000 }, () => {
  const servers: TestServer[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  const start = async (keyPrefix: string) => {
    const t = await startTestServer('pglite', { config: { 'redis.url': TEST_REDIS_URL, 'redis.keyPrefix': keyPrefix, 'rateLimit.anonymousPerWindow': 10 } });
    servers.push(t);
    return t;
  };

  it('two instances with the same key prefix charge one anonymous budget', async () => {
    const prefix = uniquePrefix();
    const [a, b] = await Promise.all([start(prefix), start(prefix)]);

    // Alternate between the instances: the remaining count goes down across both.
    for (let i = 0; i < 10; i++) {
      const t = i % 2 === 0 ? a : b;
      const response = await fetch(`${t.url}/api/v1/`);
      assert.equal(response.status, 200, `request ${i + 1}`);
      assert.equal(response.headers.get('ratelimit-policy'), '"anonymous";q=10;w=60');
      assert.equal(remaining(response.headers.get('ratelimit'), 'anonymous'), 9 - i, `request ${i + 1} on ${t === a ? 'A' : 'B'}`);
    }

    // The 11th is refused whichever instance gets it.
    for (const t of [a, b]) {
      const response = await fetch(`${t.url}/api/v1/`);
      assert.equal(response.status, 429);
      assert.match(response.headers.get('content-type') ?? '', PROBLEM_JSON);
      const body = (await response.json()) as { code: string; status: number };
      assert.equal(body.code, 'RATE_LIMITED');
      assert.equal(body.status, 429);
      const retryAfter = Number(response.headers.get('retry-after'));
      assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${response.headers.get('retry-after')}`);
      assert.equal(remaining(response.headers.get('ratelimit'), 'anonymous'), 0);
    }
  });

  it('an instance with another key prefix keeps a budget of its own', async () => {
    const other = await start(uniquePrefix());
    const response = await fetch(`${other.url}/api/v1/`);
    assert.equal(response.status, 200);
    assert.equal(remaining(response.headers.get('ratelimit'), 'anonymous'), 9);
  });
});

/** A redis-server of this test's own on a loopback port, which the test stops and restarts. */
class DedicatedRedis {
  readonly #process: ChildServer;

  constructor(readonly port: number) {
    this.#process = new ChildServer('redis-server', port);
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  start(): Promise<void> {
    // No persistence: a restarted server comes back empty, as after a crash.
    return this.#process.start('redis-server', ['--port', String(this.port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1']);
  }

  stop(): Promise<void> {
    return this.#process.stop();
  }
}

describe('rate limits while the shared Redis store is down', { skip: TEST_REDIS_URL ? false : 'needs PCF_TEST_REDIS_URL', timeout: 120_000 }, () => {
  let redis: DedicatedRedis;
  let t: TestServer | undefined;
  const prefix = uniquePrefix();
  const account = { email: 'outage@example.com', name: 'Outage', password: 'outage test passphrase' };

  before(async () => {
    redis = new DedicatedRedis(await freePort());
    await redis.start();
    t = await startTestServer('pglite', {
      config: { 'redis.url': redis.url, 'redis.keyPrefix': prefix, 'rateLimit.anonymousPerWindow': 1000, 'rateLimit.authPerWindow': 1000 },
    });
  });
  // Always: the redis-server child must not outlive the test, whatever failed.
  after(async () => {
    await t?.close();
    await redis?.stop();
  });

  const server = () => {
    assert.ok(t, 'the server started');
    return t;
  };
  const graphqlLogin = () =>
    server().app.inject({ method: 'POST', url: '/graphql', payload: { query: 'mutation { login(email: "x@example.com", password: "whatever1") { token } }' } });

  it('lets login through while Redis is up', async () => {
    const registered = await registerRaw(server(), account);
    assert.equal(registered.statusCode, 201, registered.body);
    const response = await loginRaw(server(), account.email, account.password);
    assert.equal(response.statusCode, 200, response.body);
    assert.match(String(response.headers.ratelimit), /"auth";r=\d+/);
    assert.ok((await decisions(server(), 'auth', 'allowed')) >= 2);
  });

  it('counts general budgets per instance and refuses login (503) once Redis is gone', async () => {
    const fallbackBefore = await decisions(server(), 'anonymous', 'fallback');
    await redis.stop();

    // Anonymous routes keep answering: their budget falls back to this instance.
    for (let i = 0; i < 3; i++) {
      const meta = await fetch(`${server().url}/api/v1/`);
      assert.equal(meta.status, 200, await meta.text());
      assert.ok(remaining(meta.headers.get('ratelimit'), 'anonymous') < 1000);
    }

    // Login and register guard against password guessing: refused rather than counted per instance.
    const login = await loginRaw(server(), account.email, account.password);
    assertProblem(login, 503, 'SERVICE_UNAVAILABLE');
    assert.equal(login.headers['retry-after'], '5');
    const register = await registerRaw(server(), { email: 'late@example.com', name: 'Late', password: account.password });
    assertProblem(register, 503, 'SERVICE_UNAVAILABLE');

    // Over real HTTP too.
    const overHttp = await fetch(`${server().url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: account.email, password: account.password }),
    });
    assert.equal(overHttp.status, 503);
    assert.match(overHttp.headers.get('content-type') ?? '', PROBLEM_JSON);
    assert.equal(overHttp.headers.get('retry-after'), '5');
    assert.equal(((await overHttp.json()) as { code: string }).code, 'SERVICE_UNAVAILABLE');

    assert.ok((await decisions(server(), 'anonymous', 'fallback')) > fallbackBefore, 'fallback decisions are counted');
    assert.ok((await decisions(server(), 'auth', 'unavailable')) >= 3, 'refused auth attempts are counted');

    // Let the outage last until the connection's own reconnection attempts have failed (its
    // warning says so), so the recovery below rests on the retry loop; requests meanwhile
    // are all answered.
    await eventually('the connection failing to reconnect', 10_000, async () => {
      const index = await fetch(`${server().url}/api/v1/`);
      assert.equal(index.status, 200);
      return logLines(server(), 'warn', 'rate-limit store unreachable; calls fail').length > 0 || undefined;
    });

    // One warning for the whole outage, however many requests met it.
    const warnings = logLines(server(), 'warn', 'rate-limit store unreachable:');
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.equal(warnings[0]!.module, 'rate-limit');
  });

  it('refuses a GraphQL login too, with HTTP 503 and SERVICE_UNAVAILABLE', async () => {
    const response: InjectedResponse = await graphqlLogin();
    assert.equal(response.statusCode, 503, response.body);
    const body = response.json() as { data?: unknown; errors: { extensions: { code: string } }[] };
    assert.equal(body.errors[0]!.extensions.code, 'SERVICE_UNAVAILABLE');
    assert.ok(!body.data, 'nothing was executed');
  });

  it('recovers by itself once Redis is back, and shares the budget again', async () => {
    await redis.start();

    // The store reconnects in the background (at most 1 s between attempts).
    const login = await eventually('login answering other than 503', 10_000, async () => {
      const response = await loginRaw(server(), account.email, account.password);
      return response.statusCode === 503 ? undefined : response;
    });
    assert.equal(login.statusCode, 200, login.body);
    const graphql = await graphqlLogin();
    assert.equal(graphql.statusCode, 200, graphql.body);
    assert.equal(
      (graphql.json() as { errors?: { extensions: { code: string } }[] }).errors?.[0]?.extensions.code,
      'UNAUTHORIZED',
      'a wrong password, not a refusal',
    );

    assert.equal(logLines(server(), 'info', 'rate-limit store reconnected').length, 1, 'the connection says it is back');
    const recovered = logLines(server(), 'info', 'rate-limit store reachable again');
    assert.equal(recovered.length, 1, JSON.stringify(recovered));
    assert.equal(recovered[0]!.module, 'rate-limit');
    assert.equal(logLines(server(), 'warn', 'rate-limit store unreachable:').length, 1, 'no second warning');

    // Charges land in Redis again: the header follows the counter another instance would read.
    const allowedBefore = await decisions(server(), 'anonymous', 'allowed');
    const fallbackBefore = await decisions(server(), 'anonymous', 'fallback');
    const index = await fetch(`${server().url}/api/v1/`);
    assert.equal(index.status, 200);
    const probe = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await probe.connect();
      const keys = await probe.keys(`${prefix}rl:anonymous:*`);
      assert.equal(keys.length, 1, `one anonymous counter in Redis: ${keys.join(', ')}`);
      const counted = Number(await probe.get(keys[0]!));
      assert.equal(remaining(index.headers.get('ratelimit'), 'anonymous'), 1000 - counted);
    } finally {
      probe.disconnect();
    }
    // /metrics is not charged (a probe); the request above is, hence "greater than".
    assert.ok((await decisions(server(), 'anonymous', 'allowed')) > allowedBefore, 'shared charges are counted as allowed');
    assert.equal(await decisions(server(), 'anonymous', 'fallback'), fallbackBefore, 'no more fallback charges');
  });

  it('keeps answering while Redis accepts connections but stops answering, and recovers when it answers again', async () => {
    const fallbackBefore = await decisions(server(), 'anonymous', 'fallback');
    const pauser = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await pauser.connect();
      // A stalled server: the connection stays up, commands get no answer for 3 s.
      await pauser.call('CLIENT', 'PAUSE', '3000', 'ALL');
      // One after another, the first three wait out the 500 ms timeout and open the breaker
      // (about 1.5 s into the pause); the login after them is refused while Redis still
      // stalls, not charged once its answer comes in.
      for (let i = 0; i < 5; i++) assert.equal((await fetch(`${server().url}/api/v1/`)).status, 200);
      assertProblem(await loginRaw(server(), account.email, account.password), 503, 'SERVICE_UNAVAILABLE');
      assert.ok((await decisions(server(), 'anonymous', 'fallback')) > fallbackBefore, 'counted per instance meanwhile');
      const login = await eventually('login answering other than 503 after the pause', 15_000, async () => {
        const response = await loginRaw(server(), account.email, account.password);
        return response.statusCode === 503 ? undefined : response;
      });
      assert.equal(login.statusCode, 200, login.body);
      assert.equal(logLines(server(), 'info', 'rate-limit store reachable again').length, 2, 'the second recovery is logged too');
    } finally {
      pauser.disconnect();
    }
  });
});
