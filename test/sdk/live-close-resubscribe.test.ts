import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { createClient } from '../../sdk/src/index.js';
import { live } from '../../sdk/src/live/index.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Review (h-review): `pcf.live.close()` walks the live `open` set while it closes each
 * iterator, and swaps the graphql-ws client only afterwards. A consumer that subscribes again
 * as soon as its iteration ends (the console's bell does, web/src/live/bell.tsx) adds a new
 * iterator to the set being walked, on the client being closed: close() closes that one too,
 * the consumer subscribes again, and so on. Without the cap below this never ends, and as
 * every step is a microtask it holds the event loop (timers never fire, CPU at 100 %).
 */
describe('sdk live: close() while a consumer resubscribes on end', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer('pglite');
  });
  after(async () => {
    await t?.close();
  });

  it('closes the subscriptions open when it was called, not the ones made meanwhile', async () => {
    const pcf = createClient({ url: t.url, WebSocket }).with(live({ minDelayMs: 50, maxDelayMs: 500 }));
    const input = { email: `resub.${process.pid}@live.example`, name: 'Resub', password: 'resub long passphrase' };
    await pcf.auth.register(input);
    await pcf.auth.login({ email: input.email, password: input.password });

    const CAP = 50;
    let made = 1;
    let stopped = false;
    let inbox = pcf.live.notifications();
    const loop = (async () => {
      while (made < CAP && !stopped) {
        for await (const _ of inbox) void _;
        if (stopped) break;
        inbox = pcf.live.notifications();
        made += 1;
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await pcf.live.close();
    const madeDuringClose = made;
    stopped = true;
    await inbox.return();
    await loop;
    await pcf.live.close();
    // Expected: the one open subscription is closed and the consumer's next one survives (2).
    assert.ok(madeDuringClose <= 2, `close() closed ${madeDuringClose - 1} subscriptions made while it ran (capped at ${CAP})`);
  });
});
