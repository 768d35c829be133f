import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatConditions, messageFor, parseConditions, splitProblems } from '../../web/src/admin/conditions.js';

/** The condition editor's model (web/src/admin/conditions.ts), apart from the DOM. */
describe('console: condition editor model', () => {
  it('reads empty text and null as unconditional, and an object as conditions', () => {
    assert.deepEqual(parseConditions('  \n'), { ok: true, conditions: null });
    assert.deepEqual(parseConditions('null'), { ok: true, conditions: null });
    assert.deepEqual(parseConditions('{"ownerId": "${user.id}"}'), { ok: true, conditions: { ownerId: '${user.id}' } });
  });

  it('refuses what is not JSON, saying where, and JSON that is not an object', () => {
    const broken = parseConditions('{\n  "a": ,\n}');
    assert.equal(broken.ok, false);
    assert.ok(!broken.ok);
    assert.equal(broken.message, "Not valid JSON: Unexpected token ','.");
    assert.equal(parseConditions('{"a": ').ok, false);
    for (const text of ['[1]', '"x"', '3', 'true']) {
      const parsed = parseConditions(text);
      assert.ok(!parsed.ok, text);
      assert.match(parsed.message, /must be a JSON object/);
    }
  });

  it("splits the server's field errors into paths inside the conditions and the rest", () => {
    const split = splitProblems([
      { field: 'conditions/$or/1/createdAt/$gt', message: 'must be a date-time' },
      { field: 'conditions', message: 'must be an object' },
      { field: 'resourceType', message: 'is unknown' },
      { field: 'conditionsX', message: 'not a condition' },
    ]);
    assert.deepEqual(split.conditions, [
      { path: '$or/1/createdAt/$gt', message: 'must be a date-time' },
      { path: '', message: 'must be an object' },
    ]);
    assert.deepEqual(
      split.other.map((e) => e.field),
      ['resourceType', 'conditionsX'],
    );
  });

  it('finds the message of a field, with or without a leading slash', () => {
    const errors = [{ field: '/email', message: 'must be an email' }];
    assert.equal(messageFor(errors, 'email'), 'must be an email');
    assert.equal(messageFor(errors, 'name'), undefined);
  });

  it('shows unconditional as empty text and conditions as indented JSON', () => {
    assert.equal(formatConditions(null), '');
    assert.equal(formatConditions({}), '');
    assert.equal(formatConditions({ a: 1 }), '{\n  "a": 1\n}');
  });
});
