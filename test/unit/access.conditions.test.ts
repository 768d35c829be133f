import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAppError } from '../../src/core/errors.js';
import { validatePermissionInput, type PermissionInput } from '../../src/services/access/index.js';

const UUID = '0190A8F2-3C4D-7E5F-8A9B-0C1D2E3F4A5B';
const uuid = UUID.toLowerCase();

function valid(conditions: unknown, resourceType = 'doc', action = 'read') {
  return validatePermissionInput({ resourceType, action, conditions }).conditions;
}

/** The field paths of the INVALID_INPUT error the input is rejected with. */
function rejected(input: Partial<PermissionInput>): string[] {
  try {
    validatePermissionInput({ resourceType: 'doc', action: 'read', conditions: null, ...input });
  } catch (err) {
    assert.ok(isAppError(err), `a contract error, got ${String(err)}`);
    assert.equal(err.code, 'INVALID_INPUT');
    assert.equal(err.status, 400);
    assert.equal(err.message, 'The permission is invalid.');
    assert.ok(err.errors && err.errors.length > 0);
    for (const e of err.errors) assert.ok(e.message.length > 0);
    return err.errors.map((e) => e.field);
  }
  assert.fail(`accepted ${JSON.stringify(input)}`);
}

const rejectsConditions = (conditions: unknown, resourceType = 'doc') => rejected({ conditions, resourceType });

describe('validatePermissionInput: accepts', () => {
  it('every action and every kind of resourceType', () => {
    for (const action of ['create', 'read', 'update', 'delete', 'manage']) {
      for (const resourceType of ['doc', 'a', 'x.y-z_1', '*', 'user', 'role']) {
        assert.deepEqual(validatePermissionInput({ resourceType, action, conditions: null }), { resourceType, action, conditions: null });
      }
    }
  });

  it('null, absent and {} conditions as unconditional', () => {
    assert.equal(valid(null), null);
    assert.equal(valid(undefined), null);
    assert.equal(valid({}), null);
  });

  it('each operator on each kind of resource field', () => {
    const conditions = {
      id: { $eq: uuid, $ne: uuid, $in: [uuid], $nin: [uuid], $lt: uuid, $lte: uuid, $gt: uuid, $gte: uuid, $exists: true },
      ownerId: uuid,
      name: { $eq: 'a', $ne: 'b', $in: ['c', 'd'], $nin: ['e'], $lt: 'f', $lte: 'g', $gt: 'h', $gte: 'i', $exists: false },
      type: 'doc',
      createdAt: {
        $eq: '2024-01-02T03:04:05.678Z',
        $in: ['2024-01-02T03:04:05.678Z'],
        $lt: '2024-01-02T03:04:05.678Z',
        $gte: '2024-01-02T03:04:05.678Z',
      },
      'metadata.n': { $eq: 1.5, $ne: null, $in: [1, 'one', true, null], $nin: [false], $lt: 10, $gte: 'a', $exists: true },
      'metadata.a.b-c.D_4.5': 'deep',
    };
    assert.deepEqual(valid(conditions), conditions);
  });

  it('the ${user.id} placeholder in uuid fields and metadata values', () => {
    const conditions = { ownerId: '${user.id}', id: { $in: ['${user.id}', uuid] }, 'metadata.sharedWith': { $eq: '${user.id}' } };
    assert.deepEqual(valid(conditions), conditions);
    assert.deepEqual(valid({ id: '${user.id}' }, 'user'), { id: '${user.id}' });
  });

  it('$and and $or, nested up to four levels', () => {
    const conditions = { $or: [{ ownerId: '${user.id}' }, { $and: [{ type: 'doc' }, { $or: [{ name: 'a' }, { $and: [{ name: 'b' }] }] }] }] };
    assert.deepEqual(valid(conditions, '*'), conditions);
  });

  it('user and role fields for the system types', () => {
    assert.deepEqual(valid({ email: 'a@example.com', name: { $ne: 'x' }, createdAt: { $gt: '2024-01-01' } }, 'user'), {
      email: 'a@example.com',
      name: { $ne: 'x' },
      createdAt: { $gt: '2024-01-01T00:00:00.000Z' },
    });
    assert.deepEqual(valid({ name: 'admin', id: UUID }, 'role'), { name: 'admin', id: uuid });
  });

  it('normalises UUIDs to lowercase and timestamps to toISOString()', () => {
    assert.deepEqual(valid({ ownerId: UUID, id: { $in: [UUID] } }), { ownerId: uuid, id: { $in: [uuid] } });
    assert.deepEqual(valid({ createdAt: '2024-03-01T10:00:00+02:00' }), { createdAt: '2024-03-01T08:00:00.000Z' });
    assert.deepEqual(valid({ createdAt: { $lt: '2024-02-29T23:59Z' } }), { createdAt: { $lt: '2024-02-29T23:59:00.000Z' } });
    assert.deepEqual(valid({ createdAt: '2024-01-01T00:00:00.1239Z' }), { createdAt: '2024-01-01T00:00:00.123Z' });
  });

  it('does not modify its input', () => {
    const input = { ownerId: UUID };
    valid(input);
    assert.deepEqual(input, { ownerId: UUID });
  });

  it('exactly 50 leaf conditions and 100 $in values', () => {
    const fifty = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`metadata.k${i}`, i]));
    assert.deepEqual(valid(fifty), fifty);
    const hundred = { name: { $in: Array.from({ length: 100 }, (_, i) => `n${i}`) } };
    assert.deepEqual(valid(hundred), hundred);
  });
});

