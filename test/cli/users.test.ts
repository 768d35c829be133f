import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { killCliChildren, runPcf, type CliResult } from '../support/cli.js';
import { createTestDatabase, TEST_DATABASE_URL, type TestDatabase } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';

/*
 * `pcf users create` (DESIGN §5 "Permissions": the account it creates with --admin is an
 * admin), run as an operator runs it: a process of its own, judged by exit code and output,
 * then checked by signing in to a server on the same database.
 */

after(killCliChildren);

const pcf = runPcf;

const tmp = mkdtempSync(join(tmpdir(), 'pcf-users-cli-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The generated password, printed once on a `password:` line. */
function printedPassword(result: CliResult): string {
  const lines = result.stdout.split('\n').filter((line) => /^password: /.test(line));
  assert.equal(lines.length, 1, `one password line:\n${result.stdout}`);
  const password = lines[0]!.slice('password: '.length);
  assert.match(password, /^\S{16,}$/, 'a long generated password');
  assert.equal(result.stdout.split(password).length - 1, 1, 'the password appears exactly once');
  assert.ok(!result.stderr.includes(password), 'never on stderr');
  return password;
}

interface Me {
  user: { id: string; email: string; name: string };
  roles: { id: string; name: string }[];
  permissions: { resourceType: string; action: string }[];
}

/** Logs in on a server and returns /auth/me. */
async function signIn(t: TestServer, email: string, password: string): Promise<Me> {
  const login = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });
  assert.equal(login.statusCode, 200, login.body);
  const { token } = login.json() as { token: string };
  const me = await t.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { authorization: `Bearer ${token}` } });
  assert.equal(me.statusCode, 200, me.body);
  return me.json() as Me;
}

