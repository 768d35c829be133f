import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { DATABASE_KINDS } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';

const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';

function assertProblem(response: { statusCode: number; headers: Record<string, unknown>; json(): unknown }, status: number, code: string) {
  assert.equal(response.statusCode, status);
  assert.equal(response.headers['content-type'], PROBLEM_TYPE);
  const body = response.json() as Record<string, unknown>;
  assert.equal(body.status, status);
  assert.equal(body.code, code);
  for (const field of ['type', 'title', 'detail', 'instance', 'traceId']) assert.equal(typeof body[field], 'string', `problem.${field}`);
  assert.match(body.traceId as string, /^[0-9a-f]{32}$/);
  assert.doesNotMatch(JSON.stringify(body), /\bat \S+:\d+:\d+|node_modules|stack/i, 'no stack trace');
  return body;
}

for (const kind of DATABASE_KINDS) {
  describe(`HTTP contract (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer(kind, {
        config: { 'http.bodyLimitBytes': 4096 },
        beforeStart: (app) => {
          // A route with a body schema, as every feature route will have.
          app.post(
            '/api/v1/echo',
            {
              schema: {
                body: Type.Object({ email: Type.String({ format: 'email' }), password: Type.String({ minLength: 8 }) }, { additionalProperties: false }),
              },
            },
            async (request) => ({ ok: true, keys: Object.keys(request.body as object) }),
          );
          app.get('/api/v1/items/:id', async (request) => ({ id: (request.params as { id: string }).id }));
          app.get('/api/v1/boom', async () => {
            throw new Error('secret internal detail: SELECT * FROM users');
          });
        },
      });
    });
    after(() => t.close());

    it('answers an unknown route with 404 problem+json', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/api/v1/nope?token=abc' });
      const body = assertProblem(response, 404, 'NOT_FOUND');
      assert.equal(body.instance, '/api/v1/nope', 'instance is the path without the query string');
    });

    it('answers a wrong method with 405 and Allow', async () => {
      const response = await t.app.inject({ method: 'DELETE', url: '/health' });
      assertProblem(response, 405, 'METHOD_NOT_ALLOWED');
      assert.equal(response.headers.allow, 'GET, HEAD');
      const onPrefix = await t.app.inject({ method: 'PUT', url: '/api/v1/' });
      assertProblem(onPrefix, 405, 'METHOD_NOT_ALLOWED');
    });

    it('answers what Fastify rejects before routing as problem+json too', async () => {
      const badUrl = await t.app.inject({ method: 'GET', url: '/api/v1/items/%c0' });
      assertProblem(badUrl, 400, 'INVALID_INPUT');
      assert.ok(badUrl.headers['x-request-id'], 'x-request-id is set');
      const longParam = await t.app.inject({ method: 'GET', url: `/api/v1/items/${'x'.repeat(300)}` });
      assertProblem(longParam, 400, 'INVALID_INPUT');
    });

    it('answers a request the HTTP parser rejects as problem+json', async () => {
      const { connect } = await import('node:net');
      const { port } = new URL(t.url);
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () => socket.write('GET /health HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n'));
        let data = '';
        socket.on('data', (chunk) => (data += chunk));
        socket.on('end', () => resolve(data));
        socket.on('error', reject);
      });
      assert.match(raw, /^HTTP\/1\.1 400 /);
      assert.match(raw, /content-type: application\/problem\+json/i);
      assert.match(raw, /"code":"INVALID_INPUT"/);
    });

    it('answers a non-JSON body with 415', async () => {
      const response = await t.app.inject({ method: 'POST', url: '/api/v1/echo', headers: { 'content-type': 'text/plain' }, payload: 'hello' });
      assertProblem(response, 415, 'UNSUPPORTED_MEDIA_TYPE');
    });

    it('answers a body over the limit with 413', async () => {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/echo',
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ email: 'a@b.co', password: 'x'.repeat(10_000) }),
      });
      assertProblem(response, 413, 'PAYLOAD_TOO_LARGE');
    });

    it('answers malformed JSON with 400 and does not echo the body', async () => {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/v1/echo',
        headers: { 'content-type': 'application/json' },
        payload: '{"email": "a@b.co", "password": "hunter2-malformed" ',
      });
      const body = assertProblem(response, 400, 'INVALID_INPUT');
      assert.doesNotMatch(JSON.stringify(body), /hunter2/);
    });

    it('answers invalid fields with 400 listing every field problem', async () => {
      const response = await t.app.inject({ method: 'POST', url: '/api/v1/echo', payload: { email: 'not-an-email', password: 'short', role: 'admin' } });
      const body = assertProblem(response, 400, 'INVALID_INPUT');
      const fields = (body.errors as { field: string }[]).map((e) => e.field).sort();
      assert.deepEqual(fields, ['email', 'password', 'role']);
    });

    it('answers an unexpected failure with 500 INTERNAL_ERROR, logging the detail server-side only', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/api/v1/boom' });
      const body = assertProblem(response, 500, 'INTERNAL_ERROR');
      assert.doesNotMatch(JSON.stringify(body), /SELECT|secret internal/);
      const logged = t.logs.records().find((r) => r.traceId === body.traceId && r.level === 'error');
      assert.ok(logged, 'the failure is logged with its trace id');
      assert.match(JSON.stringify(logged), /secret internal detail/);
    });

    it('stamps every response with x-request-id, keeping a sane client id', async () => {
      const generated = await t.app.inject({ method: 'GET', url: '/health' });
      assert.match(String(generated.headers['x-request-id']), /^[0-9a-f-]{36}$/);
      const kept = await t.app.inject({ method: 'GET', url: '/nope', headers: { 'x-request-id': 'client-req.42' } });
      assert.equal(kept.headers['x-request-id'], 'client-req.42');
      const replaced = await t.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'bad id\nforged' } });
      assert.notEqual(replaced.headers['x-request-id'], 'bad id\nforged');
    });

    it("continues the caller's W3C trace in errors and logs", async () => {
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const response = await t.app.inject({ method: 'GET', url: '/missing', headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
      assert.equal((response.json() as { traceId: string }).traceId, traceId);
      assert.match(String(response.headers.traceresponse), new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`), 'the trace is sent back');
      const line = t.logs.records().find((r) => r.traceId === traceId && r.msg === 'request completed');
      assert.ok(line, 'the access log line carries the trace id');
      for (const key of ['timestamp', 'level', 'module', 'msg']) assert.ok(key in line!, `log line has ${key}`);
      assert.equal(line!.level, 'info');
      assert.equal(line!.route, 'unmatched');

      const invalid = await t.app.inject({ method: 'GET', url: '/missing', headers: { traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` } });
      assert.notEqual((invalid.json() as { traceId: string }).traceId, '0'.repeat(32), 'an invalid traceparent starts a new trace');
    });

    it('never writes passwords, tokens or authorization headers to the log', async () => {
      const secrets = ['Sup3r-Secret-Password!', 'pcf_tokenvalue_abcdef', 'Bearer pcf_headertoken_123'];
      await t.app.inject({ method: 'POST', url: '/api/v1/echo', headers: { authorization: secrets[2]! }, payload: { email: 'a@b.co', password: secrets[0] } });
      await t.app.inject({
        method: 'POST',
        url: '/api/v1/echo',
        payload: `{"password":"${secrets[0]}", "token": "${secrets[1]}" oops`,
        headers: { 'content-type': 'application/json' },
      });
      await t.app.inject({ method: 'POST', url: '/api/v1/echo', payload: { email: 'bad', password: secrets[0], token: secrets[1] } });
      await t.app.inject({ method: 'GET', url: `/api/v1/nope?token=${secrets[1]}`, headers: { cookie: `session=${secrets[1]}` } });
      const text = t.logs.text();
      assert.ok(text.length > 0, 'something was logged');
      for (const secret of secrets) assert.ok(!text.includes(secret), `log must not contain ${secret}`);
    });

    it('serves OpenAPI 3.1 generated from the route schemas, and a reference page', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/openapi.json' });
      assert.equal(response.statusCode, 200);
      const doc = response.json() as { openapi: string; paths: Record<string, unknown>; components: { schemas: Record<string, unknown> } };
      assert.equal(doc.openapi, '3.1.0');
      assert.ok(doc.paths['/health/ready'], 'health is documented');
      assert.ok(doc.paths['/api/v1/'] ?? doc.paths['/api/v1'], 'the API index is documented');
      assert.ok(doc.components.schemas.Problem, 'the Problem schema is a component');
      const docs = await t.app.inject({ method: 'GET', url: '/docs/' });
      assert.equal(docs.statusCode, 200);
      assert.match(String(docs.headers['content-type']), /text\/html/);
    });

    it('exposes Prometheus metrics labelled by route template, never the raw path', async () => {
      await t.app.inject({ method: 'GET', url: '/api/v1/' });
      await t.app.inject({ method: 'GET', url: '/api/v1/does-not-exist-12345' });
      await t.app.inject({ method: 'POST', url: '/graphql', payload: { query: 'query Probe { __typename }' } });
      const response = await t.app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(response.statusCode, 200);
      assert.match(String(response.headers['content-type']), /^text\/plain/);
      const text = response.body;
      assert.match(text, /http_requests_total\{method="GET",route="\/api\/v1",status_class="2xx"\} \d+/);
      assert.match(text, /http_requests_total\{method="GET",route="unmatched",status_class="4xx"\} \d+/);
      assert.doesNotMatch(text, /does-not-exist-12345/);
      assert.match(text, /http_request_duration_seconds_bucket\{le="0.005",method="GET",route="\/api\/v1",status_class="2xx"\}/);
      assert.match(text, /graphql_operations_total\{type="query",name="Probe"\} 1/);
      assert.match(text, /db_pool_connections\{state="total"\} \d+/);
      assert.match(text, /process_cpu_seconds_total/);
    });

    it('caps GraphQL operation names in metrics', async () => {
      for (let i = 0; i < 105; i++) {
        await t.app.inject({ method: 'POST', url: '/graphql', payload: { query: `query Op${i} { __typename }` } });
      }
      const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
      const names = new Set([...text.matchAll(/graphql_operations_total\{type="query",name="([^"]+)"\}/g)].map((m) => m[1]));
      assert.ok(names.size <= 101, `at most 100 names plus "other", saw ${names.size}`);
      assert.ok(names.has('other'));
    });
  });
}
