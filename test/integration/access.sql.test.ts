import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { newId } from '../../src/core/ids.js';
import { createDatabase, type Database } from '../../src/infra/database/index.js';
import { createLogger } from '../../src/infra/telemetry/logger.js';
import {
  accessFilter,
  buildAbility,
  can,
  validatePermissionInput,
  type AccessFilter,
  type Action,
  type AppAbility,
  type Conditions,
  type PermissionRule,
  type SubjectType,
} from '../../src/services/access/index.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../support/databases.js';

/**
 * The SQL of `accessFilter` must select exactly the rows `can()` allows. Each case runs the
 * filter on a real database and compares with `can()` on the same rows as the services see
 * them (read back through the driver), on PGlite and, when configured, PostgreSQL.
 */

// Fixed, ordered ids so uuid ordering conditions split the rows predictably.
const ME = '0190a8f2-0000-7000-8000-000000000001';
const OTHER = '0190a8f2-0000-7000-8000-000000000002';
const THIRD = '0190a8f2-0000-7000-8000-000000000003';
const FOURTH = '0190a8f2-0000-7000-8000-000000000004';

const USERS = [
  { id: ME, email: 'Ada@Example.com', name: 'Ada', created_at: '2023-05-01T10:00:00.000400Z' },
  { id: OTHER, email: 'bob@example.com', name: 'Bob', created_at: '2023-06-01T10:00:00Z' },
  { id: THIRD, email: 'carol@example.org', name: 'Çarol', created_at: '2024-01-01T00:00:00Z' },
  { id: FOURTH, email: 'dave@example.com', name: 'dave', created_at: '2024-02-01T00:00:00Z' },
];

const METADATA: unknown[] = [
  {},
  { n: 1 },
  { n: 1.5 },
  { n: -3 },
  { n: 100 },
  { n: 0.1 },
  { n: 1e21 },
  { n: '1' },
  { n: 'abc' },
  { n: 'Z' },
  { n: '\u{1F600}' },
  { n: '\uFF5E' },
  { n: true },
  { n: false },
  { n: null },
  { n: [1, 2] },
  { n: { a: 1 } },
  { a: { b: 1 } },
  { a: { b: 'x' } },
  { a: { b: null } },
  { a: [{ b: 1 }] },
  { a: 'str' },
  { a: [1] },
  { a: { 0: 1 } },
  { 0: 1 },
  { a: { b: { c: { d: 5 } } } },
  { a: { b: { c: { d: '5' } } } },
  { tags: ['x', 'y'] },
  { sharedWith: ME },
  { sharedWith: OTHER },
  { public: true, n: 2 },
  { public: false },
  { public: 'true' },
  { constructor: 1 },
  { n: 2, a: { b: 2 } },
  { n: 'b', public: true },
];
const TYPES = ['doc', 'note', 'x.y-z'];
const NAMES = ['Report', 'report', 'Zebra', 'apple', 'Äpfel', '\u{1F600} smile', '\uFF5E tilde', 'Report 2', "O'Brien; DROP TABLE resources", 'm'];
const TIMES = [
  '2024-01-01T00:00:00Z',
  '2024-01-01T00:00:00.000500Z', // same millisecond as the one before
  '2024-01-01T00:00:00.001Z',
  '2024-03-15T12:30:00.999999Z',
  '2024-06-30T23:59:59.5Z',
  '2025-01-01T00:00:00Z',
];
const RESOURCE_COUNT = 40;

interface ResourceRecord {
  id: string;
  ownerId: string;
  name: string;
  type: string;
  createdAt: string;
  metadata: Record<string, unknown>;
}

interface Case {
  name: string;
  rules: [resourceType: string, action: Action, conditions: Conditions | null][];
  /** Expected kind of filter when not a WHERE clause. */
  kind?: 'all' | 'none';
  /** An independent statement of the answer, so SQL and CASL cannot agree on a wrong one. */
  expect?: (record: ResourceRecord) => boolean;
}