function assertNoStackTrace(result: CliResult): void {
  for (const stream of [result.stdout, result.stderr]) {
    assert.doesNotMatch(stream, /^\s+at .+[:(]\d+/m, `no stack trace:\n${stream}`);
    assert.doesNotMatch(stream, /node_modules|\.ts:\d+|Error: /, `no internals:\n${stream}`);
  }
}

describe('pcf users create, no database needed', () => {
  it('explains the command and lists its options', async () => {
    const result = await pcf(['users', 'create', '--help']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Usage: pcf users create/);
    for (const option of ['--email <email>', '--name <name>', '--admin', '--password-stdin', '--database-url', '--data-dir', '--config']) {
      assert.ok(result.stdout.includes(option), `lists ${option}:\n${result.stdout}`);
    }
    assert.match(result.stdout, /stdin/i);
    const users = await pcf(['users', '--help']);
    assert.equal(users.code, 0, users.stderr);
    assert.match(users.stdout, /\bcreate\b/);
  });

  it('refuses to run without --email or --name, saying which is missing', async () => {
    const result = await pcf(['users', 'create', '--name', 'Nobody']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /--email/);
    assertNoStackTrace(result);
  });

  it('exits non-zero with a clear message and no stack trace when the database cannot be reached', async () => {
    const result = await pcf(['users', 'create', '--email', 'ops@cli.example', '--name', 'Ops', '--admin'], {
      env: { PCF_DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', PCF_LOG_LEVEL: 'warn' },
    });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /database/i);
    assert.doesNotMatch(result.stdout, /created|password:/);
    assertNoStackTrace(result);
  });
});

describe('pcf users create on PostgreSQL', { skip: TEST_DATABASE_URL ? false : 'needs PostgreSQL' }, () => {
  let database: TestDatabase;
  let env: Record<string, string>;
  let t: TestServer | undefined;

  before(async () => {
    database = await createTestDatabase('postgres');
    if (database.options.kind !== 'postgres') throw new Error('expected a PostgreSQL database');
    env = { PCF_DATABASE_URL: database.options.url, PCF_LOG_LEVEL: 'warn' };
  });
  // The server drops the database when it closes; without a server, drop it here.
  after(() => (t ? t.close() : database.drop()));

  /** A server on the database the CLI wrote to, started once. */
  async function server(): Promise<TestServer> {
    t ??= await startTestServer('postgres', { database });
    return t;
  }

  it('creates an admin with a generated password, printed once, that signs in as an admin', async () => {
    const result = await pcf(['users', 'create', '--email', ' Ops@CLI.example ', '--name', 'Ops', '--admin'], { env });
    assert.equal(result.code, 0, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
    assert.match(result.stdout, /^created admin ops@cli\.example \([0-9a-f-]{36}\)$/m);
    assert.match(result.stdout, /only this once/i);
    const password = printedPassword(result);

    const me = await signIn(await server(), 'ops@cli.example', password);
    assert.equal(me.user.name, 'Ops');
    assert.deepEqual(
      me.roles.map((r) => r.name),
      ['admin'],
    );
    assert.ok(me.permissions.some((p) => p.resourceType === '*' && p.action === 'manage'));
  });

  it('reads the password from stdin with --password-stdin and never prints it; without --admin the account is a member', async () => {
    const password = `chosen ${randomBytes(6).toString('hex')} passphrase`;
    const result = await pcf(['users', 'create', '--email', 'member@cli.example', '--name', 'Member', '--password-stdin'], { env, input: `${password}\n` });
    assert.equal(result.code, 0, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
    assert.match(result.stdout, /^created member member@cli\.example /m);
    assert.doesNotMatch(result.stdout, /password:/);
    assert.ok(!result.stdout.includes(password) && !result.stderr.includes(password), 'the password is not echoed');

    const me = await signIn(await server(), 'member@cli.example', password);
    assert.deepEqual(
      me.roles.map((r) => r.name),
      ['member'],
    );
  });

  it('exits 1 with a clear message and no stack trace for an invalid email, a weak password or a taken email', async () => {
    const invalid = await pcf(['users', 'create', '--email', 'not-an-email', '--name', 'Bad', '--admin'], { env });
    assert.equal(invalid.code, 1, `stdout: ${invalid.stdout}\nstderr: ${invalid.stderr}`);
    assert.match(invalid.stderr, /email/i);
    assert.doesNotMatch(invalid.stdout, /created|password:/, 'nothing was created, no password shown');
    assertNoStackTrace(invalid);

    const weak = await pcf(['users', 'create', '--email', 'weak@cli.example', '--name', 'Weak', '--password-stdin'], { env, input: 'short\n' });
    assert.equal(weak.code, 1, weak.stderr);
    assert.match(weak.stderr, /password/i);
    assertNoStackTrace(weak);

    const taken = await pcf(['users', 'create', '--email', 'OPS@cli.example', '--name', 'Again'], { env });
    assert.equal(taken.code, 1, taken.stderr);
    assert.match(taken.stderr, /already exists/i);
    assertNoStackTrace(taken);

    const rows = await (await server()).server.database.db.selectFrom('users').select('email').orderBy('email').execute();
    assert.deepEqual(
      rows.map((r) => r.email),
      ['member@cli.example', 'ops@cli.example'],
      'only the two valid accounts exist',
    );
  });
});

describe('pcf users create on embedded PGlite', () => {
  let t: TestServer | undefined;
  after(() => t?.close());

  // A fresh PGlite data directory is initialised and migrated by the CLI: several seconds.
  it('creates an admin in a fresh data directory; a server on that directory signs it in', { timeout: 180_000 }, async () => {
    const dataDir = join(tmp, 'pglite-data');
    const result = await pcf(['users', 'create', '--email', 'root@pglite.example', '--name', 'Root', '--admin'], {
      env: { PCF_DATA_DIR: dataDir, PCF_LOG_LEVEL: 'warn' },
      timeoutMs: 120_000,
    });
    assert.equal(result.code, 0, `stdout: ${result.stdout}\nstderr: ${result.stderr}`);
    const password = printedPassword(result);

    // The CLI has exited, so the data directory is free for a server.
    t = await startTestServer('pglite', { database: { kind: 'pglite', options: { kind: 'pglite', dataDir }, drop: async () => undefined } });
    const me = await signIn(t, 'root@pglite.example', password);
    assert.deepEqual(
      me.roles.map((r) => r.name),
      ['admin'],
    );
  });
});
