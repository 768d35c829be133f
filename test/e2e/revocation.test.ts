import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestDatabase, TEST_DATABASE_URL, TEST_REDIS_URL, type TestDatabase } from '../support/databases.js';
import { call, expectStatus, spawnInstance, stop, stopAll, waitReady, type Instance } from '../support/instances.js';
import { NOTIFICATION_RECEIVED, WsProbe } from '../support/ws.js';

/*
 * Revocation across instances (DESIGN §1 "cluster", §2, §5 "Identity"): two real server
 * processes share one PostgreSQL database, with and without a shared Redis cache. A session
 * logged out, or a grant changed, on one instance must stop (or start) counting on the other
 * within a bounded time, although the other has the session and grants cached.
 */

after(() => stopAll());

interface Me {
  user: { id: string; email: string };
  roles: { id: string; name: string }[];
  permissions: { id: string; resourceType: string; action: string }[];
}

/**
 * Polls `check` every 20 ms until it holds; returns how long that took, or fails once
 * `limitMs` has passed. The clock starts when the change was acknowledged.
 */
async function within(what: string, limitMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await check()) return performance.now() - started;
    const elapsed = performance.now() - started;
    if (elapsed > limitMs) assert.fail(`${what}: still not seen after ${Math.round(elapsed)} ms (limit ${limitMs} ms)`);
    await sleep(20);
  }
}

const PASSWORD = 'revocation test passphrase';

