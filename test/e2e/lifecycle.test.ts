import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { migrateDown, migrateUp } from '../../src/infra/database/index.js';
import { createTestDatabase, DATABASE_KINDS, TEST_DATABASE_URL, type TestDatabase } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { freePort, listening } from '../support/net.js';

/*
 * The life of an instance, seen from outside: start, wait for the database, serve, drain on
 * SIGTERM, exit; and a fatal start-up error logged before a non-zero exit.
 */

const ROOT = new URL('../../', import.meta.url).pathname;

const tmp = mkdtempSync(join(tmpdir(), 'pcf-lifecycle-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const running = new Set<ChildProcess>();
after(() => {
  for (const child of running) child.kill('SIGKILL');
});

/** Polls `check` until it returns true; fails after `timeoutMs`. */
async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(intervalMs);
  }
}

async function status(url: string): Promise<{ status: number; body: Record<string, unknown>; contentType: string | null }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, contentType: response.headers.get('content-type') };
}

interface ServerProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `node src/main.ts` (what `npm start` runs) as a process of its own, configured by PCF_* only. */
function spawnServer(env: Record<string, string>): ServerProcess {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PCF_') && !name.startsWith('NODE_TEST')));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('close', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Resolves with how the process ended, or fails when it is still running after `timeoutMs`. */
async function exitWithin(server: ServerProcess, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const result = await Promise.race([server.exited, sleep(timeoutMs).then(() => undefined)]);
  if (!result) {
    server.child.kill('SIGKILL');
    assert.fail(`the process did not exit within ${timeoutMs} ms\nstdout: ${server.stdout()}\nstderr: ${server.stderr()}`);
  }
  return result;
}

/** Every stdout line is one JSON log record with the fields the contract names. */
function logRecords(stdout: string): Record<string, unknown>[] {
  const lines = stdout.split('\n').filter((line) => line.trim() !== '');
  assert.ok(lines.length > 0, 'the server logged something');
  return lines.map((line) => {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch {
      assert.fail(`a stdout line is not JSON: ${line}`);
    }
    assert.equal(typeof record.timestamp, 'string', `timestamp in ${line}`);
    assert.ok(!Number.isNaN(Date.parse(record.timestamp as string)), `timestamp is a date in ${line}`);
    assert.match(String(record.level), /^[a-z]+$/, `level is a word in ${line}`);
    assert.equal(typeof record.module, 'string', `module in ${line}`);
    assert.equal(typeof record.msg, 'string', `msg in ${line}`);
    return record;
  });
}

describe('a server process', () => {
  it('serves once ready and, on SIGTERM, drains and exits 0 logging JSON lines', { timeout: 120_000 }, async (t) => {
    const port = await freePort();
    const env: Record<string, string> = { PCF_HOST: '127.0.0.1', PCF_PORT: String(port), PCF_LOG_LEVEL: 'info' };
    let database: TestDatabase | undefined;
    if (TEST_DATABASE_URL) {
      database = await createTestDatabase('postgres');
      t.after(() => database!.drop());
      if (database.options.kind !== 'postgres') throw new Error('expected a PostgreSQL database');
      env.PCF_DATABASE_URL = database.options.url;
    } else {
      // A fresh PGlite data directory: initialising it takes several seconds.
      env.PCF_DATA_DIR = join(tmp, 'sigterm-data');
    }
    const server = spawnServer(env);
    const base = `http://127.0.0.1:${port}`;

    await waitFor(
      'GET /health/ready to answer 200',
      async () => {
        if (server.child.exitCode !== null) assert.fail(`the server exited early\nstdout: ${server.stdout()}\nstderr: ${server.stderr()}`);
        return (await status(`${base}/health/ready`).catch(() => ({ status: 0 }))).status === 200;
      },
      90_000,
      250,
    );
    const api = await status(`${base}/api/v1/`);
    assert.equal(api.status, 200);

    server.child.kill('SIGTERM');
    const { code, signal } = await exitWithin(server, 15_000);
    assert.equal(signal, null, 'the process ended by itself, not by the signal');
    assert.equal(code, 0, `exit code\nstdout: ${server.stdout()}\nstderr: ${server.stderr()}`);

    const records = logRecords(server.stdout());
    const messages = records.map((r) => r.msg);
    assert.ok(messages.includes('listening'), 'logged listening');
    assert.ok(messages.includes('stopped'), `logged stopped: ${JSON.stringify(messages)}`);
    assert.ok(
      records.some((r) => r.msg === 'request completed' && r.path === '/api/v1/'),
      'the access line of a request is a JSON record like every other',
    );
    assert.ok(!records.some((r) => r.level === 'fatal' || r.level === 'error'), 'no error was logged');
    assert.equal(await listening(port), false, 'nothing listens after exit');
  });

  it('logs a fatal error and exits non-zero when it cannot start', { timeout: 60_000 }, async () => {
    const port = await freePort();
    // A regular file where the data directory should be: PGlite cannot open it.
    const file = join(tmp, 'not-a-directory');
    writeFileSync(file, 'not a data directory\n');
    const server = spawnServer({ PCF_HOST: '127.0.0.1', PCF_PORT: String(port), PCF_DATA_DIR: file });

    const { code } = await exitWithin(server, 30_000);
    assert.notEqual(code, 0, `exit code\nstdout: ${server.stdout()}\nstderr: ${server.stderr()}`);
    assert.notEqual(code, null);
    const records = logRecords(server.stdout());
    const fatal = records.find((r) => r.level === 'fatal');
    assert.ok(fatal, `a fatal line in:\n${server.stdout()}`);
    assert.equal(await listening(port), false, 'nothing listens after exit');
  });
});

/** A TCP relay to PostgreSQL, standing in for a database that comes up later. */
function startProxy(port: number, target: { host: string; port: number }): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: NetServer = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () =>
      resolve({
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      }),
    );
  });
}

