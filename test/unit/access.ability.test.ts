import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildAbility, can, canUnconditionally, type Action, type Conditions, type PermissionRule } from '../../src/services/access/index.js';

const ME = '0190a8f2-3c4d-7e5f-8a9b-000000000001';
const OTHER = '0190a8f2-3c4d-7e5f-8a9b-000000000002';

let nextId = 0;
function rule(resourceType: string, action: Action, conditions: Conditions | null = null): PermissionRule {
  nextId += 1;
  return { id: `p${nextId}`, resourceType, action, conditions };
}

function resource(overrides: Record<string, unknown> = {}) {
  return {
    id: '0190a8f2-3c4d-7e5f-8a9b-00000000a001',
    ownerId: OTHER,
    name: 'Report',
    type: 'doc',
    createdAt: '2024-06-01T12:00:00.000Z',
    metadata: {},
    ...overrides,
  };
}

const user = (overrides: Record<string, unknown> = {}) => ({
  id: OTHER,
  email: 'ada@example.com',
  name: 'Ada',
  createdAt: '2024-01-01T00:00:00.000Z',
  ...overrides,
});

/** Whether one rule for `doc` with these conditions lets the caller read the resource. */
function readable(conditions: Conditions, overrides: Record<string, unknown>): boolean {
  return can(buildAbility([rule('doc', 'read', conditions)], ME), 'read', 'resource', resource(overrides));
}

describe('buildAbility / can', () => {
  it('grants nothing without rules', () => {
    const ability = buildAbility([], ME);
    for (const action of ['create', 'read', 'update', 'delete'] as const) {
      assert.equal(can(ability, action, 'resource'), false);
      assert.equal(can(ability, action, 'resource', resource()), false);
      assert.equal(can(ability, action, 'user', user()), false);
    }
  });

  it('lets manage cover every action, and a single action only itself', () => {
    const manage = buildAbility([rule('doc', 'manage')], ME);
    for (const action of ['create', 'read', 'update', 'delete', 'manage'] as const) assert.equal(can(manage, action, 'resource', resource()), true, action);
    const read = buildAbility([rule('doc', 'read')], ME);
    assert.equal(can(read, 'read', 'resource', resource()), true);
    for (const action of ['create', 'update', 'delete', 'manage'] as const) assert.equal(can(read, action, 'resource', resource()), false, action);
  });

  it('lets * cover every resource type but not users or roles', () => {
    const ability = buildAbility([rule('*', 'manage')], ME);
    for (const type of ['doc', 'note', 'x.y']) assert.equal(can(ability, 'delete', 'resource', resource({ type })), true, type);
    assert.equal(can(ability, 'read', 'user', user()), false);
    assert.equal(can(ability, 'read', 'user'), false);
    assert.equal(can(ability, 'read', 'role', { id: OTHER, name: 'admin' }), false);
  });

  it('keeps a rule for one type to that type', () => {
    const ability = buildAbility([rule('doc', 'read')], ME);
    assert.equal(can(ability, 'read', 'resource', resource({ type: 'doc' })), true);
    assert.equal(can(ability, 'read', 'resource', resource({ type: 'note' })), false);
    assert.equal(can(ability, 'read', 'resource', resource({ type: 'docs' })), false);
  });

  it('maps user and role permissions to their own subjects', () => {
    const ability = buildAbility([rule('user', 'read', { id: '${user.id}' }), rule('role', 'read')], ME);
    assert.equal(can(ability, 'read', 'user', user({ id: ME })), true);
    assert.equal(can(ability, 'read', 'user', user({ id: OTHER })), false);
    assert.equal(can(ability, 'read', 'role', { id: OTHER, name: 'member' }), true);
    assert.equal(can(ability, 'read', 'resource', resource()), false);
  });

  it('substitutes ${user.id} wherever it is a whole value, and lowercases the id', () => {
    const ability = buildAbility(
      [rule('doc', 'update', { ownerId: '${user.id}' }), rule('note', 'read', { 'metadata.sharedWith': { $in: ['${user.id}'] } })],
      ME.toUpperCase(),
    );
    assert.equal(can(ability, 'update', 'resource', resource({ ownerId: ME })), true);
    assert.equal(can(ability, 'update', 'resource', resource({ ownerId: OTHER })), false);
    assert.equal(can(ability, 'read', 'resource', resource({ type: 'note', metadata: { sharedWith: ME } })), true);
    assert.equal(can(ability, 'read', 'resource', resource({ type: 'note', metadata: { sharedWith: OTHER } })), false);
    // The same stored rules give another principal its own ability.
    const other = buildAbility([rule('doc', 'update', { ownerId: '${user.id}' })], OTHER);
    assert.equal(can(other, 'update', 'resource', resource({ ownerId: OTHER })), true);
  });

  it('answers "on some record" without a record, as CASL does', () => {
    const ability = buildAbility([rule('doc', 'create', { ownerId: '${user.id}' })], ME);
    assert.equal(can(ability, 'create', 'resource'), true);
    assert.equal(can(ability, 'read', 'resource'), false);
  });

  it('ORs several rules', () => {
    const ability = buildAbility([rule('doc', 'read', { ownerId: '${user.id}' }), rule('doc', 'read', { name: 'Public' })], ME);
    assert.equal(can(ability, 'read', 'resource', resource({ ownerId: ME })), true);
    assert.equal(can(ability, 'read', 'resource', resource({ name: 'Public' })), true);
    assert.equal(can(ability, 'read', 'resource', resource()), false);
  });

  it('neither modifies nor needs to modify the record', () => {
    const ability = buildAbility([rule('doc', 'read', { ownerId: '${user.id}' })], ME);
    const record = Object.freeze(resource({ ownerId: ME }));
    assert.equal(can(ability, 'read', 'resource', record), true);
    assert.deepEqual(Object.getOwnPropertyNames(record).sort(), Object.keys(resource()).sort());
  });

  it('accepts a Date createdAt as its ISO string', () => {
    const conditions = { createdAt: { $gte: '2024-06-01T12:00:00Z' } };
    assert.equal(readable(conditions, { createdAt: new Date('2024-06-01T12:00:00.000Z') }), true);
    assert.equal(readable(conditions, { createdAt: new Date('2024-06-01T11:59:59.999Z') }), false);
  });

  it('skips stored rules that are not valid, granting nothing through them', () => {
    const ability = buildAbility(
      [
        { id: 'x', resourceType: 'doc', action: 'read', conditions: { name: { $regex: '.*' } } },
        { id: 'y', resourceType: 'Bad Type', action: 'read', conditions: null },
        { id: 'z', resourceType: 'doc', action: 'read', conditions: { $where: 'true' } },
      ],
      ME,
    );
    assert.equal(can(ability, 'read', 'resource', resource({ type: 'doc' })), false);
    assert.equal(can(ability, 'read', 'resource'), false);
  });
});

