import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { DATABASE_KINDS } from '../support/databases.js';
import { assertProblem } from '../support/identity.js';
import { startTestServer, type TestServer } from '../support/server.js';

/*
 * Probes are never throttled (DESIGN §2, docs/limits.md "Probes and metrics"): a client
 * address that has spent its anonymous budget, as an orchestrator or scraper sharing an
 * address with busy clients would, still gets 200 from /health and /health/ready, and
 * `pcf healthcheck` calls the server healthy. /metrics is exempt when guarded by
 * metrics.token; open (no token set), it is an anonymous endpoint in the anonymous budget.
 */

const ROOT = new URL('../../', import.meta.url).pathname;
const BUDGET = { 'rateLimit.anonymousPerWindow': 5, 'rateLimit.windowSeconds': 3600 };
const PROBES = ['/health', '/health/ready'];

/** Spends the anonymous budget of the test's address (127.0.0.1) until it is refused. */
async function exhaustAnonymousBudget(t: TestServer): Promise<void> {
  for (let i = 0; i < 10; i++) {
    const response = await t.app.inject({ method: 'GET', url: '/api/v1/' });
    if (response.statusCode === 429) return;
  }
  assert.fail('the anonymous budget was never spent');
}

/** `pcf healthcheck --url <url>`, as a container HEALTHCHECK runs it. */
function healthcheck(url: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PCF_') && !name.startsWith('NODE_TEST')));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'healthcheck', '--url', url], {
      cwd: ROOT,
      env: clean,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('probes once the anonymous budget is spent', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer(DATABASE_KINDS[0]!, { config: BUDGET });
    await exhaustAnonymousBudget(t);
  });
  after(() => t.close());

  it('the address is refused elsewhere (429), but every probe answers 200, uncharged, as often as asked', async () => {
    assertProblem(await t.app.inject({ method: 'GET', url: '/api/v1/' }), 429, 'RATE_LIMITED');
    for (let i = 0; i < 20; i++) {
      for (const url of PROBES) {
        const response = await t.app.inject({ method: 'GET', url });
        assert.equal(response.statusCode, 200, `${url}: ${response.body.slice(0, 300)}`);
        assert.equal(response.headers.ratelimit, undefined, `${url} is in no budget`);
      }
    }
    // With a token (a probe configured with one, or a client that sends it everywhere) too.
    const withToken = await t.app.inject({ method: 'GET', url: '/health/ready', headers: { authorization: 'Bearer not-a-session' } });
    assert.equal(withToken.statusCode, 200, withToken.body);
  });

  it('/metrics without metrics.token is an open, anonymous endpoint: in the anonymous budget like any other', async () => {
    assertProblem(await t.app.inject({ method: 'GET', url: '/metrics' }), 429, 'RATE_LIMITED');
  });

  it('`pcf healthcheck` calls the server healthy (exit 0), over a real socket from the same address', async () => {
    const result = await healthcheck(t.url);
    assert.equal(result.code, 0, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
    assert.match(result.stdout, /^healthy\b/);
  });
});

describe('/metrics with metrics.token', () => {
  const TOKEN = 'scrape-me-9f2c4e7a1b3d';
  let t: TestServer;
  before(async () => {
    t = await startTestServer(DATABASE_KINDS[0]!, { config: { ...BUDGET, 'metrics.token': TOKEN } });
  });
  after(() => t.close());

  it('answers 401 without the token or with another, with WWW-Authenticate', async () => {
    for (const headers of [{}, { authorization: 'Bearer scrape-me-wrong-guess' }, { authorization: `Basic ${TOKEN}` }]) {
      const response = await t.app.inject({ method: 'GET', url: '/metrics', headers });
      const problem = assertProblem(response, 401, 'UNAUTHORIZED');
      assert.match(problem.detail, /metrics\.token/);
      assert.match(String(response.headers['www-authenticate']), /^Bearer/);
      assert.doesNotMatch(response.body, /http_requests|process_/, 'no metric leaks into the refusal');
    }
  });

  it('charges wrong tokens to the anonymous budget (429 once spent), while the right one always passes', async () => {
    let refused = 0;
    for (let i = 0; i < 10; i++) {
      const response = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer scrape-me-another-guess' } });
      if (response.statusCode === 429) refused++;
      else assert.equal(response.statusCode, 401);
    }
    assert.ok(refused >= 5, `guesses are throttled (${refused} of 10 refused)`);
    for (let i = 0; i < 10; i++) {
      const response = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(response.statusCode, 200, response.body.slice(0, 300));
      assert.match(String(response.headers['content-type']), /^text\/plain/);
      assert.match(response.body, /^# (HELP|TYPE) /m);
    }
  });

  it('leaves the health probes open without a token', async () => {
    for (const url of ['/health', '/health/ready']) assert.equal((await t.app.inject({ method: 'GET', url })).statusCode, 200);
  });
});
