import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { killCliChildren, runPcf } from '../support/cli.js';

/*
 * The rules for a set of instance roles (docs/architecture.md "Instance roles"), as an
 * operator meets them: `pcf serve` refuses a set that cannot work, with exit 78 (EX_CONFIG)
 * and a message saying why and what to set, before it opens anything; `pcf config` shows the
 * roles and warns about a set that works but weaker than expected. No store is contacted: the
 * URLs below point at nothing.
 */

const EXIT_CONFIG = 78;
const POSTGRES = 'postgres://pcf@127.0.0.1:1/pcf';
const NATS = 'nats://127.0.0.1:1';

after(() => killCliChildren());

describe('instance roles in the configuration', () => {
  it('pcf serve refuses roles without the worker on the embedded database and without a queue, saying why', async () => {
    const result = await runPcf(['serve', '--roles', 'api,auth', '--port', '0']);
    assert.equal(result.code, EXIT_CONFIG, result.stderr);
    assert.match(result.stderr, /roles \(flag --roles\): this instance runs api,auth and leaves the worker to another instance/);
    assert.match(result.stderr, /embedded PGlite database: nothing would relay its events.*Set database\.url/);
    assert.match(result.stderr, /Set queue\.url \(NATS or Kafka\), or run all three roles/);
    assert.doesNotMatch(result.stdout + result.stderr, /listening/, 'refused before it listens');
  });

  it('pcf serve refuses a worker alone without a queue: its events would stay in its process', async () => {
    const result = await runPcf(['serve', '--port', '0'], { env: { PCF_ROLES: 'worker', PCF_DATABASE_URL: POSTGRES } });
    assert.equal(result.code, EXIT_CONFIG, result.stderr);
    assert.match(
      result.stderr,
      /roles \(env PCF_ROLES\): this instance runs worker and leaves api, auth to other instances.*no other instance's live subscribers/,
    );
    assert.doesNotMatch(result.stderr, /database\.url/, 'the database is shared already');
  });

  it('pcf serve refuses unknown roles and an empty set, naming the roles there are', async () => {
    const unknown = await runPcf(['serve', '--port', '0'], { env: { PCF_ROLES: 'api,wrker' } });
    assert.equal(unknown.code, EXIT_CONFIG, unknown.stderr);
    assert.match(unknown.stderr, /roles \(env PCF_ROLES\): unknown role "wrker"\. Roles are api, auth, worker\./);
    const none = await runPcf(['serve', '--port', '0', '--roles', ' , ']);
    assert.equal(none.code, EXIT_CONFIG, none.stderr);
    assert.match(none.stderr, /roles \(flag --roles\): names no role/);
  });

  it('pcf config shows the roles: all three by default, a split set in canonical order with a warning when Redis is missing', async () => {
    const defaults = await runPcf(['config']);
    assert.equal(defaults.code, 0, defaults.stderr);
    assert.equal((JSON.parse(defaults.stdout) as { roles: string }).roles, 'api,auth,worker');
    assert.doesNotMatch(defaults.stderr, /roles/);

    const split = await runPcf(['config', '--roles', 'worker, API', '--database-url', POSTGRES, '--queue-url', NATS]);
    assert.equal(split.code, 0, split.stderr);
    assert.equal((JSON.parse(split.stdout) as { roles: string }).roles, 'api,worker');
    assert.match(split.stderr, /warning: roles api,worker without redis\.url .*every budget is multiplied by the number of instances/);

    // A worker alone keeps no sessions and no budgets: Redis is no concern of it.
    const worker = await runPcf(['config', '--roles', 'worker', '--database-url', POSTGRES, '--queue-url', NATS]);
    assert.equal(worker.code, 0, worker.stderr);
    assert.doesNotMatch(worker.stderr, /warning/);
  });
});