describe('condition operators', () => {
  it('$eq / implicit equality, on each kind of field', () => {
    assert.equal(readable({ name: 'Report' }, {}), true);
    assert.equal(readable({ name: 'report' }, {}), false, 'exact, case-sensitive');
    assert.equal(readable({ name: { $eq: 'Report' } }, {}), true);
    assert.equal(readable({ ownerId: OTHER.toUpperCase() }, {}), true, 'uuids are normalised');
    assert.equal(readable({ createdAt: '2024-06-01T14:00:00+02:00' }, {}), true);
    assert.equal(readable({ 'metadata.n': 1 }, { metadata: { n: 1 } }), true);
    assert.equal(readable({ 'metadata.n': 1 }, { metadata: { n: '1' } }), false, 'no type coercion');
    assert.equal(readable({ 'metadata.n': true }, { metadata: { n: true } }), true);
  });

  it('$ne / $nin are true on a missing field; $eq / $in are false', () => {
    assert.equal(readable({ 'metadata.x': { $ne: 1 } }, {}), true);
    assert.equal(readable({ 'metadata.x': { $nin: [1, 2] } }, {}), true);
    assert.equal(readable({ 'metadata.x': { $eq: 1 } }, {}), false);
    assert.equal(readable({ 'metadata.x': { $in: [1, 2] } }, {}), false);
    assert.equal(readable({ 'metadata.x': { $ne: 1 } }, { metadata: { x: 1 } }), false);
    assert.equal(readable({ 'metadata.x': { $nin: [1, 2] } }, { metadata: { x: 2 } }), false);
  });

  it('null matches an explicit JSON null only', () => {
    assert.equal(readable({ 'metadata.x': null }, { metadata: { x: null } }), true);
    assert.equal(readable({ 'metadata.x': null }, {}), false);
    assert.equal(readable({ 'metadata.x': { $ne: null } }, {}), true);
    assert.equal(readable({ 'metadata.x': { $in: [null] } }, { metadata: { x: null } }), true);
  });

  it('$in / $nin', () => {
    assert.equal(readable({ name: { $in: ['A', 'Report'] } }, {}), true);
    assert.equal(readable({ name: { $in: ['A', 'B'] } }, {}), false);
    assert.equal(readable({ name: { $nin: ['A', 'Report'] } }, {}), false);
    assert.equal(readable({ name: { $nin: ['A', 'B'] } }, {}), true);
  });

  it('$lt / $lte / $gt / $gte on numbers, strings, uuids and timestamps', () => {
    assert.equal(readable({ 'metadata.n': { $lt: 5 } }, { metadata: { n: 4.5 } }), true);
    assert.equal(readable({ 'metadata.n': { $lt: 5 } }, { metadata: { n: 5 } }), false);
    assert.equal(readable({ 'metadata.n': { $lte: 5 } }, { metadata: { n: 5 } }), true);
    assert.equal(readable({ 'metadata.n': { $gt: 5 } }, { metadata: { n: 10 } }), true);
    assert.equal(readable({ 'metadata.n': { $gte: 10 } }, { metadata: { n: 9 } }), false);
    assert.equal(readable({ name: { $gt: 'Q' } }, {}), true);
    assert.equal(readable({ name: { $lt: 'Q' } }, {}), false);
    assert.equal(readable({ id: { $gt: '0190a8f2-3c4d-7e5f-8a9b-00000000a000' } }, {}), true);
    assert.equal(readable({ createdAt: { $lt: '2024-06-02' } }, {}), true);
    assert.equal(readable({ createdAt: { $gt: '2024-06-01T12:00:00.000Z' } }, {}), false);
    assert.equal(readable({ createdAt: { $gte: '2024-06-01T12:00:00.000Z' } }, {}), true);
  });

  it('orders only values of the same type, and never a missing one', () => {
    for (const n of ['10', true, null, [1], { a: 1 }]) {
      assert.equal(readable({ 'metadata.n': { $lt: 100 } }, { metadata: { n } }), false, JSON.stringify(n));
      assert.equal(readable({ 'metadata.n': { $gt: -100 } }, { metadata: { n } }), false, JSON.stringify(n));
    }
    assert.equal(readable({ 'metadata.n': { $lt: 'z' } }, { metadata: { n: 5 } }), false);
    assert.equal(readable({ 'metadata.n': { $lt: 100 } }, {}), false);
    assert.equal(readable({ 'metadata.n': { $gt: 'a' } }, { metadata: { n: 'b' } }), true);
  });

  it('orders strings by code point', () => {
    // UTF-16 code units would put the astral character first.
    assert.equal(readable({ name: { $gt: '\uFF5E' } }, { name: '\u{1F600}' }), true);
    assert.equal(readable({ name: { $lt: 'a' } }, { name: 'B' }), true, 'uppercase sorts first');
  });

  it('$exists, on metadata and on always-present fields', () => {
    assert.equal(readable({ 'metadata.x': { $exists: true } }, { metadata: { x: null } }), true);
    assert.equal(readable({ 'metadata.x': { $exists: true } }, {}), false);
    assert.equal(readable({ 'metadata.x': { $exists: false } }, {}), true);
    assert.equal(readable({ name: { $exists: true } }, {}), true);
    assert.equal(readable({ name: { $exists: false } }, {}), false);
  });

  it('follows nested metadata paths through objects only', () => {
    assert.equal(readable({ 'metadata.a.b': 1 }, { metadata: { a: { b: 1 } } }), true);
    assert.equal(readable({ 'metadata.a.b': 1 }, { metadata: { a: [{ b: 1 }] } }), false, 'no implicit array traversal');
    assert.equal(readable({ 'metadata.a.0': 1 }, { metadata: { a: [1] } }), false, 'no array indexing');
    assert.equal(readable({ 'metadata.a.0': 1 }, { metadata: { a: { 0: 1 } } }), true);
    assert.equal(readable({ 'metadata.tags': 'x' }, { metadata: { tags: ['x'] } }), false, 'no array membership');
    assert.equal(readable({ 'metadata.a.b': { $exists: false } }, { metadata: { a: 'str' } }), true);
    assert.equal(readable({ 'metadata.constructor': { $exists: true } }, {}), false, 'own properties only');
  });

  it('$and / $or, nested', () => {
    const conditions = { $or: [{ ownerId: '${user.id}' }, { $and: [{ 'metadata.public': true }, { name: { $ne: 'Secret' } }] }] };
    assert.equal(readable(conditions, { ownerId: ME, name: 'Secret' }), true);
    assert.equal(readable(conditions, { metadata: { public: true } }), true);
    assert.equal(readable(conditions, { metadata: { public: true }, name: 'Secret' }), false);
    assert.equal(readable(conditions, { metadata: { public: false } }), false);
  });

  it('ANDs several operators on one field and several fields', () => {
    const conditions = { 'metadata.n': { $gt: 1, $lt: 3 }, name: 'Report' };
    assert.equal(readable(conditions, { metadata: { n: 2 } }), true);
    assert.equal(readable(conditions, { metadata: { n: 3 } }), false);
    assert.equal(readable(conditions, { metadata: { n: 2 }, name: 'Other' }), false);
  });
});

describe('canUnconditionally', () => {
  it('is true only for a rule without conditions covering every record', () => {
    assert.equal(canUnconditionally(buildAbility([rule('*', 'read')], ME), 'read', 'resource'), true);
    assert.equal(canUnconditionally(buildAbility([rule('*', 'manage')], ME), 'delete', 'resource'), true);
    assert.equal(canUnconditionally(buildAbility([rule('doc', 'read')], ME), 'read', 'resource'), false, 'a type rule covers one type');
    assert.equal(canUnconditionally(buildAbility([rule('*', 'read', { ownerId: '${user.id}' })], ME), 'read', 'resource'), false);
    assert.equal(canUnconditionally(buildAbility([rule('*', 'read')], ME), 'update', 'resource'), false);
    assert.equal(canUnconditionally(buildAbility([rule('user', 'read')], ME), 'read', 'user'), true);
    assert.equal(canUnconditionally(buildAbility([rule('user', 'read', { id: '${user.id}' })], ME), 'read', 'user'), false);
    assert.equal(canUnconditionally(buildAbility([rule('*', 'manage')], ME), 'read', 'user'), false);
  });
});