const u = ME;
const RESOURCE_CASES: Case[] = [
  { name: 'no rules', rules: [], kind: 'none' },
  { name: 'another action only', rules: [['doc', 'update', null]], kind: 'none' },
  { name: '* manage, unconditional', rules: [['*', 'manage', null]], kind: 'all' },
  { name: 'one type', rules: [['doc', 'read', null]], expect: (r) => r.type === 'doc' },
  { name: 'own resources (${user.id})', rules: [['*', 'read', { ownerId: '${user.id}' }]], expect: (r) => r.ownerId === u },
  { name: 'own docs via manage', rules: [['doc', 'manage', { ownerId: '${user.id}' }]], expect: (r) => r.ownerId === u && r.type === 'doc' },
  {
    name: 'several rules ORed',
    rules: [
      ['doc', 'read', { ownerId: '${user.id}' }],
      ['note', 'read', { 'metadata.public': true }],
      ['x.y-z', 'manage', { name: 'm' }],
    ],
    expect: (r) => (r.type === 'doc' && r.ownerId === u) || (r.type === 'note' && r.metadata.public === true) || (r.type === 'x.y-z' && r.name === 'm'),
  },
  {
    name: 'a conditional and an unconditional rule',
    rules: [
      ['doc', 'read', { name: 'Report' }],
      ['note', 'read', null],
    ],
    expect: (r) => r.type === 'note' || (r.type === 'doc' && r.name === 'Report'),
  },
  { name: '* with a type condition', rules: [['*', 'read', { type: { $in: ['note', 'x.y-z'] } }]], expect: (r) => r.type !== 'doc' },
  {
    name: 'id $eq / $ne',
    rules: [
      ['*', 'read', { id: { $ne: '0190a8f2-0000-7000-8000-0000000000a5' } }],
      ['doc', 'read', { id: '0190A8F2-0000-7000-8000-0000000000A3' }],
    ],
  },
  {
    name: 'id $in / $nin',
    rules: [
      ['*', 'read', { id: { $in: ['0190a8f2-0000-7000-8000-0000000000a1', '0190a8f2-0000-7000-8000-0000000000a7'] } }],
      ['note', 'read', { id: { $nin: ['0190a8f2-0000-7000-8000-0000000000a2'] } }],
    ],
  },
  { name: 'id ordering', rules: [['*', 'read', { id: { $gt: '0190a8f2-0000-7000-8000-0000000000a4', $lte: '0190a8f2-0000-7000-8000-0000000000b0' } }]] },
  {
    name: 'ownerId $in / $nin / $lt / $gte',
    rules: [
      ['doc', 'read', { ownerId: { $in: [ME, THIRD] } }],
      ['note', 'read', { ownerId: { $nin: ['${user.id}'] } }],
      ['x.y-z', 'read', { ownerId: { $lt: THIRD } }],
    ],
  },
  { name: 'name $eq is exact', rules: [['*', 'read', { name: 'report' }]], expect: (r) => r.name === 'report' },
  {
    name: 'name $ne / $in / $nin',
    rules: [
      ['doc', 'read', { name: { $ne: 'Report' } }],
      ['note', 'read', { name: { $in: ['Zebra', 'apple'] } }],
      ['x.y-z', 'read', { name: { $nin: ['m', 'Report'] } }],
    ],
  },
  {
    name: 'name ordering by code point',
    rules: [['*', 'read', { name: { $gt: 'Report', $lt: '\uFFFF' } }]],
    expect: (r) => r.name > 'Report' && !r.name.startsWith('\u{1F600}') && r.name !== '\uFFFF',
  },
  {
    name: 'name ordering, astral vs U+FF5E',
    rules: [['*', 'read', { name: { $gte: '\uFF5E' } }]],
    expect: (r) => r.name.startsWith('\uFF5E') || r.name.startsWith('\u{1F600}'),
  },
  {
    name: 'createdAt $eq at millisecond precision',
    rules: [['*', 'read', { createdAt: '2024-01-01T00:00:00Z' }]],
    expect: (r) => r.createdAt === '2024-01-01T00:00:00.000Z',
  },
  { name: 'createdAt $gt across sub-millisecond rows', rules: [['*', 'read', { createdAt: { $gt: '2024-01-01T00:00:00.000Z' } }]] },
  {
    name: 'createdAt $lte / $ne / $in with offsets',
    rules: [
      ['doc', 'read', { createdAt: { $lte: '2024-03-15T14:30:00.999+02:00' } }],
      ['note', 'read', { createdAt: { $ne: '2025-01-01' } }],
      ['x.y-z', 'read', { createdAt: { $in: ['2024-01-01T00:00:00.001Z', '2024-06-30T23:59:59.500Z'] } }],
    ],
  },
  {
    name: 'createdAt $nin / $lt / $gte',
    rules: [['*', 'read', { createdAt: { $nin: ['2024-01-01T00:00:00.000Z'], $lt: '2025-01-01T00:00:00Z', $gte: '2024-01-01' } }]],
  },
  { name: 'metadata $eq number, no coercion', rules: [['*', 'read', { 'metadata.n': 1 }]], expect: (r) => r.metadata.n === 1 },
  {
    name: 'metadata $eq string / boolean / null',
    rules: [
      ['doc', 'read', { 'metadata.n': '1' }],
      ['note', 'read', { 'metadata.n': false }],
      ['*', 'read', { 'metadata.n': null }],
    ],
  },
  { name: 'metadata $ne (true when missing)', rules: [['*', 'read', { 'metadata.n': { $ne: 1 } }]], expect: (r) => r.metadata.n !== 1 },
  { name: 'metadata $ne null', rules: [['*', 'read', { 'metadata.n': { $ne: null } }]], expect: (r) => r.metadata.n !== null },
  {
    name: 'metadata $in / $nin, mixed types',
    rules: [
      ['*', 'read', { 'metadata.n': { $in: [1, 'abc', null, true, 1e21] } }],
      ['doc', 'read', { 'metadata.n': { $nin: [1.5, 'Z', false] } }],
    ],
  },
  {
    name: 'metadata number ordering',
    rules: [['*', 'read', { 'metadata.n': { $gte: 0.1, $lt: 100 } }]],
    expect: (r) => typeof r.metadata.n === 'number' && r.metadata.n >= 0.1 && r.metadata.n < 100,
  },
  {
    name: 'metadata $lte / $gt numbers',
    rules: [
      ['doc', 'read', { 'metadata.n': { $lte: 1 } }],
      ['note', 'read', { 'metadata.n': { $gt: 1.5 } }],
      ['x.y-z', 'read', { 'metadata.n': { $gt: -10 } }],
    ],
  },
  { name: 'metadata string ordering', rules: [['*', 'read', { 'metadata.n': { $gt: '1' } }]] },
  {
    name: 'metadata string ordering, astral',
    rules: [
      ['*', 'read', { 'metadata.n': { $gt: '\uFF5E' } }],
      ['doc', 'read', { 'metadata.n': { $lt: 'a' } }],
    ],
  },
  {
    name: 'metadata $exists',
    rules: [
      ['doc', 'read', { 'metadata.n': { $exists: true } }],
      ['note', 'read', { 'metadata.n': { $exists: false } }],
    ],
  },
  {
    name: 'nested metadata through objects only',
    rules: [['*', 'read', { 'metadata.a.b': 1 }]],
    expect: (r) =>
      typeof r.metadata.a === 'object' && r.metadata.a !== null && !Array.isArray(r.metadata.a) && (r.metadata.a as Record<string, unknown>).b === 1,
  },
  {
    name: 'nested metadata $exists / $ne',
    rules: [
      ['doc', 'read', { 'metadata.a.b': { $exists: true } }],
      ['note', 'read', { 'metadata.a.b': { $ne: 'x' } }],
      ['x.y-z', 'read', { 'metadata.a.b': { $exists: false } }],
    ],
  },
  {
    name: 'numeric-looking keys are keys, not array indexes',
    rules: [
      ['*', 'read', { 'metadata.a.0': 1 }],
      ['doc', 'read', { 'metadata.0': { $exists: true } }],
    ],
  },
  {
    name: 'metadata four levels deep',
    rules: [
      ['*', 'read', { 'metadata.a.b.c.d': { $gte: 5 } }],
      ['doc', 'read', { 'metadata.a.b.c.d': '5' }],
    ],
  },
  { name: 'arrays are values, not sets', rules: [['*', 'read', { 'metadata.tags': 'x' }]], kind: undefined, expect: () => false },
  {
    name: 'own properties only',
    rules: [['*', 'read', { 'metadata.constructor': { $exists: true } }]],
    expect: (r) => Object.hasOwn(r.metadata, 'constructor'),
  },
  { name: '${user.id} in metadata', rules: [['*', 'read', { 'metadata.sharedWith': '${user.id}' }]], expect: (r) => r.metadata.sharedWith === u },
  { name: 'always-present field $exists', rules: [['*', 'read', { name: { $exists: true } }]], kind: 'all' },
  { name: 'always-present field not $exists', rules: [['*', 'read', { name: { $exists: false } }]], kind: 'none' },
  {
    name: '$and / $or nested',
    rules: [
      [
        '*',
        'read',
        { $or: [{ ownerId: '${user.id}' }, { $and: [{ 'metadata.public': true }, { $or: [{ type: 'note' }, { name: { $in: ['Zebra', 'm'] } }] }] }] },
      ],
    ],
  },
  {
    name: '$and / $or mixed with fields',
    rules: [
      ['doc', 'read', { 'metadata.n': { $exists: true }, $or: [{ 'metadata.n': { $lt: 2 } }, { 'metadata.n': { $gt: 'a' } }] }],
      ['note', 'update', null],
    ],
  },
];

