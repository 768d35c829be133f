import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { isAppError } from '../../src/core/errors.js';
import { newId } from '../../src/core/ids.js';
import { createDatabase, migrateDown, migrateUp, migrationStatus, prepared, type Database, type DatabaseOptions } from '../../src/infra/database/index.js';
import { createLogger } from '../../src/infra/telemetry/logger.js';
import { createTestDatabase, DATABASE_KINDS, TEST_DATABASE_URL, type TestDatabase } from '../support/databases.js';

const TABLES = [
  'idempotency_keys',
  'invitations',
  'notification_preferences',
  'notifications',
  'outbox',
  'permissions',
  'resource_shares',
  'resource_versions',
  'resources',
  'role_permissions',
  'roles',
  'sessions',
  'storage_slots',
  'user_permissions',
  'user_roles',
  'users',
];

async function rejectsWith(promise: Promise<unknown>, code: string) {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isAppError(err), `a contract error, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.doesNotMatch(err.message, /violates|constraint|relation|SQL/i, 'the client-facing detail names no SQL');
    return true;
  });
}

async function insertUser(database: Database, email = `${newId()}@example.com`) {
  const id = newId();
  await database.db.insertInto('users').values({ id, email, name: 'User', password_hash: 'not-a-real-hash' }).execute();
  return id;
}

for (const kind of DATABASE_KINDS) {
  describe(`database (${kind})`, () => {
    let testDb: TestDatabase;
    let database: Database;
    before(async () => {
      testDb = await createTestDatabase(kind);
      database = createDatabase(testDb.options, createLogger({ level: 'silent' }));
      await database.ping();
    });
    after(async () => {
      await database.close();
      await testDb.drop();
    });

    it('has every table of the design, migrated', async () => {
      const rows = await sql<{ table_name: string }>`
        select table_name from information_schema.tables
        where table_schema = 'public' and table_name not like 'pcf_migrations%' order by table_name`.execute(database.db);
      assert.deepEqual(
        rows.rows.map((r) => r.table_name),
        TABLES,
      );
      const status = await migrationStatus(database.db);
      assert.ok(status.length >= 1);
      assert.ok(
        status.every((m) => m.executedAt instanceof Date),
        'every migration applied',
      );
    });

    it('migrates down and up again, leaving nothing behind', async () => {
      const names = (await migrationStatus(database.db)).map((m) => m.name);
      const reverted: string[] = [];
      for (let step = await migrateDown(database.db); step.length > 0; step = await migrateDown(database.db)) reverted.push(...step);
      assert.deepEqual(reverted, [...names].reverse(), 'each down reverts the latest');
      const left = await sql<{
        n: number;
      }>`select count(*) as n from information_schema.tables where table_schema = 'public' and table_name not like 'pcf_migrations%'`.execute(database.db);
      assert.equal(Number(left.rows[0]!.n), 0);
      const applied = await migrateUp(database.db);
      assert.deepEqual(applied, names);
      assert.deepEqual(await migrateUp(database.db), [], 'a second up applies nothing');
    });

    it('moves share permissions into resource_shares (0006), one row per resource and user, and back down', async () => {
      // Back to before 0006 (and any later migration), where a share was a permission per action.
      const undone: string[] = [];
      while (!undone.includes('0006_resource_shares')) {
        const step = await migrateDown(database.db);
        assert.ok(step.length > 0, 'reached 0006');
        undone.push(...step);
      }
      const owner = await insertUser(database);
      const bob = await insertUser(database);
      const doc = newId();
      await sql`INSERT INTO resources (id, owner_id, name, type, metadata, version) VALUES (${doc}::uuid, ${owner}::uuid, 'Doc', 'doc', '{}', 1)`.execute(
        database.db,
      );
      const grant = async (userId: string, action: string) => {
        const id = newId();
        await sql`INSERT INTO permissions (id, resource_type, action, conditions, resource_id) VALUES (${id}::uuid, 'doc', ${action}, ${JSON.stringify({ id: doc })}::jsonb, ${doc}::uuid)`.execute(
          database.db,
        );
        await sql`INSERT INTO user_permissions (user_id, permission_id) VALUES (${userId}::uuid, ${id}::uuid)`.execute(database.db);
      };
      await grant(bob, 'update');
      await grant(bob, 'read');
      await grant(owner, 'read'); // a share with the owner: useless, dropped

      await migrateUp(database.db);
      const shares = await database.db.selectFrom('resource_shares').select(['resource_id', 'user_id', 'actions']).where('resource_id', '=', doc).execute();
      assert.deepEqual(shares, [{ resource_id: doc, user_id: bob, actions: ['read', 'update'] }]);
      const left = await sql<{ n: string }>`SELECT count(*) AS n FROM permissions WHERE conditions->>'id' = ${doc}`.execute(database.db);
      assert.equal(Number(left.rows[0]!.n), 0, 'no share permission left');

      await migrateDown(database.db);
      while ((await migrationStatus(database.db)).some((m) => m.name === '0006_resource_shares' && m.executedAt)) await migrateDown(database.db);
      const back = await sql<{ user_id: string; action: string }>`
        SELECT up.user_id, p.action FROM permissions p JOIN user_permissions up ON up.permission_id = p.id WHERE p.resource_id = ${doc}::uuid ORDER BY p.action`.execute(
        database.db,
      );
      assert.deepEqual(back.rows, [
        { user_id: bob, action: 'read' },
        { user_id: bob, action: 'update' },
      ]);
      await migrateUp(database.db);
    });

    it('keeps emails unique case-insensitively, as CONFLICT', async () => {
      await insertUser(database, 'Ada@Example.com');
      await rejectsWith(insertUser(database, 'ada@example.COM'), 'CONFLICT');
    });

    it('translates check, foreign-key and format violations into contract errors', async () => {
      const owner = await insertUser(database);
      const resource = { id: newId(), owner_id: owner, name: 'Doc', type: 'doc' };
      await rejectsWith(
        database.db
          .insertInto('resources')
          .values({ ...resource, type: 'Bad Type!' })
          .execute(),
        'INVALID_INPUT',
      );
      await rejectsWith(
        database.db
          .insertInto('resources')
          .values({ ...resource, owner_id: newId() })
          .execute(),
        'CONFLICT',
      );
      await rejectsWith(database.db.selectFrom('users').selectAll().where('id', '=', 'not-a-uuid').execute(), 'INVALID_INPUT');
      await database.db.insertInto('resources').values(resource).execute();
      // RESTRICT: a user who owns resources cannot be deleted out from under them.
      await rejectsWith(database.db.deleteFrom('users').where('id', '=', owner).execute(), 'CONFLICT');
      await rejectsWith(
        database.db
          .insertInto('resource_versions')
          .values([
            { id: newId(), resource_id: resource.id, version: 1, data: '{}', created_by: owner },
            { id: newId(), resource_id: resource.id, version: 1, data: '{}', created_by: owner },
          ])
          .execute(),
        'CONFLICT',
      );
    });

    it('stores only a 32-byte token hash for a session', async () => {
      const user = await insertUser(database);
      const session = { id: newId(), user_id: user, expires_at: new Date(Date.now() + 60_000) };
      await rejectsWith(
        database.db
          .insertInto('sessions')
          .values({ ...session, token: Buffer.from('short') })
          .execute(),
        'INVALID_INPUT',
      );
      await database.db
        .insertInto('sessions')
        .values({ ...session, token: Buffer.alloc(32, 7) })
        .execute();
      const row = await database.db.selectFrom('sessions').select('token').where('id', '=', session.id).executeTakeFirstOrThrow();
      assert.equal(Buffer.from(row.token).length, 32);
    });

    it('round-trips jsonb, timestamps and counts the same way on every driver', async () => {
      const user = await insertUser(database);
      const payload = { nested: { list: [1, 'two', null, true] }, unicode: 'Zoë ✓' };
      const id = newId();
      await database.db
        .insertInto('notifications')
        .values({ id, user_id: user, kind: 'test', payload: JSON.stringify(payload) })
        .execute();
      const row = await database.db.selectFrom('notifications').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      assert.deepEqual(row.payload, payload);
      assert.ok(row.created_at instanceof Date);
      const count = await database.db
        .selectFrom('notifications')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      assert.equal(typeof count.n, 'number');
    });

    it('isolates concurrent transactions and rolls back a failed one', async () => {
      const user = await insertUser(database);
      const name = () => database.db.selectFrom('users').select('name').where('id', '=', user).executeTakeFirstOrThrow();
      await assert.rejects(
        database.db.transaction().execute(async (trx) => {
          await trx.updateTable('users').set({ name: 'changed' }).where('id', '=', user).execute();
          throw new Error('abort');
        }),
        /abort/,
      );
      assert.equal((await name()).name, 'User', 'the rolled-back change is gone');
      // Many transactions at once: on PGlite they share one connection and must not interleave.
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          database.db.transaction().execute(async (trx) => {
            const current = await trx.selectFrom('users').select('name').where('id', '=', user).forUpdate().executeTakeFirstOrThrow();
            await trx
              .updateTable('users')
              .set({ name: `${current.name}+${i}` })
              .where('id', '=', user)
              .execute();
          }),
        ),
      );
      assert.equal((await name()).name.split('+').length, 21, 'every increment survived');
    });

    it('supports savepoints inside a transaction', async () => {
      const user = await insertUser(database);
      const trx = await database.db.startTransaction().execute();
      const inner = await trx.savepoint('before_rename').execute();
      await inner.updateTable('users').set({ name: 'discarded' }).where('id', '=', user).execute();
      await inner.rollbackToSavepoint('before_rename').execute();
      await trx.commit().execute();
      const row = await database.db.selectFrom('users').select('name').where('id', '=', user).executeTakeFirstOrThrow();
      assert.equal(row.name, 'User');
    });

    it('refuses the reserved system types as resource types', async () => {
      const owner = await insertUser(database);
      for (const type of ['user', 'role']) {
        await rejectsWith(database.db.insertInto('resources').values({ id: newId(), owner_id: owner, name: 'x', type }).execute(), 'INVALID_INPUT');
      }
    });

    it('keeps bind parameters out of unexpected database errors', async () => {
      await assert.rejects(sql`select length(${'secret-param-value'}::text) / 0`.execute(database.db), (err: Error & Record<string, unknown>) => {
        assert.ok(!JSON.stringify({ ...err, message: err.message }).includes('secret-param-value'), 'no parameter in the error');
        return true;
      });
    });

    it('runs a marked statement with the same answers as an unmarked one, a prepared statement on PostgreSQL', async () => {
      const owner = await insertUser(database);
      const byId = (id: string) => database.db.selectFrom('users').select(['id', 'name']).where('id', '=', id);
      // Several runs on a small pool: each connection parses it once and reuses it after.
      for (let i = 0; i < 12; i++) {
        const [marked, plain] = await Promise.all([database.db.executeQuery(prepared('user-by-id', byId(owner))), byId(owner).execute()]);
        assert.deepEqual(marked.rows, plain);
      }
      const text = prepared('user-by-id', byId(owner)).sql;
      assert.match(text, /^\/\* pcf:user-by-id \*\/ select/, 'named in pg_stat_activity and the logs');
      if (kind === 'postgres') {
        // One connection of the pool, held, runs it and then lists what it has prepared.
        await database.db.connection().execute(async (connection) => {
          await connection.executeQuery(prepared('user-by-id', byId(owner)));
          const { rows } = await sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements`.execute(connection);
          const mine = rows.filter((r) => r.statement.startsWith('/* pcf:user-by-id */'));
          assert.equal(mine.length, 1, JSON.stringify(rows));
          assert.match(mine[0]!.name, /^pcf_user-by-id_/);
          assert.ok(!rows.some((r) => r.statement.includes('from pg_prepared_statements')), 'unmarked statements stay unnamed');
        });
      }
    });

    it('gives a marked query whose text varies a statement per text', async () => {
      const [a, b] = [await insertUser(database), await insertUser(database)];
      const some = (ids: string[]) => database.db.selectFrom('users').select('id').where('id', 'in', ids).orderBy('id');
      for (const ids of [[a], [a, b], [a], [b, a]]) {
        const { rows } = await database.db.executeQuery(prepared('users-in', some(ids)));
        assert.deepEqual(rows.map((r) => r.id).sort(), [...ids].sort());
      }
    });

    it('reports pool state for the metrics', async () => {
      const stats = database.poolStats();
      assert.ok(stats.total >= 1);
      assert.ok(stats.idle >= 0 && stats.waiting >= 0);
    });
  });
}