/** The 'database unreachable; retrying' attempts logged so far. */
function retryAttempts(t: TestServer): number[] {
  return t.logs
    .records()
    .filter((r) => r.msg === 'database unreachable; retrying')
    .map((r) => r.attempt as number);
}

async function assertStarting(t: TestServer): Promise<void> {
  const ready = await status(`${t.url}/health/ready`);
  assert.equal(ready.status, 503);
  assert.equal(ready.body.status, 'starting');
  const api = await status(`${t.url}/api/v1/`);
  assert.equal(api.status, 503);
  assert.match(api.contentType ?? '', /^application\/problem\+json/);
  assert.equal(api.body.code, 'SERVICE_UNAVAILABLE');
}

describe('a database that is not there at start', () => {
  const retryConfig = { 'database.retryInitialMs': 100, 'database.retryMaxMs': 400 };

  it('keeps the server starting (503) and retries with a growing attempt count', { timeout: 60_000 }, async (t) => {
    const port = await freePort();
    const server = await startTestServer('postgres', {
      noWait: true,
      config: retryConfig,
      database: {
        kind: 'postgres',
        options: { kind: 'postgres', url: `postgres://postgres@127.0.0.1:${port}/none`, poolMax: 1, connectTimeoutMs: 500, statementTimeoutMs: 0 },
        drop: async () => undefined,
      },
    });
    t.after(() => server.close());

    await waitFor('three retries logged', () => retryAttempts(server).length >= 3, 20_000);
    await assertStarting(server);
    const attempts = retryAttempts(server);
    assert.deepEqual(attempts.slice(0, 3), [1, 2, 3]);
    for (let i = 1; i < attempts.length; i++) assert.ok(attempts[i]! > attempts[i - 1]!, `attempts increase: ${attempts.join(', ')}`);
    const delays = server.logs
      .records()
      .filter((r) => r.msg === 'database unreachable; retrying')
      .map((r) => r.delayMs as number);
    assert.ok(
      delays.every((d) => d >= 50 && d <= 400),
      `every wait within the configured bounds: ${delays.join(', ')}`,
    );
    assert.equal(server.server.phase(), 'starting');
  });

  if (TEST_DATABASE_URL) {
    it('becomes ready without a restart once the database comes', { timeout: 60_000 }, async (t) => {
      const port = await freePort();
      const database = await createTestDatabase('postgres');
      t.after(() => database.drop());
      if (database.options.kind !== 'postgres') throw new Error('expected a PostgreSQL database');
      const url = new URL(database.options.url);
      url.port = String(port);
      const server = await startTestServer('postgres', {
        noWait: true,
        config: retryConfig,
        database: { ...database, options: { ...database.options, url: url.toString(), connectTimeoutMs: 1000 }, drop: async () => undefined },
      });
      t.after(() => server.close());

      await waitFor('two retries logged', () => retryAttempts(server).length >= 2, 20_000);
      await assertStarting(server);

      const target = new URL(TEST_DATABASE_URL!);
      const proxy = await startProxy(port, { host: target.hostname, port: Number(target.port || 5432) });
      // Registered after the server's close, so it runs first (after hooks run in reverse).
      t.after(() => proxy.close());

      await waitFor(
        'GET /health/ready to answer 200 healthy',
        async () => {
          const ready = await status(`${server.url}/health/ready`);
          return ready.status === 200 && ready.body.status === 'healthy';
        },
        10_000,
      );
      const api = await status(`${server.url}/api/v1/`);
      assert.equal(api.status, 200);
      assert.ok(server.logs.records().some((r) => r.msg === 'database connected; serving'));
    });
  }
});

