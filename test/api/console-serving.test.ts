import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { consoleDirectory } from '../../src/api/console.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Review (h-review): what src/api/console.ts says it does with @fastify/static 9.
 * - `redirect: true` with `prefix: '/console/'` registers no `/console` route (the plugin adds
 *   the redirect only when the prefix lacks its trailing slash), so /console is a 404.
 * - `serveDotFiles` only feeds the glob of `wildcard: false`; with `wildcard: true` send()'s
 *   `dotfiles` option decides, and @fastify/static defaults it to 'allow'.
 */
describe('console static serving (review)', { skip: !existsSync(join(consoleDirectory(), 'index.html')) && 'web/dist not built' }, () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer('pglite');
  });
  after(async () => {
    await t?.close();
  });

  it('sends /console to /console/ (relative, as / is)', async () => {
    const response = await t.app.inject({ method: 'GET', url: '/console' });
    assert.ok([301, 302, 308].includes(response.statusCode), `status ${response.statusCode}`);
    assert.equal(response.headers.location, 'console/');
  });

  it('does not serve dotfiles from web/dist', async () => {
    const file = join(consoleDirectory(), '.review-dotfile');
    writeFileSync(file, 'secret');
    try {
      const response = await t.app.inject({ method: 'GET', url: '/console/.review-dotfile' });
      assert.equal(response.statusCode, 404, response.body);
    } finally {
      rmSync(file, { force: true });
    }
  });
});