describe('database.preparedStatements off (a pooler that cannot carry named statements)', { skip: !TEST_DATABASE_URL && 'PostgreSQL only' }, () => {
  it('sends marked statements unnamed', async () => {
    const testDb = await createTestDatabase('postgres');
    const database = createDatabase(
      { ...(testDb.options as Extract<DatabaseOptions, { kind: 'postgres' }>), preparedStatements: false },
      createLogger({ level: 'silent' }),
    );
    try {
      const id = await insertUser(database);
      await database.db.connection().execute(async (connection) => {
        const { rows } = await connection.executeQuery(prepared('user-by-id', database.db.selectFrom('users').select('id').where('id', '=', id)));
        assert.deepEqual(rows, [{ id }]);
        const held = await sql<{ name: string }>`select name from pg_prepared_statements`.execute(connection);
        assert.deepEqual(held.rows, []);
      });
    } finally {
      await database.close();
      await testDb.drop();
    }
  });
});

describe('database unreachable', () => {
  it('fails with SERVICE_UNAVAILABLE, not a driver error', async () => {
    const database = createDatabase(
      { kind: 'postgres', url: 'postgres://postgres@127.0.0.1:1/none', poolMax: 1, connectTimeoutMs: 1000, statementTimeoutMs: 0 },
      createLogger({ level: 'silent' }),
    );
    try {
      await rejectsWith(database.ping(), 'SERVICE_UNAVAILABLE');
    } finally {
      await database.close();
    }
  });
});
