import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { createDatabase, postgresWakeups, type Database, type Wakeups } from '../../src/infra/database/index.js';
import { createLogger } from '../../src/infra/telemetry/logger.js';
import { createTestDatabase, TEST_DATABASE_URL, type TestDatabase } from '../support/databases.js';

/*
 * The signal an instance without the worker role sends after a commit, and the worker's
 * listening connection (infra/database/wakeups.ts), on a real PostgreSQL: a signal wakes the
 * listener; a burst of signals is folded; a listening connection killed by the server comes
 * back and wakes once for what it may have missed, and then hears signals again.
 */

const SKIP = TEST_DATABASE_URL ? false : 'needs PCF_TEST_DATABASE_URL (LISTEN/NOTIFY is PostgreSQL only)';
const WAIT_MS = 10_000;

async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${WAIT_MS} ms`);
    await sleep(20);
  }
}

describe('outbox wake-ups over LISTEN/NOTIFY', { skip: SKIP, timeout: 60_000 }, () => {
  const log = createLogger({ level: 'silent' });
  let database: TestDatabase;
  let sender: Database;
  let wakeups: Wakeups;
  let url: string;

  before(async () => {
    database = await createTestDatabase('postgres');
    assert.ok(database.options.kind === 'postgres');
    url = database.options.url;
    sender = createDatabase(database.options, log);
    wakeups = postgresWakeups(sender.db, url, log);
  });
  after(async () => {
    await sender?.close();
    await database?.drop();
  });

  /** The backends holding a LISTEN of ours, from the server's side. */
  async function listeners(): Promise<number[]> {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'pcf-api relay wakeups' AND datname = current_database()",
      );
      return rows.map((r) => r.pid);
    } finally {
      await admin.end();
    }
  }

  it('wakes the listener on a signal, once when it connects, and folds a burst', async () => {
    let wakes = 0;
    const listening = wakeups.listen(() => wakes++);
    try {
      await until('the first wake after connecting', () => wakes === 1);
      wakeups.signal();
      await until('a wake for the signal', () => wakes === 2);
      for (let i = 0; i < 50; i++) wakeups.signal();
      await until('wakes for the burst', () => wakes > 2);
      await sleep(300);
      assert.ok(wakes - 2 <= 2, `a burst of 50 signals is folded into at most two notifications, got ${wakes - 2}`);
    } finally {
      await listening.close();
    }
    assert.deepEqual(await listeners(), [], 'close() ends the listening connection');
  });

  it('gets its connection back after the server ends it, and hears signals again', async () => {
    let wakes = 0;
    const listening = wakeups.listen(() => wakes++);
    try {
      await until('connected', () => wakes === 1);
      const [pid] = await listeners();
      assert.ok(pid, 'one listening backend');
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await admin.end();
      await until('the wake after reconnecting (for signals missed meanwhile)', () => wakes === 2);
      await until('a new listening backend', async () => (await listeners()).some((p) => p !== pid));
      wakeups.signal();
      await until('a wake for a signal on the new connection', () => wakes === 3);
    } finally {
      await listening.close();
    }
  });
});
