import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CONTRACT_FILES, servedContract } from '../../scripts/contract-files.js';
import { packageRoot } from '../../src/core/package.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The checked-in contract (contract/, what the SDK and third parties generate from) is what
 * the server serves: a route or schema change without `npm run contract` fails here.
 */
describe('the published contract files', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer('pglite');
  });
  after(() => t.close());

  it('match what a running server serves, byte for byte', async () => {
    const served = await servedContract(async (path) => {
      const response = await fetch(`${t.url}${path}`);
      return { status: response.status, body: await response.text() };
    });
    assert.equal(served.size, CONTRACT_FILES.length);
    for (const [file, content] of served) {
      const checkedIn = readFileSync(join(packageRoot(), file), 'utf8');
      assert.ok(checkedIn === content, `${file} is stale: run npm run contract`);
    }
  });

  it('serves the SDL as application/graphql, starting with the schema types', async () => {
    const response = await fetch(`${t.url}/graphql/schema.graphql`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/graphql; charset=utf-8$/);
    const sdl = await response.text();
    assert.match(sdl, /^type Query \{$/m);
    assert.match(sdl, /^type Subscription \{$/m);
  });
});

describe('the SDL with introspection off (production)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer('pglite', { config: { profile: 'production' } });
  });
  after(() => t.close());

  it('is not served: the path answers 404 problem+json', async () => {
    const response = await fetch(`${t.url}/graphql/schema.graphql`);
    assert.equal(response.status, 404);
    assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal(((await response.json()) as { code: string }).code, 'NOT_FOUND');
  });
});
