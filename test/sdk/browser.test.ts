import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { build } from 'esbuild';
import { chromium, type Browser } from 'playwright-core';
import { DATABASE_KINDS } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The SDK in a real browser: Debian's Chromium, headless, driven by playwright-core. The SDK
 * is bundled for the browser platform by esbuild (a Node built-in anywhere in it fails the
 * bundle), loaded into a page of a fake origin (http://app.test/, served by page.route) that
 * the server allows by CORS, and runs the quick start and a live subscription there, with the
 * page's own fetch, WebSocket and crypto (no randomUUID on a plain-http origin).
 */

const CHROMIUM = '/usr/bin/chromium';
const ORIGIN = 'http://app.test';
/**
 * The page's origin stands for a public site, and the test server listens on loopback: Chromium's
 * local-network protection (a public, plain-http page may not reach into loopback) would refuse
 * every call before CORS is even asked. A deployed API is not on the visitor's loopback, so the
 * test turns that protection off rather than pretend the page is local.
 */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-features=BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults,LocalNetworkAccessChecks',
];
const ROOT = new URL('../../', import.meta.url).pathname;

async function bundle(): Promise<string> {
  const result = await build({
    stdin: {
      contents: "export * from './sdk/src/index.ts'; export { live } from './sdk/src/live/index.ts';",
      resolveDir: ROOT,
      loader: 'ts',
    },
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: 'PcfSdk',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

/** What the page runs: the quick start, then a live subscription, reporting what it saw. */
async function inPage({ url }: { url: string }) {
  const { createClient, live, localStorageAdapter, PcfConflictError } = (
    globalThis as unknown as { PcfSdk: typeof import('../../sdk/src/index.js') & typeof import('../../sdk/src/live/index.js') }
  ).PcfSdk;
  const { localStorage, isSecureContext } = globalThis as unknown as { localStorage: { getItem(key: string): string | null }; isSecureContext: boolean };
  const pcf = createClient({ url, storage: localStorageAdapter() }).with(live({ minDelayMs: 50 }));
  const email = `browser.${Date.now()}@sdk.example`;
  await pcf.auth.register({ email, name: 'Browser', password: 'a long passphrase' });
  await pcf.auth.login({ email, password: 'a long passphrase' });
  const stored = localStorage.getItem('pcf.token') ?? '';
  const doc = await pcf.resources.create({ name: 'From the browser', type: 'doc', data: { n: 1 } });
  const read = await pcf.resources.get(doc.id);
  const updated = await pcf.resources.update(read, { data: { n: 2 } });
  let conflict = '';
  try {
    await pcf.resources.update(read, { data: { n: 99 } });
  } catch (err) {
    conflict = err instanceof PcfConflictError ? `${err.code} ${err.current?.revision}` : String(err);
  }
  const listed = await pcf.resources.list({ type: 'doc' }).all();

  const changes = pcf.live.resource(doc.id);
  const first = changes.next();
  // The subscription goes live once the server has it; changes until then are not events.
  let event: Awaited<typeof first> | undefined;
  for (let n = 3; !event && n < 50; n += 1) {
    await pcf.resources.update(doc.id, { data: { n } });
    event = await Promise.race([first, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 200))]);
  }
  await changes.return();
  await pcf.live.close();
  await pcf.auth.logout();
  return {
    secureContext: isSecureContext,
    stored: stored.startsWith('pcf_'),
    cleared: localStorage.getItem('pcf.token') === null,
    versions: [doc.version, read.version, updated.version],
    conflict,
    listed: listed.map((r) => r.id),
    docId: doc.id,
    event: event && !event.done ? { kind: event.value.kind, resourceId: event.value.resourceId, version: event.value.version } : null,
  };
}

for (const kind of DATABASE_KINDS) {
  describe(`SDK in headless Chromium (${kind})`, () => {
    let t: TestServer;
    let browser: Browser;
    let script: string;

    before(async () => {
      // A machine without Chromium fails here, saying so: this test is never skipped.
      assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does)`);
      [t, script, browser] = await Promise.all([
        startTestServer(kind, { config: { 'http.corsOrigins': ORIGIN } }),
        bundle(),
        chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS] }),
      ]);
    });
    after(async () => {
      await browser?.close();
      await t?.close();
    });

    it('runs the quick start and a live subscription in a page of another origin', async () => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      await page.route(`${ORIGIN}/**`, (route) => {
        const path = new URL(route.request().url()).pathname;
        if (path === '/sdk.js') return route.fulfill({ contentType: 'text/javascript', body: script });
        return route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>app</title><script src="/sdk.js"></script>' });
      });
      await page.goto(`${ORIGIN}/`);
      const outcome = await page.evaluate(inPage, { url: t.url });
      assert.deepEqual(errors, []);
      assert.equal(outcome.secureContext, false, 'a plain-http origin: no crypto.randomUUID, the SDK makes keys itself');
      assert.equal(outcome.stored, true, 'the token was kept in localStorage');
      assert.equal(outcome.cleared, true, 'and removed on logout');
      assert.deepEqual(outcome.versions, [1, 1, 2]);
      assert.equal(outcome.conflict, 'PRECONDITION_FAILED 2');
      assert.deepEqual(outcome.listed, [outcome.docId]);
      assert.equal(outcome.event?.kind, 'UPDATED');
      assert.equal(outcome.event?.resourceId, outcome.docId);
      await page.close();
    });
  });
}
