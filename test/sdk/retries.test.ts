import assert from 'node:assert/strict';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createClient, PcfError, PcfNetworkError, type PcfClient } from '../../sdk/src/index.js';
import { DATABASE_KINDS } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Keyed writes after a lost answer: a proxy in front of the real server forwards a request,
 * lets the server commit and answer, then drops the connection instead of passing the answer
 * on (what a flaky network or a load balancer restart does). The SDK repeats the write with
 * the same Idempotency-Key and gets the first answer; one resource exists.
 */

interface Seen {
  method: string;
  url: string;
  idempotencyKey: string | undefined;
}

/** What the proxy does to the next requests that match: drop the answer, or answer 503 itself. */
type Fault = { match: (req: IncomingMessage) => boolean; action: 'drop-answer' | 'unavailable' };

class FaultyProxy {
  readonly seen: Seen[] = [];
  readonly faults: Fault[] = [];
  #server: Server;
  url = '';

  constructor(upstream: string) {
    const target = new URL(upstream);
    this.#server = createServer((req, res) => {
      this.seen.push({ method: req.method!, url: req.url!, idempotencyKey: req.headers['idempotency-key'] as string | undefined });
      const index = this.faults.findIndex((f) => f.match(req));
      const fault = index >= 0 ? this.faults.splice(index, 1)[0] : undefined;
      if (fault?.action === 'unavailable') {
        req.resume();
        res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '1' });
        res.end(JSON.stringify({ code: 'SERVICE_UNAVAILABLE', status: 503, title: 'Service unavailable', detail: 'Draining.', traceId: '0'.repeat(32) }));
        return;
      }
      const forward = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        if (fault?.action === 'drop-answer') {
          // The server has committed and answered; the client never hears it.
          answer.resume();
          answer.on('end', () => req.socket.destroy());
          return;
        }
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      });
      forward.on('error', () => res.destroy());
      req.pipe(forward);
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

const isCreate = (req: IncomingMessage) => req.method === 'POST' && req.url === '/api/v1/resources';

for (const kind of DATABASE_KINDS) {
  describe(`SDK retries of keyed writes (${kind})`, () => {
    let t: TestServer;
    let proxy: FaultyProxy;
    let pcf: PcfClient;

    before(async () => {
      t = await startTestServer(kind);
      proxy = new FaultyProxy(t.url);
      await proxy.start();
      pcf = createClient({ url: proxy.url, retryBaseMs: 20 });
      const input = { email: `retry.${kind}@sdk.example`, name: 'Retry', password: 'a long passphrase' };
      await pcf.auth.register(input);
      await pcf.auth.login({ email: input.email, password: input.password });
    });
    after(async () => {
      await proxy.close();
      await t.close();
    });

    it('replays a create whose answer was lost: the same resource, the same key, one resource', async () => {
      const type = `dropped-${kind}`;
      proxy.faults.push({ match: isCreate, action: 'drop-answer' });
      const before = proxy.seen.length;
      const created = await pcf.resources.create({ name: 'Once', type, data: { n: 1 } });
      const attempts = proxy.seen.slice(before).filter((s) => s.method === 'POST');
      assert.equal(attempts.length, 2, 'sent twice: the lost one and the retry');
      assert.ok(attempts[0]!.idempotencyKey, 'keyed');
      assert.equal(attempts[1]!.idempotencyKey, attempts[0]!.idempotencyKey, 'the retry reuses the key');
      const all = await pcf.resources.list({ type }).all();
      assert.deepEqual(
        all.map((r) => r.id),
        [created.id],
        'one resource exists',
      );
      assert.equal(created.version, 1);
    });

    it('replays a restore whose answer was lost: one new version', async () => {
      const doc = await pcf.resources.create({ name: 'Restorable', type: `restore-${kind}`, data: { n: 1 } });
      await pcf.resources.update(doc, { data: { n: 2 } });
      proxy.faults.push({ match: (req) => req.method === 'POST' && req.url!.endsWith('/restore'), action: 'drop-answer' });
      const restored = await pcf.resources.restore(doc.id, 1);
      assert.deepEqual([restored.version, restored.data], [3, { n: 1 }]);
      assert.deepEqual(
        (await pcf.resources.versions(doc.id).all()).map((v) => v.version),
        [3, 2, 1],
      );
    });

    it('retries a 503 after its Retry-After, with the same key', async () => {
      proxy.faults.push({ match: isCreate, action: 'unavailable' });
      const before = proxy.seen.length;
      const created = await pcf.resources.create({ name: 'After a 503', type: `unavailable-${kind}`, data: {} });
      const attempts = proxy.seen.slice(before);
      assert.equal(attempts.length, 2);
      assert.equal(attempts[1]!.idempotencyKey, attempts[0]!.idempotencyKey);
      assert.equal(created.name, 'After a 503');
    });

    it('does not repeat a write without a key (update) when its answer is lost: it reports the network failure', async () => {
      const doc = await pcf.resources.create({ name: 'Patched', type: `patch-${kind}`, data: {} });
      proxy.faults.push({ match: (req) => req.method === 'PATCH', action: 'drop-answer' });
      const before = proxy.seen.length;
      const failure = await pcf.resources.update(doc, { name: 'Maybe' }).then(
        () => assert.fail('the answer was lost'),
        (err: unknown) => err,
      );
      assert.ok(failure instanceof PcfNetworkError);
      assert.ok(failure instanceof PcfError);
      assert.equal(failure.code, 'NETWORK_ERROR');
      assert.equal(proxy.seen.slice(before).length, 1, 'sent once');
    });

    it('gives up with PcfNetworkError when the server cannot be reached', async () => {
      const nowhere = createClient({ url: 'http://127.0.0.1:9', retryBaseMs: 1, maxRetries: 2 });
      await assert.rejects(nowhere.info(), (err: unknown) => err instanceof PcfNetworkError && err.status === 0);
    });
  });
}
