import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { DATABASE_KINDS, TEST_DATABASE_URL, urlFor } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { freePort, listening } from '../support/net.js';

/*
 * The `pcf` command line, run the way an operator runs it: as a process of its own, judged by
 * its exit code, stdout and stderr.
 */

const ROOT = new URL('../../', import.meta.url).pathname;
/** Every migration, in the order they apply: `down` reverts the last, so the test follows whatever that is. */
const MIGRATIONS = readdirSync(join(ROOT, 'migrations'))
  .filter((f) => f.endsWith('.sql'))
  .sort()
  .map((f) => f.slice(0, -'.sql'.length));
const LATEST = MIGRATIONS[MIGRATIONS.length - 1]!;
const BEFORE_LATEST = MIGRATIONS[MIGRATIONS.length - 2]!;
const CLI = 'src/cli/main.ts';
const EXIT_CONFIG = 78;

interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const running = new Set<ChildProcess>();
after(() => {
  for (const child of running) child.kill('SIGKILL');
});

/** The environment of a child: this one's, without any PCF_ setting, plus `env`. */
function childEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PCF_') && !name.startsWith('NODE_TEST')));
  return { ...clean, ...env };
}

/** Runs `pcf <args>` to its end (killed after `timeoutMs`). */
function pcf(args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, env: childEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pcf ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const tmp = mkdtempSync(join(tmpdir(), 'pcf-cli-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('pcf --help', () => {
  const purposes: Record<string, RegExp[]> = {
    serve: [/start/i, /server/i],
    migrate: [/migration/i, /\bup\b/, /\bdown\b/, /\bstatus\b/],
    healthcheck: [/ready|health/i, /\b0\b/, /\b1\b/, /\b2\b/],
    config: [/configuration/i, /redacted/i],
  };
  // Each run is a process of its own that mostly waits on start-up: run them side by side.
  const runs = new Map<string, Promise<CliResult>>();
  before(() => {
    runs.set('', pcf(['--help']));
    for (const command of Object.keys(purposes)) runs.set(command, pcf([command, '--help']));
    // Every test awaits its own run; a failure is reported there, not here.
    for (const run of runs.values()) run.catch(() => undefined);
  });

  it('lists the commands', async () => {
    const result = await runs.get('')!;
    assert.equal(result.code, 0, result.stderr);
    for (const command of Object.keys(purposes)) assert.match(result.stdout, new RegExp(`\\b${command}\\b`));
  });

  for (const [command, patterns] of Object.entries(purposes)) {
    it(`explains \`pcf ${command}\``, async () => {
      const result = await runs.get(command)!;
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, new RegExp(`Usage: pcf ${command}`));
      for (const pattern of patterns) assert.match(result.stdout, pattern);
      assert.match(result.stdout, /--config/, 'every command takes a config file');
    });
  }
});