interface UserRecord {
  id: string;
  email: string;
  name: string;
  createdAt: string;
}

const USER_CASES: { name: string; rules: Case['rules']; expect?: (r: UserRecord) => boolean; kind?: 'all' | 'none' }[] = [
  { name: 'self only', rules: [['user', 'read', { id: '${user.id}' }]], expect: (r) => r.id === u },
  { name: 'all users', rules: [['user', 'manage', null]], kind: 'all' },
  { name: '* does not cover users', rules: [['*', 'manage', null]], kind: 'none' },
  { name: 'email is exact', rules: [['user', 'read', { email: 'ada@example.com' }]], expect: () => false },
  {
    name: 'email $in / name ordering',
    rules: [
      ['user', 'read', { email: { $in: ['Ada@Example.com', 'dave@example.com'] } }],
      ['user', 'read', { name: { $gt: 'Bob' } }],
    ],
  },
  { name: 'createdAt and id', rules: [['user', 'read', { createdAt: { $lt: '2024-01-01' }, id: { $ne: '${user.id}' } }]] },
  { name: 'createdAt sub-millisecond', rules: [['user', 'read', { createdAt: '2023-05-01T10:00:00Z' }]], expect: (r) => r.id === ME },
  { name: '$or', rules: [['user', 'read', { $or: [{ id: '${user.id}' }, { email: { $nin: ['bob@example.com'] }, name: { $lte: 'Çarol' } }] }]] },
];