/** The same scenario with and without a shared cache; only the time limit differs. */
function scenario(options: { redis: boolean; limitMs: number }) {
  let database: TestDatabase;
  let a: Instance;
  let b: Instance;
  let adminToken: string;
  let memberId: string;
  const tag = randomBytes(4).toString('hex');
  const memberEmail = `member-${tag}@revocation.example`;

  const login = async (instance: Instance, email: string) =>
    (await expectStatus(instance, 'POST', '/auth/login', 200, { body: { email, password: PASSWORD } })).token as string;
  const me = async (instance: Instance, token: string) => (await expectStatus(instance, 'GET', '/auth/me', 200, { token })) as unknown as Me;
  /** A few authenticated calls on both instances, so each has the session and grants cached. */
  const warm = async (token: string) => {
    for (let i = 0; i < 3; i++) for (const instance of [a, b]) await me(instance, token);
  };

  before(async () => {
    database = await createTestDatabase('postgres');
    if (database.options.kind !== 'postgres') throw new Error('expected a PostgreSQL database');
    const env: Record<string, string> = { PCF_DATABASE_URL: database.options.url };
    if (options.redis) {
      env.PCF_REDIS_URL = TEST_REDIS_URL!;
      // Keys of their own: other test runs on the same Redis never see these sessions.
      env.PCF_REDIS_KEY_PREFIX = `pcf-test-${tag}:`;
    }
    [a, b] = await Promise.all([spawnInstance('A', env), spawnInstance('B', env)]);
    await Promise.all([waitReady(a), waitReady(b)]);

    // The first account is the admin; the second a member.
    await expectStatus(a, 'POST', '/auth/register', 201, { body: { email: `admin-${tag}@revocation.example`, name: 'Admin', password: PASSWORD } });
    const member = await expectStatus(a, 'POST', '/auth/register', 201, { body: { email: memberEmail, name: 'Member', password: PASSWORD } });
    memberId = (member.user as { id: string }).id;
    adminToken = await login(a, `admin-${tag}@revocation.example`);
  });
  after(async () => {
    await stop([a, b].filter(Boolean));
    await database?.drop();
  });

  it(`a logout on A is refused on B within ${options.limitMs} ms`, async (t) => {
    const token = await login(a, memberEmail);
    assert.equal((await me(b, token)).user.id, memberId, 'the token from A works on B');
    await warm(token);

    await expectStatus(a, 'POST', '/auth/logout', 204, { token });
    await expectStatus(a, 'GET', '/auth/me', 401, { token });
    const took = await within('B refusing the logged-out token', options.limitMs, async () => (await call(b, 'GET', '/auth/me', { token })).status === 401);
    // Once refused, refused for good (no stale entry coming back).
    for (let i = 0; i < 5; i++) await expectStatus(b, 'GET', '/auth/me', 401, { token });
    t.diagnostic(`B refused the token ${Math.round(took)} ms after the logout on A`);
  });

  it('a logout on A closes the session’s WebSocket on B with 4403 within 5 s (default check interval)', async (t) => {
    const token = await login(a, memberEmail);
    const socket = await WsProbe.connect(b.base, token);
    try {
      socket.subscribe('n', NOTIFICATION_RECEIVED);
      await warm(token);
      await expectStatus(a, 'POST', '/auth/logout', 204, { token });
      const started = performance.now();
      const closed = await socket.closedWithin(5000);
      assert.equal(closed.code, 4403);
      t.diagnostic(`B closed the socket ${Math.round(performance.now() - started)} ms after the logout on A`);
    } finally {
      socket.close();
    }
  });

  it(`a permission granted, a role assigned and a permission revoked on A show in B’s /auth/me within ${options.limitMs} ms`, async (t) => {
    const token = await login(a, memberEmail);
    await warm(token);
    const before = await me(b, token);
    assert.deepEqual(
      before.roles.map((r) => r.name),
      ['member'],
    );

    // A direct permission, granted by the admin on A.
    const granted = (await expectStatus(a, 'POST', `/users/${memberId}/permissions`, 201, {
      token: adminToken,
      body: { resourceType: `doc${tag}`, action: 'read' },
    })) as { id: string };
    assert.ok(granted.id, JSON.stringify(granted));
    const grantTook = await within('B seeing the granted permission', options.limitMs, async () =>
      (await me(b, token)).permissions.some((p) => p.id === granted.id),
    );

    // A role with a permission of its own, assigned on A.
    const role = (await expectStatus(a, 'POST', '/roles', 201, { token: adminToken, body: { name: `editors-${tag}` } })) as { id: string };
    await expectStatus(a, 'POST', `/roles/${role.id}/permissions`, 201, { token: adminToken, body: { resourceType: `doc${tag}`, action: 'update' } });
    await warm(token);
    await expectStatus(a, 'PUT', `/users/${memberId}/roles/${role.id}`, 204, { token: adminToken });
    const roleTook = await within('B seeing the assigned role and its permission', options.limitMs, async () => {
      const current = await me(b, token);
      return current.roles.some((r) => r.id === role.id) && current.permissions.some((p) => p.resourceType === `doc${tag}` && p.action === 'update');
    });

    // Taking the direct permission back is the change that matters most.
    await warm(token);
    await expectStatus(a, 'DELETE', `/users/${memberId}/permissions/${granted.id}`, 204, { token: adminToken });
    const revokeTook = await within(
      'B dropping the revoked permission',
      options.limitMs,
      async () => !(await me(b, token)).permissions.some((p) => p.id === granted.id),
    );
    for (let i = 0; i < 5; i++) assert.ok(!(await me(b, token)).permissions.some((p) => p.id === granted.id), 'and it stays dropped');
    t.diagnostic(`seen on B after: grant ${Math.round(grantTook)} ms, role ${Math.round(roleTook)} ms, revocation ${Math.round(revokeTook)} ms`);
  });

  it(`a resource changed or deleted on A reads as changed on B ${options.redis ? 'at once' : `within ${options.limitMs} ms`}`, async (t) => {
    const token = await login(a, memberEmail);
    const created = await expectStatus(a, 'POST', '/resources', 201, { token, body: { name: 'Shared doc', type: 'doc', data: { n: 1 } } });
    const path = `/resources/${created.id as string}`;
    for (let i = 0; i < 3; i++) for (const instance of [a, b]) assert.equal((await expectStatus(instance, 'GET', path, 200, { token })).version, 1);

    await expectStatus(a, 'PATCH', path, 200, { token, body: { data: { n: 2 } } });
    const fresh = async () => {
      const read = await expectStatus(b, 'GET', path, 200, { token });
      return read.version === 2 && (read.data as { n: number }).n === 2;
    };
    // With Redis the shared entry is invalidated before the change commits: B's very next read is fresh.
    if (options.redis) assert.ok(await fresh(), 'B reads version 2 right after the change on A');
    const updateTook = await within('B reading the new version', options.limitMs, fresh);

    await expectStatus(a, 'DELETE', path, 204, { token });
    if (options.redis) await expectStatus(b, 'GET', path, 404, { token });
    const deleteTook = await within(
      'B answering 404 for the deleted resource',
      options.limitMs,
      async () => (await call(b, 'GET', path, { token })).status === 404,
    );
    t.diagnostic(`B saw the update after ${Math.round(updateTook)} ms and the deletion after ${Math.round(deleteTook)} ms`);
  });

  it('leaves no errors in either instance’s log', () => {
    for (const instance of [a, b]) assert.doesNotMatch(instance.output(), /"level":"(error|fatal)"/, `${instance.name}:\n${instance.output()}`);
  });
}

describe(
  'revocation across two instances sharing PostgreSQL and Redis',
  { skip: TEST_DATABASE_URL && TEST_REDIS_URL ? false : 'needs PostgreSQL and Redis', timeout: 180_000 },
  () => {
    scenario({ redis: true, limitMs: 1000 });
  },
);

describe(
  'revocation across two instances sharing only PostgreSQL (1 s cache entries)',
  { skip: TEST_DATABASE_URL ? false : 'needs PostgreSQL', timeout: 180_000 },
  () => {
    // Unshared cache entries live at most 1 s (DESIGN: revocation reaches every instance within a second).
    scenario({ redis: false, limitMs: 1500 });
  },
);