describe('pcf config', () => {
  it('prints the effective configuration from file, environment and flags, secrets redacted', async () => {
    const file = join(tmp, 'effective.yaml');
    writeFileSync(file, 'port: 1000\nlogLevel: warn\ngraphql:\n  maxDepth: 7\n');
    const result = await pcf(['config', '--config', file, '--port', '3000', '--database-url', 'postgres://pcf:s3cret-pw@db.example.internal:5432/pcf'], {
      env: { PCF_HOST: '127.0.0.9', PCF_LOG_LEVEL: 'error', PCF_REDIS_URL: 'redis://:r3dis-pw@cache.example.internal:6379' },
    });
    assert.equal(result.code, 0, result.stderr);
    const printed = JSON.parse(result.stdout) as {
      port: number;
      host: string;
      logLevel: string;
      profile: string;
      graphql: { maxDepth: number; introspection: boolean };
      database: { url: string };
      redis: { url: string };
    };
    assert.equal(printed.port, 3000);
    assert.equal(printed.host, '127.0.0.9');
    assert.equal(printed.logLevel, 'error');
    assert.equal(printed.graphql.maxDepth, 7);
    assert.equal(printed.profile, 'development');
    assert.equal(printed.graphql.introspection, true);
    for (const stream of [result.stdout, result.stderr]) {
      assert.ok(!stream.includes('s3cret-pw'), 'the database password is never printed');
      assert.ok(!stream.includes('r3dis-pw'), 'the redis password is never printed');
    }
    assert.match(printed.database.url, /db\.example\.internal/, 'the host is still shown');
    assert.match(printed.redis.url, /cache\.example\.internal/);
  });

  it('reads the config file named by PCF_CONFIG and warns about unknown PCF_ variables on stderr', async () => {
    const file = join(tmp, 'from-env.json');
    writeFileSync(file, JSON.stringify({ port: 4321 }));
    const result = await pcf(['config'], { env: { PCF_CONFIG: file, PCF_PROT: '80' } });
    assert.equal(result.code, 0, result.stderr);
    assert.equal((JSON.parse(result.stdout) as { port: number }).port, 4321);
    assert.match(result.stderr, /warning/i);
    assert.match(result.stderr, /PCF_PROT/);
  });

  it('production turns introspection and GraphiQL off unless set explicitly', async () => {
    const result = await pcf(['config', '--graphql-introspection', 'true'], { env: { PCF_PROFILE: 'production' } });
    assert.equal(result.code, 0, result.stderr);
    const printed = JSON.parse(result.stdout) as { profile: string; graphql: { introspection: boolean; graphiql: boolean } };
    assert.equal(printed.profile, 'production');
    assert.equal(printed.graphql.introspection, true, 'the explicit flag wins');
    assert.equal(printed.graphql.graphiql, false, 'the production default');
  });

  it(`exits ${EXIT_CONFIG} listing every problem of a malformed configuration`, async () => {
    const file = join(tmp, 'malformed.yaml');
    writeFileSync(file, 'port: eighty\nbogus: 1\ngraphql:\n  maxDepht: 3\n');
    const result = await pcf(['config', '--config', file, '--log-level', 'loud', '--database-url', 'mysql://pcf:s3cret-pw@db.example.internal/pcf'], {
      env: { PCF_CACHE_MAX_ENTRIES: 'many' },
    });
    assert.equal(result.code, EXIT_CONFIG, result.stderr);
    assert.equal(result.stdout, '', 'no configuration is printed');
    for (const key of ['port', 'bogus', 'graphql.maxDepht', 'logLevel', 'database.url', 'cache.maxEntries']) {
      assert.ok(result.stderr.includes(key), `stderr names ${key}:\n${result.stderr}`);
    }
    assert.match(result.stderr, /6 problems/);
    assert.ok(!result.stderr.includes('s3cret-pw'), 'the error does not echo the password');
  });
});

