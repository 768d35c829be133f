import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { consoleDirectory } from '../../src/api/console.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * How src/api/console.ts serves web/dist with @fastify/static, where the plugin's defaults
 * would do otherwise: /console (no slash) is sent to /console/ relatively (the plugin's own
 * redirect does not fire for a prefix ending in a slash, and is absolute), dotfiles are not
 * served (send's default under a wildcard route is to serve them), and source maps are cached
 * like the hashed files they describe.
 */
describe('console: static serving', () => {
  let t: TestServer;
  before(async () => {
    assert.ok(existsSync(join(consoleDirectory(), 'index.html')), 'web/dist/ has no console: run `npm run build` first');
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
      for (const url of ['/console/.review-dotfile', '/console/%2ereview-dotfile', '/console/assets/../.review-dotfile']) {
        const response = await t.app.inject({ method: 'GET', url });
        assert.equal(response.statusCode, 404, `${url}: ${response.body}`);
      }
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('caches a hashed file’s source map as long as the file', async () => {
    const html = (await t.app.inject({ method: 'GET', url: '/console/' })).body;
    const script = /src="\.\/(assets\/console-[A-Z0-9]+\.js)"/.exec(html)?.[1];
    assert.ok(script, html);
    const map = await t.app.inject({ method: 'GET', url: `/console/${script}.map` });
    assert.equal(map.statusCode, 200);
    assert.equal(map.headers['cache-control'], 'public, max-age=31536000, immutable');
  });
});
