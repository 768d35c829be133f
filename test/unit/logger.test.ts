import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, moduleLogger, requestLogger } from '../../src/infra/telemetry/logger.js';
import { captureLogs } from '../support/logs.js';

describe('logger', () => {
  it('censors secrets wherever the server logs them', () => {
    const logs = captureLogs();
    const log = moduleLogger(createLogger({ level: 'info', destination: logs.stream }), 'test');
    const secrets = ['hunter2-password', 'pcf_bearer_secret', 'session-cookie-secret', 'new-password-1', 'stored-hash', 'db-password'];
    log.info({ req: { headers: { authorization: `Bearer ${secrets[1]}`, cookie: `s=${secrets[2]}`, host: 'example.com' } } }, 'request');
    log.info({ password: secrets[0], token: secrets[1] }, 'top level');
    log.info({ body: { password: secrets[0], newPassword: secrets[3] }, user: { passwordHash: secrets[4] } }, 'nested');
    log.info({ config: { database: { url: `postgres://pcf:${secrets[5]}@db/pcf` } } }, 'config');
    const text = logs.text();
    for (const secret of secrets) assert.ok(!text.includes(secret), `the log must not contain ${secret}`);
    assert.match(text, /example\.com/, 'what is not secret stays');
    assert.match(text, /\[redacted\]/);
  });

  it('writes one JSON object per line with timestamp, level word, module and message', () => {
    const logs = captureLogs();
    moduleLogger(createLogger({ level: 'info', destination: logs.stream }), 'cache').warn('Redis unreachable');
    const [line] = logs.records();
    assert.equal(line!.level, 'warn');
    assert.equal(line!.module, 'cache');
    assert.equal(line!.msg, 'Redis unreachable');
    assert.ok(!Number.isNaN(Date.parse(String(line!.timestamp))));
    assert.equal(logs.text().match(/"module"/g)!.length, 1, 'module appears once');
  });

  it("puts a request's ids on its lines and its children's, and censors them like any line", () => {
    const logs = captureLogs();
    const http = moduleLogger(createLogger({ level: 'info', destination: logs.stream }), 'http');
    const request = requestLogger(http, { requestId: 'req-1', traceId: 'a'.repeat(32) });
    request.info({ password: 'hunter2-password' }, 'signed in');
    request.child({ module: 'resources' }).warn('slow');
    http.info('no request');
    const [own, child, other] = logs.records();
    assert.equal(own!.requestId, 'req-1');
    assert.equal(own!.traceId, 'a'.repeat(32));
    assert.equal(own!.module, 'http');
    assert.equal(child!.requestId, 'req-1', "a child of the request's logger keeps its ids");
    assert.equal(child!.traceId, 'a'.repeat(32));
    assert.equal(other!.requestId, undefined, 'other loggers are not touched');
    assert.ok(!logs.text().includes('hunter2-password'));
  });
});