describe('pcf serve with an invalid configuration', () => {
  it(`exits ${EXIT_CONFIG}, lists every problem and opens no port`, async () => {
    const port = await freePort();
    const file = join(tmp, 'serve-bad.json');
    writeFileSync(file, JSON.stringify({ graphql: { maxDepth: 0 }, unknownSetting: true }));
    const result = await pcf(
      ['serve', '--config', file, '--host', '127.0.0.1', '--port', String(port), '--log-level', 'loud', '--shutdown-drain-timeout-ms', 'soon'],
      {
        env: { PCF_DATABASE_URL: 'mysql://db.example.internal/pcf' },
      },
    );
    assert.equal(result.code, EXIT_CONFIG, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
    for (const key of ['graphql.maxDepth', 'unknownSetting', 'logLevel', 'shutdown.drainTimeoutMs', 'database.url']) {
      assert.ok(result.stderr.includes(key), `stderr names ${key}:\n${result.stderr}`);
    }
    assert.match(result.stderr, /5 problems/);
    assert.doesNotMatch(result.stdout, /listening/, 'the server never started');
    assert.equal(await listening(port), false, `nothing listens on ${port}`);
  });
});

describe('pcf migrate', () => {
  it('refuses an unknown action with a helpful message', async () => {
    const result = await pcf(['migrate', 'sideways']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /sideways/);
    assert.match(result.stderr, /up, down or status/);
  });

  for (const kind of DATABASE_KINDS) {
    describe(`on ${kind}`, () => {
      let args: string[];
      let cleanUp: () => Promise<void>;

      before(async () => {
        if (kind === 'postgres') {
          const admin = TEST_DATABASE_URL!;
          const name = `pcf_cli_${randomBytes(6).toString('hex')}`;
          const run = async (statement: string) => {
            const client = new pg.Client({ connectionString: admin });
            await client.connect();
            try {
              await client.query(statement);
            } finally {
              await client.end();
            }
          };
          await run(`CREATE DATABASE ${name}`);
          args = ['--database-url', urlFor(admin, name)];
          cleanUp = () => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        } else {
          args = ['--data-dir', join(tmp, 'pglite-data')];
          cleanUp = async () => undefined;
        }
      });
      after(() => cleanUp());

      if (kind === 'postgres') {
        it('lists, applies, re-applies, reverts', { timeout: 120_000 }, async () => {
          const pending = await pcf(['migrate', 'status', ...args]);
          assert.equal(pending.code, 0, pending.stderr);
          assert.match(pending.stdout, /^pending {2}0001_initial_schema$/m);

          const up = await pcf(['migrate', 'up', ...args]);
          assert.equal(up.code, 0, up.stderr);
          assert.match(up.stdout, /^applied {2}0001_initial_schema$/m);
          assert.match(up.stdout, /^applied {2}0002_identity$/m);
          for (const name of MIGRATIONS) assert.match(up.stdout, new RegExp(`^applied {2}${name}$`, 'm'));

          const again = await pcf(['migrate', 'up', ...args]);
          assert.equal(again.code, 0, again.stderr);
          assert.match(again.stdout, /nothing to apply/i);
          assert.doesNotMatch(again.stdout, /0001_initial_schema/);

          const applied = await pcf(['migrate', 'status', ...args]);
          assert.equal(applied.code, 0, applied.stderr);
          const line = /^applied {2}0001_initial_schema {2}(\S+)$/m.exec(applied.stdout);
          assert.ok(line, applied.stdout);
          assert.equal(new Date(line[1]!).toISOString(), line[1], 'the date is ISO 8601');

          const guarded = await pcf(['migrate', 'down', '--profile', 'production', ...args]);
          assert.equal(guarded.code, 1, 'production needs --yes to revert');
          assert.match(guarded.stderr, /--yes/);
          assert.match((await pcf(['migrate', 'status', ...args])).stdout, /^applied {2}0001_initial_schema/m, 'nothing was reverted');

          // down reverts only the latest migration.
          const down = await pcf(['migrate', 'down', ...args]);
          assert.equal(down.code, 0, down.stderr);
          assert.match(down.stdout, new RegExp(`^reverted {2}${LATEST}$`, 'm'));
          assert.doesNotMatch(down.stdout, new RegExp(BEFORE_LATEST));

          const reverted = await pcf(['migrate', 'status', ...args]);
          assert.equal(reverted.code, 0, reverted.stderr);
          assert.match(reverted.stdout, new RegExp(`^applied {2}${BEFORE_LATEST}`, 'm'));
          assert.match(reverted.stdout, new RegExp(`^pending {2}${LATEST}$`, 'm'));
        });
      } else {
        // A fresh PGlite data directory costs several seconds and much memory: one sequence.
        it('applies to a fresh data directory, then lists it as applied', { timeout: 180_000 }, async () => {
          const up = await pcf(['migrate', 'up', ...args], { timeoutMs: 120_000 });
          assert.equal(up.code, 0, up.stderr);
          assert.match(up.stdout, /^applied {2}0001_initial_schema$/m);

          const status = await pcf(['migrate', 'status', ...args], { timeoutMs: 60_000 });
          assert.equal(status.code, 0, status.stderr);
          const line = /^applied {2}0001_initial_schema {2}(\S+)$/m.exec(status.stdout);
          assert.ok(line, status.stdout);
          assert.equal(new Date(line[1]!).toISOString(), line[1]);
        });
      }
    });
  }
});

describe('pcf healthcheck', () => {
  it('exits 2 when nothing answers', async () => {
    const result = await pcf(['healthcheck', '--url', 'http://127.0.0.1:1', '--timeout', '1000']);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /cannot connect/i);
  });

  for (const kind of DATABASE_KINDS) {
    describe(`against a healthy server (${kind})`, () => {
      let t: TestServer;
      before(async () => {
        t = await startTestServer(kind);
      });
      after(() => t.close());

      it('exits 0 and says healthy', async () => {
        const result = await pcf(['healthcheck', '--url', t.url, '--timeout', '5000']);
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /^healthy\b/);
        assert.match(result.stdout, /database=up/);
      });

      it('finds the server from the configured host and port when no --url is given', async () => {
        const { port } = new URL(t.url);
        const result = await pcf(['healthcheck', '--host', '127.0.0.1'], { env: { PCF_PORT: port } });
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stdout, /^healthy\b/);
      });
    });
  }

  describe('against a degraded server (cache unreachable)', () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer('pglite', { config: { 'redis.url': 'redis://127.0.0.1:1' } });
    });
    after(() => t.close());

    it('exits 0 and says degraded', async () => {
      const result = await pcf(['healthcheck', '--url', t.url]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^degraded\b/);
      assert.match(result.stdout, /cache=down/);
    });
  });

  describe('against a server whose database is unreachable', () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer('postgres', {
        noWait: true,
        database: {
          kind: 'postgres',
          options: { kind: 'postgres', url: 'postgres://postgres@127.0.0.1:1/none', poolMax: 1, connectTimeoutMs: 500, statementTimeoutMs: 0 },
          drop: async () => undefined,
        },
        config: { 'database.retryInitialMs': 100 },
      });
    });
    after(() => t.close());

    it('exits 1 and says the server is starting', async () => {
      const result = await pcf(['healthcheck', '--url', t.url]);
      assert.equal(result.code, 1, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
      assert.match(result.stdout, /^starting\b/);
      assert.match(result.stdout, /database=down/);
    });
  });
});
