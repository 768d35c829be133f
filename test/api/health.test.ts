import assert from 'node:assert/strict';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { DATABASE_KINDS, TEST_REDIS_URL } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';

interface Readiness {
  status: string;
  roles: string[];
  checks: Record<string, { status: string; latencyMs: number; error?: string }>;
}

async function readiness(t: TestServer) {
  const response = await t.app.inject({ method: 'GET', url: '/health/ready' });
  return { status: response.statusCode, body: response.json() as Readiness };
}

for (const kind of DATABASE_KINDS) {
  describe(`health (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer(kind);
    });
    after(() => t.close());

    it('answers liveness without authentication', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/health' });
      assert.equal(response.statusCode, 200);
      assert.deepEqual(response.json(), { status: 'ok' });
    });

    it('is ready and healthy with a check per dependency', async () => {
      const { status, body } = await readiness(t);
      assert.equal(status, 200);
      assert.equal(body.status, 'healthy');
      assert.deepEqual(body.roles, ['api', 'auth', 'worker'], 'one instance runs every role by default');
      assert.equal(body.checks.database?.status, 'up');
      assert.equal(body.checks.cache?.status, 'up');
      assert.equal(typeof body.checks.database?.latencyMs, 'number');
    });
  });
}

describe('health with a failing cache', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer(DATABASE_KINDS[0]!, { config: { 'redis.url': 'redis://127.0.0.1:1' } });
  });
  after(() => t.close());

  it('is degraded but still ready when Redis is unreachable, naming no host', async () => {
    const { status, body } = await readiness(t);
    assert.equal(status, 200);
    assert.equal(body.status, 'degraded');
    assert.equal(body.checks.database?.status, 'up');
    assert.equal(body.checks.cache?.status, 'down');
    assert.equal(body.checks.cache?.error, 'unreachable');
  });
});

describe('health with a hanging dependency', () => {
  let t: TestServer;
  let blackhole: TcpServer;
  const sockets: Socket[] = [];
  before(async () => {
    // Accepts connections and never answers: the worst kind of outage for a probe.
    blackhole = createTcpServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const port = (blackhole.address() as { port: number }).port;
    t = await startTestServer(DATABASE_KINDS[0]!, { config: { 'redis.url': `redis://127.0.0.1:${port}`, 'health.checkTimeoutMs': 300 } });
  });
  after(async () => {
    await t.close();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => blackhole.close(resolve));
  });

  it('still answers, reporting the check that did not answer in time', async () => {
    const { status, body } = await readiness(t);
    assert.equal(status, 200);
    assert.equal(body.status, 'degraded');
    assert.equal(body.checks.cache?.status, 'down');
    assert.equal(body.checks.cache?.error, 'no answer within 300 ms');
  });
});

if (TEST_REDIS_URL) {
  describe('health with Redis', () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer(DATABASE_KINDS[0]!, { config: { 'redis.url': TEST_REDIS_URL, 'redis.keyPrefix': `pcf-test:${process.pid}:` } });
    });
    after(() => t.close());

    it('checks the shared cache', async () => {
      assert.equal(t.server.cache.kind, 'redis');
      const { status, body } = await readiness(t);
      assert.equal(status, 200);
      assert.equal(body.status, 'healthy');
      assert.equal(body.checks.cache?.status, 'up');
    });
  });
}
