import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { freePort } from '../support/net.js';
import { Nginx, nginxBinary } from '../support/nginx.js';

/*
 * deploy/nginx/pcf.conf.template against upstreams of the test's own that play the failures
 * the policy is about, and count what reaches them: an instance that reads a request and dies
 * before answering (a crash mid-request), an instance that refuses connections (stopped), and
 * a healthy one that echoes what it was sent. The rule under test: nginx sends a request to a
 * second instance after the first saw it only when the method is idempotent or the request
 * carries an Idempotency-Key; a POST, PATCH or DELETE without one is sent once.
 */

const NGINX = nginxBinary();
const BODY_LIMIT = 4096;

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

/** An HTTP server on a loopback port that records each request it receives in full. */
async function upstream(name: string, answer: 'die' | 'echo'): Promise<{ server: Server; address: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      seen.push({ method: request.method!, url: request.url!, headers: request.headers });
      if (answer === 'die') {
        request.socket.destroy();
        return;
      }
      response.setHeader('content-type', 'application/json');
      response.end(
        JSON.stringify({ upstream: name, method: request.method, url: request.url, headers: request.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

async function send(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; json: Record<string, unknown> | undefined }> {
  const response = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: response.status, json };
}

describe('nginx retry policy (deploy/nginx)', { timeout: 60_000 }, () => {
  const servers: Server[] = [];
  const proxies: Nginx[] = [];
  let dyingA: Awaited<ReturnType<typeof upstream>>;
  let dyingB: Awaited<ReturnType<typeof upstream>>;
  let healthy: Awaited<ReturnType<typeof upstream>>;
  let refused: string;
  /** Both api and auth upstreams are instances that die mid-request; no passive health, so every attempt reaches one. */
  let dying: Nginx;
  /** api and auth upstreams: a stopped instance first, a healthy one second, with the deployment's passive health. */
  let mixed: Nginx;

  const received = () => dyingA.seen.length + dyingB.seen.length;
  const reset = () => {
    dyingA.seen.length = 0;
    dyingB.seen.length = 0;
    healthy.seen.length = 0;
  };

  before(async () => {
    assert.ok(NGINX, 'nginx is not installed (Debian: apt-get install nginx-light); .ci/run installs it');
    dyingA = await upstream('dying-a', 'die');
    dyingB = await upstream('dying-b', 'die');
    healthy = await upstream('healthy', 'echo');
    servers.push(dyingA.server, dyingB.server, healthy.server);
    refused = `127.0.0.1:${await freePort()}`;
    dying = new Nginx(NGINX, {
      port: await freePort(),
      upstreams: { api: [dyingA.address, dyingB.address], auth: [dyingA.address, dyingB.address] },
      bodyLimitBytes: BODY_LIMIT,
      serverParameters: 'max_fails=0',
    });
    mixed = new Nginx(NGINX, {
      port: await freePort(),
      upstreams: { api: [refused, healthy.address], auth: [refused, healthy.address] },
      bodyLimitBytes: BODY_LIMIT,
    });
    proxies.push(dying, mixed);
    await dying.start();
    await mixed.start();
  });
  after(async () => {
    for (const proxy of proxies) await proxy.stop();
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  const json = { 'content-type': 'application/json' };
  const cases: { name: string; method: string; path: string; headers?: Record<string, string>; attempts: number }[] = [
    { name: 'a POST without an Idempotency-Key', method: 'POST', path: '/api/v1/resources', attempts: 1 },
    { name: 'a PATCH without an Idempotency-Key', method: 'PATCH', path: '/api/v1/resources/r1', attempts: 1 },
    { name: 'a DELETE without an Idempotency-Key', method: 'DELETE', path: '/api/v1/resources/r1', attempts: 1 },
    { name: 'a GraphQL POST (a mutation, maybe)', method: 'POST', path: '/graphql', attempts: 1 },
    { name: 'a login (POST to the auth upstream)', method: 'POST', path: '/api/v1/auth/login', attempts: 1 },
    { name: 'a POST with an Idempotency-Key', method: 'POST', path: '/api/v1/resources', headers: { 'idempotency-key': 'k-post' }, attempts: 2 },
    {
      name: 'a restore with an Idempotency-Key',
      method: 'POST',
      path: '/api/v1/resources/r1/versions/2/restore',
      headers: { 'idempotency-key': 'k-restore' },
      attempts: 2,
    },
    // Routes that ignore the key: a second attempt would be applied twice.
    { name: 'a PATCH with an Idempotency-Key', method: 'PATCH', path: '/api/v1/resources/r1', headers: { 'idempotency-key': 'k-patch' }, attempts: 1 },
    { name: 'a DELETE with an Idempotency-Key', method: 'DELETE', path: '/api/v1/resources/r1', headers: { 'idempotency-key': 'k-delete' }, attempts: 1 },
    { name: 'a share with an Idempotency-Key', method: 'POST', path: '/api/v1/resources/r1/shares', headers: { 'idempotency-key': 'k-share' }, attempts: 1 },
    {
      name: 'a password change with an Idempotency-Key',
      method: 'POST',
      path: '/api/v1/auth/password',
      headers: { 'idempotency-key': 'k-password' },
      attempts: 1,
    },
    { name: 'a GET', method: 'GET', path: '/api/v1/resources?limit=5', attempts: 2 },
    { name: 'a GET on the auth upstream', method: 'GET', path: '/api/v1/auth/me', attempts: 2 },
  ];
  for (const c of cases) {
    it(`sends ${c.name} to ${c.attempts === 1 ? 'one instance only' : 'a second instance'} when the first dies with it`, async () => {
      reset();
      const body = c.method === 'GET' || c.method === 'DELETE' ? undefined : '{"n":1}';
      const reply = await send(dying.base, c.method, c.path, { ...json, ...c.headers }, body);
      assert.equal(reply.status, 502, 'every instance died with it');
      assert.equal(received(), c.attempts, `${c.method} ${c.path} reached the upstreams ${received()} times`);
      for (const seen of [...dyingA.seen, ...dyingB.seen]) assert.equal(seen.url, c.path, 'the URI is passed unchanged');
    });
  }

  it('sends a POST without a key to the next instance when the first refuses the connection (it never saw it)', async () => {
    for (let i = 0; i < 4; i++) {
      reset();
      const reply = await send(mixed.base, 'POST', '/api/v1/auth/login', json, '{"email":"a@example.com"}');
      assert.equal(reply.status, 200, JSON.stringify(reply.json));
      assert.equal(healthy.seen.length, 1);
      assert.equal(reply.json!.body, '{"email":"a@example.com"}');
    }
  });

  it('passes the client address, the request id and trace headers, and the URI as sent', async () => {
    reset();
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const reply = await send(mixed.base, 'GET', '/api/v1/resources/a%2Fb?x=1&y=%20', {
      'x-request-id': 'client-id-1',
      traceparent,
      'x-forwarded-for': '203.0.113.9',
    });
    assert.equal(reply.status, 200);
    const headers = reply.json!.headers as Record<string, string>;
    assert.equal(reply.json!.url, '/api/v1/resources/a%2Fb?x=1&y=%20');
    assert.equal(headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1', 'nginx appends the address it saw');
    assert.equal(headers['x-request-id'], 'client-id-1');
    assert.equal(headers.traceparent, traceparent);

    const fresh = await send(mixed.base, 'GET', '/api/v1/resources');
    assert.match((fresh.json!.headers as Record<string, string>)['x-request-id']!, /^[0-9a-f]{32}$/, 'nginx makes a request id when the client sent none');
    assert.match(mixed.accessLog(), /id=client-id-1/, 'the access log names the request id the instance logs');
  });

  it('answers 413 itself for a body past http.bodyLimitBytes, and forwards one at the limit', async () => {
    reset();
    const tooLarge = await send(mixed.base, 'POST', '/api/v1/resources', { ...json, 'idempotency-key': 'big' }, 'x'.repeat(BODY_LIMIT + 1));
    assert.equal(tooLarge.status, 413);
    assert.equal(healthy.seen.length, 0);
    const atLimit = await send(mixed.base, 'POST', '/api/v1/resources', { ...json, 'idempotency-key': 'limit' }, 'x'.repeat(BODY_LIMIT));
    assert.equal(atLimit.status, 200);
  });

  it('upgrades WebSockets on /graphql and relays frames both ways', async () => {
    const wss = new WebSocketServer({ noServer: true });
    healthy.server.on('upgrade', (request, socket, head) => {
      wss.handleUpgrade(request, socket, head, (ws) => ws.on('message', (data) => ws.send(`echo ${data.toString()}`)));
    });
    const socket = new WebSocket(`${mixed.base.replace('http', 'ws')}/graphql`, 'graphql-transport-ws');
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    assert.equal(socket.protocol, 'graphql-transport-ws');
    const answer = new Promise<string>((resolve) => socket.once('message', (data) => resolve(data.toString())));
    socket.send('hello');
    assert.equal(await answer, 'echo hello');
    socket.close();
    wss.close();
  });
});
