import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { generated, GENERATED_FILES } from '../../sdk/scripts/generate.js';
import { measure } from '../../sdk/scripts/size.js';

/**
 * The SDK as a package: its generated types follow the published contract, its manifest is
 * what bundlers and TypeScript need, and a browser bundle stays small, with graphql-ws only
 * where live subscriptions are imported.
 */
describe('@pcf/sdk as a package', () => {
  it('has generated types that match contract/openapi.json and contract/schema.graphql (else: npm run sdk:generate)', async () => {
    const wanted = await generated();
    for (const key of ['openapi', 'graphql'] as const) {
      assert.equal(readFileSync(GENERATED_FILES[key], 'utf8'), wanted[key], `${GENERATED_FILES[key]} is stale: run npm run sdk:generate`);
    }
  });

  it('declares ESM entry points with types, no side effects, and graphql-ws as its only dependency', () => {
    const manifest = JSON.parse(readFileSync(new URL('../../sdk/package.json', import.meta.url), 'utf8')) as Record<string, unknown>;
    assert.equal(manifest.name, '@pcf/sdk');
    assert.equal(manifest.type, 'module');
    assert.equal(manifest.sideEffects, false);
    const exports = manifest.exports as Record<string, { types?: string; import?: string }>;
    for (const entry of ['.', './live']) {
      assert.match(exports[entry]?.types ?? '', /\.d\.ts$/, `${entry} has types`);
      assert.match(exports[entry]?.import ?? '', /\.js$/, `${entry} is ESM`);
    }
    assert.deepEqual(Object.keys(manifest.dependencies as object), ['graphql-ws']);
  });

  it('bundles for the browser under 15 KB gzipped without live, 25 KB with it, graphql-ws only with live', async () => {
    const core = await measure('core');
    const withLive = await measure('core + live');
    assert.doesNotMatch(core.text, /graphql-transport-ws/, 'no graphql-ws without live');
    assert.match(withLive.text, /graphql-transport-ws/);
    assert.ok(core.gzipped < 15 * 1024, `core is ${core.gzipped} bytes gzipped`);
    assert.ok(withLive.gzipped < 25 * 1024, `core + live is ${withLive.gzipped} bytes gzipped`);
  });
});
