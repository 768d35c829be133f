import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { BUILT_CLI, killCliChildren, runPcf, startPcf } from '../support/cli.js';
import { freePort } from '../support/net.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const PASSWORD = 'correct horse battery staple';

// `npm start` and the `pcf` bin run the bundle `npm run build` makes (scripts/bundle.mjs), not
// the sources the other CLI tests run: these check that what ships works.
describe('the built bundle (npm start, the pcf bin)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'pcf-bundle-'));
  after(() => {
    killCliChildren();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('is what package.json starts and names as the pcf command', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: { pcf: string }; scripts: { start: string } };
    assert.equal(pkg.bin.pcf, BUILT_CLI);
    assert.equal(pkg.scripts.start, 'node dist/bundle/main.js');
    assert.ok(existsSync(join(ROOT, BUILT_CLI)), 'npm run build wrote the bundle');
  });

  it('creates a user, then serves it: sign in, write a document, GraphQL and the OpenAPI reference page', { timeout: 120_000 }, async () => {
    const env = { PCF_DATA_DIR: dataDir, PCF_LOG_LEVEL: 'warn' };
    const created = await runPcf(['users', 'create', '--email', 'ops@bundle.example', '--name', 'Ops', '--admin', '--password-stdin'], {
      built: true,
      env,
      input: `${PASSWORD}\n`,
    });
    assert.equal(created.code, 0, created.stderr);

    const port = await freePort();
    const { child } = startPcf(['serve', '--port', String(port), '--host', '127.0.0.1'], { built: true, env });
    const base = `http://127.0.0.1:${port}`;
    try {
      await waitReady(base);
      const login = await post(base, '/api/v1/auth/login', { email: 'ops@bundle.example', password: PASSWORD });
      assert.equal(login.status, 200);
      const { token } = (await login.json()) as { token: string };
      const auth = { authorization: `Bearer ${token}` };
      const resource = await post(base, '/api/v1/resources', { name: 'Shipped', type: 'doc', data: { ok: true } }, auth);
      assert.equal(resource.status, 201);
      const invalid = await post(base, '/api/v1/resources', { name: '', type: 'doc' }, auth);
      assert.equal(invalid.status, 400);
      assert.equal(invalid.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      const graphql = await post(base, '/graphql', { query: '{ resources(first: 5) { totalCount } }' }, auth);
      assert.deepEqual(((await graphql.json()) as { data: unknown }).data, { resources: { totalCount: 1 } });
      const docs = await fetch(`${base}/docs/`);
      assert.equal(docs.status, 200, 'swagger-ui finds its assets outside the bundle');
    } finally {
      child.kill('SIGTERM');
    }
  });
});

async function post(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

async function waitReady(base: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const status = await fetch(`${base}/health/ready`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the bundled server did not become ready');
}
