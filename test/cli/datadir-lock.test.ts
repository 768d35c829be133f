import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { killCliChildren, runPcf, startPcf, type CliResult } from '../support/cli.js';
import { freePort, listening } from '../support/net.js';

/*
 * One process owns an embedded data directory (DESIGN §1, docs/limits.md "Embedded data
 * directory"): while `pcf serve` runs on it, `pcf users create`, `pcf migrate` and a second
 * `pcf serve` are refused with a clear message and exit code 75, instead of opening the same
 * files and losing writes. Real processes, judged by exit code and output.
 */

const EXIT_DATA_DIR_IN_USE = 75;
const IN_USE = /the data directory \S+ is in use by process (\d+)[^;]*; stop the server or use the API/;

after(killCliChildren);

const tmp = mkdtempSync(join(tmpdir(), 'pcf-datadir-lock-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const dataDir = join(tmp, 'data');
const lockFile = join(dataDir, 'pcf.lock');

/** The settings of every child: the test's data directory, quiet logs, loopback, plus `env`. */
const childEnv = (env: Record<string, string>) => ({ PCF_DATA_DIR: dataDir, PCF_LOG_LEVEL: 'warn', PCF_HOST: '127.0.0.1', ...env });
const start = (args: string[], env: Record<string, string> = {}) => startPcf(args, { env: childEnv(env) });
/** Runs `pcf <args>` to its end (killed after `timeoutMs`). */
const pcf = (args: string[], env: Record<string, string> = {}, timeoutMs = 120_000) => runPcf(args, { env: childEnv(env), timeoutMs });

function assertRefused(result: CliResult, holderPid: number): void {
  assert.equal(result.code, EXIT_DATA_DIR_IN_USE, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
  const match = IN_USE.exec(result.stderr);
  assert.ok(match, `the refusal names the holder and what to do:\n${result.stderr}`);
  assert.equal(Number(match[1]), holderPid);
  assert.doesNotMatch(result.stderr, /^\s+at .+[:(]\d+/m, 'no stack trace');
}

const createUser = (email: string, ...more: string[]) => pcf(['users', 'create', '--email', email, '--name', 'Ops', ...more]);

describe('the embedded data directory has one owner', { timeout: 600_000 }, () => {
  let server: { child: ChildProcess; result: Promise<CliResult> };
  let port: number;

  before(async () => {
    port = await freePort();
    server = start(['serve'], { PCF_PORT: String(port) });
    // A fresh data directory is initialised and migrated first: tens of seconds on a busy machine.
    const deadline = Date.now() + 240_000;
    for (;;) {
      const ready = await fetch(`http://127.0.0.1:${port}/health/ready`).then(
        (r) => r.status,
        () => 0,
      );
      if (ready === 200) break;
      if (server.child.exitCode !== null) throw new Error(`the server exited: ${JSON.stringify(await server.result)}`);
      if (Date.now() > deadline) throw new Error('the server did not become ready');
      await sleep(200);
    }
  });

  it('writes a lock file naming the server process, host and start time', () => {
    const holder = JSON.parse(readFileSync(lockFile, 'utf8')) as { pid: number; host: string; startedAt: string };
    assert.equal(holder.pid, server.child.pid);
    assert.equal(holder.host, hostname());
    assert.ok(!Number.isNaN(Date.parse(holder.startedAt)));
  });

  it('refuses `pcf users create` while the server runs: nothing is written behind its back', async () => {
    const result = await createUser('second@lock.example', '--admin');
    assertRefused(result, server.child.pid!);
    assert.doesNotMatch(result.stdout, /created|password:/);
  });

  it('refuses `pcf migrate` (even `status`) while the server runs', async () => {
    assertRefused(await pcf(['migrate', 'status']), server.child.pid!);
  });

  it('refuses a second `pcf serve` on the same directory, which never listens', async () => {
    const otherPort = await freePort();
    const result = await pcf(['serve'], { PCF_PORT: String(otherPort) });
    assertRefused(result, server.child.pid!);
    assert.equal(await listening(otherPort), false);
    // The first server still serves, its lock untouched.
    assert.equal((await fetch(`http://127.0.0.1:${port}/health/ready`)).status, 200);
    assert.equal((JSON.parse(readFileSync(lockFile, 'utf8')) as { pid: number }).pid, server.child.pid);
  });

  it('releases the lock when the server stops; the CLI then works on the directory', async () => {
    server.child.kill('SIGTERM');
    const stopped = await server.result;
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(existsSync(lockFile), false, 'the lock file is removed on a clean stop');

    const created = await createUser('first@lock.example', '--admin');
    assert.equal(created.code, 0, `stdout: ${created.stdout}\nstderr: ${created.stderr}`);
    assert.match(created.stdout, /^created admin first@lock\.example /m);
    assert.equal(existsSync(lockFile), false, 'the CLI releases its lock too');
  });

  it('refuses a lock held by a live process, and takes over one whose process is gone', async () => {
    // This test process is alive on this host: its lock holds.
    writeFileSync(lockFile, JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString() }));
    assertRefused(await createUser('held@lock.example'), process.pid);
    // Another host's lock, however old (a network share): that host's process cannot be seen from here.
    writeFileSync(lockFile, JSON.stringify({ pid: 4242, host: `not-${hostname()}`, startedAt: '2000-01-01T00:00:00.000Z' }));
    assertRefused(await createUser('elsewhere@lock.example'), 4242);

    // A process that ran and exited: its lock (as after SIGKILL or a crash) is stale.
    const gone = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => gone.on('close', resolve));
    writeFileSync(lockFile, JSON.stringify({ pid: gone.pid, host: hostname(), startedAt: new Date().toISOString() }));
    const created = await createUser('after-crash@lock.example');
    assert.equal(created.code, 0, `stdout: ${created.stdout}\nstderr: ${created.stderr}`);
    assert.match(created.stdout, /^created member after-crash@lock\.example /m);
    assert.equal(existsSync(lockFile), false);

    // What was written survives: the same email again is taken.
    const again = await createUser('after-crash@lock.example');
    assert.equal(again.code, 1, again.stderr);
    assert.match(again.stderr, /already exists/i);
  });
});