describe('migrations left to a Job (database.autoMigrate off)', () => {
  for (const kind of DATABASE_KINDS) {
    it(`stays starting (503) while a migration is pending, then serves once it is applied (${kind})`, { timeout: 60_000 }, async (t) => {
      const database = await createTestDatabase(kind);
      let undone: string[] = [];
      const server = await startTestServer(kind, {
        noWait: true,
        database,
        config: { 'database.autoMigrate': false, 'database.retryInitialMs': 100, 'database.retryMaxMs': 300 },
        // The newest migration undone before the server connects, through its own handle (an
        // in-memory PGlite has no other): what a rollout meets before its migrations Job ran.
        beforeStart: async (_app, created) => {
          undone = await migrateDown(created.database.db);
        },
      });
      t.after(() => server.close());
      assert.equal(undone.length, 1);
      await waitFor('the pending migration logged', () => server.logs.records().some((r) => r.msg?.toString().startsWith('migrations pending')), 20_000);
      await assertStarting(server);
      const pending = server.logs.records().find((r) => r.msg?.toString().startsWith('migrations pending'));
      assert.deepEqual(pending?.pending, undone);

      await migrateUp(server.server.database.db);
      await waitFor('GET /health/ready to answer 200', async () => (await status(`${server.url}/health/ready`)).status === 200, 10_000);
      assert.equal((await status(`${server.url}/api/v1/`)).status, 200);
    });
  }
});

for (const kind of DATABASE_KINDS) {
  describe(`drain on stop (${kind})`, () => {
    it('finishes an in-flight request, then refuses new connections', { timeout: 60_000 }, async (t) => {
      let arrived!: () => void;
      const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
      const server = await startTestServer(kind, {
        // Far above the request's 700 ms; short enough that a drain that has to be forced
        // does not hold the suite for the default 30 s.
        config: { 'shutdown.drainTimeoutMs': 5000 },
        beforeStart: (app) => {
          app.get('/slow', async () => {
            arrived();
            await sleep(700);
            return { ok: true };
          });
        },
      });
      t.after(() => server.close());
      const { port } = new URL(server.url);

      const inFlight = fetch(`${server.url}/slow`, { signal: AbortSignal.timeout(20_000) });
      await requestArrived;
      await sleep(100);
      const stopped = server.server.stop();

      const response = await inFlight;
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { ok: true });

      await stopped;
      assert.equal(await listening(Number(port)), false, 'a new connection is refused after stop');
      const messages = server.logs.records().map((r) => r.msg);
      assert.ok(messages.includes('stopped'));
      // The drain ends when the last in-flight request is done; it is not cut off by the
      // deadline because the finished request's keep-alive connection was left open.
      assert.ok(!messages.includes('drain timed out; closing remaining connections'), `the drain completed by itself: ${JSON.stringify(messages)}`);
    });
  });
}