const ROLE_CASES: { name: string; rules: Case['rules']; kind?: 'all' | 'none' }[] = [
  { name: 'by name', rules: [['role', 'read', { name: 'admin' }]] },
  {
    name: 'ordering and ids',
    rules: [
      ['role', 'read', { name: { $gt: 'b' } }],
      ['role', 'read', { id: { $in: [ME] } }],
    ],
  },
  { name: 'unconditional', rules: [['role', 'read', null]], kind: 'all' },
];

/** The rules as the permission API would store them: validated and normalised. */
function abilityFor(rules: Case['rules'], userId = ME): AppAbility {
  const stored: PermissionRule[] = rules.map(([resourceType, action, conditions], i) => ({
    id: `p${i}`,
    ...validatePermissionInput({ resourceType, action, conditions }),
  }));
  return buildAbility(stored, userId);
}

function metadataFor(i: number): Record<string, unknown> {
  return METADATA[i % METADATA.length] as Record<string, unknown>;
}

for (const kind of DATABASE_KINDS) {
  describe(`access filters agree with can() (${kind})`, () => {
    let testDb: TestDatabase;
    let database: Database;
    let resources: ResourceRecord[];
    let users: UserRecord[];
    let roles: { id: string; name: string }[];

    before(async () => {
      testDb = await createTestDatabase(kind);
      database = createDatabase(testDb.options, createLogger({ level: 'silent' }));
      const db = database.db;
      await db
        .insertInto('users')
        .values(USERS.map((user) => ({ ...user, password_hash: 'not-a-real-hash' })))
        .execute();
      await db
        .insertInto('resources')
        .values(
          Array.from({ length: RESOURCE_COUNT }, (_, i) => ({
            id: `0190a8f2-0000-7000-8000-0000000000${(0xa0 + i).toString(16)}`,
            owner_id: USERS[i % 3]!.id,
            name: NAMES[i % NAMES.length]!,
            type: TYPES[Math.floor(i / 2) % TYPES.length]!,
            created_at: TIMES[i % TIMES.length]!,
            metadata: JSON.stringify(metadataFor(i)),
          })),
        )
        .execute();
      await db
        .insertInto('roles')
        .values([
          { id: newId(), name: 'auditor' },
          { id: newId(), name: 'Zed' },
        ])
        .execute();

      // Read back through the driver: that is what services build records from.
      const rows = await db.selectFrom('resources').select(['id', 'owner_id', 'name', 'type', 'created_at', 'metadata']).execute();
      resources = rows.map((r) => ({ id: r.id, ownerId: r.owner_id, name: r.name, type: r.type, createdAt: r.created_at.toISOString(), metadata: r.metadata }));
      const userRows = await db.selectFrom('users').select(['id', 'email', 'name', 'created_at']).execute();
      users = userRows.map((r) => ({ id: r.id, email: r.email, name: r.name, createdAt: r.created_at.toISOString() }));
      roles = await db.selectFrom('roles').select(['id', 'name']).execute();
    });
    after(async () => {
      await database?.close();
      await testDb?.drop();
    });

    async function selectIds(table: 'resources' | 'users' | 'roles', filter: AccessFilter): Promise<string[]> {
      if (filter.kind === 'none') return [];
      let query = database.db.selectFrom(table).select('id');
      if (filter.kind === 'where') query = query.where(filter.expression);
      return (await query.execute()).map((row) => row.id).sort();
    }

    async function check(
      subjectType: SubjectType,
      table: 'resources' | 'users' | 'roles',
      records: readonly { id: string }[],
      testCase: { name: string; rules: Case['rules']; kind?: 'all' | 'none'; expect?: (r: never) => boolean },
    ) {
      const ability = abilityFor(testCase.rules);
      const filter = accessFilter(ability, 'read', subjectType);
      const allowed = records
        .filter((r) => can(ability, 'read', subjectType, r as Record<string, unknown>))
        .map((r) => r.id)
        .sort();
      assert.deepEqual(await selectIds(table, filter), allowed, `${testCase.name}: SQL and can() disagree`);
      if (testCase.kind) {
        assert.equal(filter.kind, testCase.kind, testCase.name);
      } else {
        assert.equal(filter.kind, 'where', testCase.name);
      }
      if (testCase.expect) {
        const expected = records
          .filter((r) => (testCase.expect as (r: unknown) => boolean)(r))
          .map((r) => r.id)
          .sort();
        assert.deepEqual(allowed, expected, `${testCase.name}: not the intended rows`);
      }
      // A case that selects everything or nothing through a WHERE clause would not tell a
      // right translation from a constant one.
      if (filter.kind === 'where' && testCase.expect === undefined) {
        assert.ok(allowed.length > 0 && allowed.length < records.length, `${testCase.name}: selects ${allowed.length} of ${records.length}`);
      }
      return { ability, allowed };
    }

    it('has the varied rows the cases rely on', () => {
      assert.equal(resources.length, RESOURCE_COUNT);
      assert.ok(resources.some((r) => r.createdAt === '2024-01-01T00:00:00.000Z'));
      assert.equal(resources.filter((r) => r.createdAt === '2024-01-01T00:00:00.000Z').length, 14, 'sub-millisecond rows truncate to the same instant');
    });

    for (const testCase of RESOURCE_CASES) {
      it(`resources: ${testCase.name}`, () => check('resource', 'resources', resources, testCase).then(() => undefined));
    }
    for (const testCase of USER_CASES) {
      it(`users: ${testCase.name}`, () => check('user', 'users', users, testCase).then(() => undefined));
    }
    for (const testCase of ROLE_CASES) {
      it(`roles: ${testCase.name}`, () => check('role', 'roles', roles, testCase).then(() => undefined));
    }

    it('agrees for every action, not only read', async () => {
      const ability = abilityFor([
        ['doc', 'manage', { ownerId: '${user.id}' }],
        ['*', 'update', { 'metadata.public': true }],
        ['note', 'delete', null],
      ]);
      for (const action of ['create', 'read', 'update', 'delete'] as const) {
        const allowed = resources
          .filter((r) => can(ability, action, 'resource', { ...r }))
          .map((r) => r.id)
          .sort();
        assert.deepEqual(await selectIds('resources', accessFilter(ability, action, 'resource')), allowed, action);
      }
    });

    it('qualifies columns with a table alias', async () => {
      const ability = abilityFor([['*', 'read', { ownerId: '${user.id}', 'metadata.n': { $exists: true } }]]);
      const allowed = resources
        .filter((r) => can(ability, 'read', 'resource', { ...r }))
        .map((r) => r.id)
        .sort();
      assert.ok(allowed.length > 0);
      const filter = accessFilter(ability, 'read', 'resource', 'r');
      assert.equal(filter.kind, 'where');
      if (filter.kind !== 'where') return;
      // A join with users, which also has id, name and created_at: unqualified columns would
      // be ambiguous and fail.
      const rows = await database.db
        .selectFrom('resources as r')
        .innerJoin('users', 'users.id', 'r.owner_id')
        .select('r.id')
        .where(filter.expression)
        .execute();
      assert.deepEqual(rows.map((row) => row.id).sort(), allowed);
    });

    it('gives each principal its own rows from the same stored rules', async () => {
      const rules: Case['rules'] = [['*', 'read', { ownerId: '${user.id}' }]];
      for (const userId of [ME, OTHER, FOURTH]) {
        const ids = await selectIds('resources', accessFilter(abilityFor(rules, userId), 'read', 'resource'));
        assert.deepEqual(
          ids,
          resources
            .filter((r) => r.ownerId === userId)
            .map((r) => r.id)
            .sort(),
        );
      }
    });

    it('passes every value as a bind parameter', () => {
      const ability = abilityFor([['*', 'read', { name: "O'Brien; DROP TABLE resources", 'metadata.n': { $gt: 42 }, ownerId: '${user.id}' }]]);
      const filter = accessFilter(ability, 'read', 'resource');
      assert.equal(filter.kind, 'where');
      if (filter.kind !== 'where') return;
      const compiled = database.db.selectFrom('resources').select('id').where(filter.expression).compile();
      assert.doesNotMatch(compiled.sql, /O'Brien|42|0190a8f2/);
      assert.ok(compiled.parameters.includes("O'Brien; DROP TABLE resources"));
      assert.ok(compiled.parameters.includes(ME));
    });
  });
}