describe('validatePermissionInput: rejects', () => {
  it('a bad action or resourceType, reporting both at once', () => {
    assert.deepEqual(rejected({ action: 'write', resourceType: 'Doc' }), ['resourceType', 'action']);
    for (const resourceType of [undefined, '', 'Doc', '1doc', 'a b', 'x'.repeat(65), 7, '**']) {
      assert.deepEqual(rejected({ resourceType }), ['resourceType'], String(resourceType));
    }
    for (const action of [undefined, 'READ', 'all', '*', 1]) assert.deepEqual(rejected({ action }), ['action'], String(action));
  });

  it('conditions that are not an object', () => {
    for (const conditions of ['x', 1, true, [], [{ name: 'a' }]]) assert.deepEqual(rejectsConditions(conditions), ['conditions']);
  });

  it('unknown fields, per subject type', () => {
    assert.deepEqual(rejectsConditions({ owner: uuid }), ['conditions/owner']);
    assert.deepEqual(rejectsConditions({ email: 'a' }), ['conditions/email']);
    assert.deepEqual(rejectsConditions({ metadata: { a: 1 } }), ['conditions/metadata']);
    assert.deepEqual(rejectsConditions({ ownerId: uuid }, 'user'), ['conditions/ownerId']);
    assert.deepEqual(rejectsConditions({ 'metadata.a': 1 }, 'user'), ['conditions/metadata.a']);
    assert.deepEqual(rejectsConditions({ email: 'a' }, 'role'), ['conditions/email']);
    assert.deepEqual(rejectsConditions({ 'name.first': 'a' }), ['conditions/name.first']);
  });

  it('bad metadata paths', () => {
    for (const field of ['metadata.', 'metadata.a..b', 'metadata.a b', 'metadata.é', `metadata.${'k'.repeat(65)}`, 'metadata.a.b.c.d.e']) {
      assert.deepEqual(rejectsConditions({ [field]: 1 }), [`conditions/${field}`], field);
    }
  });

  it('forbidden and unknown operators', () => {
    assert.deepEqual(rejectsConditions({ $where: 'true' }), ['conditions/$where']);
    assert.deepEqual(rejectsConditions({ $nor: [{ name: 'a' }] }), ['conditions/$nor']);
    assert.deepEqual(rejectsConditions({ name: { $regex: '^a' } }), ['conditions/name/$regex']);
    assert.deepEqual(rejectsConditions({ 'metadata.tags': { $elemMatch: { $eq: 1 } } }), ['conditions/metadata.tags/$elemMatch']);
    assert.deepEqual(rejectsConditions({ name: { $all: ['a'] } }), ['conditions/name/$all']);
    assert.deepEqual(rejectsConditions({ name: { $not: { $eq: 'a' } } }), ['conditions/name/$not']);
    assert.deepEqual(rejectsConditions({ name: { eq: 'a' } }), ['conditions/name/eq']);
    assert.deepEqual(rejectsConditions({ name: {} }), ['conditions/name']);
  });

  it('arrays as implicit values and objects as operand values', () => {
    assert.deepEqual(rejectsConditions({ name: ['a', 'b'] }), ['conditions/name']);
    assert.deepEqual(rejectsConditions({ 'metadata.a': [1] }), ['conditions/metadata.a']);
    assert.deepEqual(rejectsConditions({ 'metadata.a': { $eq: { b: 1 } } }), ['conditions/metadata.a/$eq']);
    assert.deepEqual(rejectsConditions({ 'metadata.a': { $eq: [1] } }), ['conditions/metadata.a/$eq']);
    assert.deepEqual(rejectsConditions({ 'metadata.a': { $in: [[1]] } }), ['conditions/metadata.a/$in/0']);
  });

  it('a non-boolean $exists', () => {
    for (const value of [1, 'true', null]) assert.deepEqual(rejectsConditions({ name: { $exists: value } }), ['conditions/name/$exists']);
  });

  it('a non-array, empty or oversized $in / $nin', () => {
    for (const op of ['$in', '$nin']) {
      for (const value of ['a', [], Array.from({ length: 101 }, (_, i) => `n${i}`), { 0: 'a' }]) {
        assert.deepEqual(rejectsConditions({ name: { [op]: value } }), [`conditions/name/${op}`]);
      }
    }
    assert.deepEqual(rejectsConditions({ ownerId: { $in: [uuid, 'nope', uuid, 3] } }), ['conditions/ownerId/$in/1', 'conditions/ownerId/$in/3']);
  });

  it('bad $and / $or', () => {
    for (const value of [{ name: 'a' }, [], 'x', null]) {
      assert.deepEqual(rejectsConditions({ $and: value }), ['conditions/$and']);
      assert.deepEqual(rejectsConditions({ $or: value }), ['conditions/$or']);
    }
    assert.deepEqual(rejectsConditions({ $or: [{ name: 'a' }, {}, 'x', [{}]] }), ['conditions/$or/1', 'conditions/$or/2', 'conditions/$or/3']);
    assert.deepEqual(rejectsConditions({ $and: [{ name: { $gt: 1 } }] }), ['conditions/$and/0/name/$gt']);
  });

  it('$and / $or nested deeper than four levels', () => {
    const five = { $or: [{ $and: [{ $or: [{ $and: [{ $or: [{ name: 'a' }] }] }] }] }] };
    assert.deepEqual(rejectsConditions(five), ['conditions/$or/0/$and/0/$or/0/$and/0/$or']);
  });

  it('more than 50 leaf conditions, however they are spread', () => {
    const fiftyOne = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`metadata.k${i}`, i]));
    assert.deepEqual(rejectsConditions(fiftyOne), ['conditions']);
    const spread = { $or: Array.from({ length: 26 }, (_, i) => ({ name: { $gt: `a${i}`, $lt: `b${i}` } })) };
    assert.deepEqual(rejectsConditions(spread), ['conditions']);
  });

  it('values of the wrong type for the field', () => {
    assert.deepEqual(rejectsConditions({ id: 'not-a-uuid' }), ['conditions/id']);
    assert.deepEqual(rejectsConditions({ ownerId: { $gt: 5 } }), ['conditions/ownerId/$gt']);
    assert.deepEqual(rejectsConditions({ ownerId: null }), ['conditions/ownerId']);
    assert.deepEqual(rejectsConditions({ name: 5 }), ['conditions/name']);
    assert.deepEqual(rejectsConditions({ name: null }), ['conditions/name']);
    assert.deepEqual(rejectsConditions({ type: { $in: ['doc', true] } }), ['conditions/type/$in/1']);
    assert.deepEqual(rejectsConditions({ 'metadata.n': Number.NaN }), ['conditions/metadata.n']);
    assert.deepEqual(rejectsConditions({ 'metadata.n': { $gt: Infinity } }), ['conditions/metadata.n/$gt']);
    assert.deepEqual(rejectsConditions({ 'metadata.n': { $lt: true } }), ['conditions/metadata.n/$lt']);
    assert.deepEqual(rejectsConditions({ 'metadata.n': { $gte: null } }), ['conditions/metadata.n/$gte']);
  });

  it('timestamps that are not ISO 8601 instants', () => {
    for (const value of [
      'yesterday',
      '2024-13-01',
      '2023-02-29',
      '2024-04-31',
      '2024-01-01T24:00:00Z',
      '2024-01-01T10:00:00',
      '2024-01-01 10:00:00Z',
      1704067200000,
      '0000-01-01',
      '0001-01-01T00:00:00+01:00',
      '+010000-01-01T00:00:00Z',
      '${user.id}',
    ]) {
      assert.deepEqual(rejectsConditions({ createdAt: { $gt: value } }), ['conditions/createdAt/$gt'], String(value));
    }
  });

  it('the placeholder outside uuid fields and metadata', () => {
    assert.deepEqual(rejectsConditions({ name: '${user.id}' }), ['conditions/name']);
    assert.deepEqual(rejectsConditions({ email: { $in: ['${user.id}'] } }, 'user'), ['conditions/email/$in/0']);
    assert.deepEqual(rejectsConditions({ ownerId: '${user.ID}' }), ['conditions/ownerId']);
  });

  it('strings PostgreSQL cannot store', () => {
    assert.deepEqual(rejectsConditions({ name: 'a\u0000b' }), ['conditions/name']);
    assert.deepEqual(rejectsConditions({ 'metadata.a': '\uD800' }), ['conditions/metadata.a']);
  });

  it('listing every problem, with JSON-pointer escaped paths', () => {
    assert.deepEqual(
      rejected({
        resourceType: 'Bad',
        conditions: { 'a/b': 1, name: { $gt: 1, $foo: 2 }, $and: [{ ownerId: 'x' }] },
      }),
      ['resourceType', 'conditions/a~1b', 'conditions/name/$gt', 'conditions/name/$foo', 'conditions/$and/0/ownerId'],
    );
  });
});
