import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseJson, describeJsonProblem, prettyJson, sameJson, sortKeys } from '../../web/src/editor/json-text.js';
import { changesOf, checkDraft, draftOf, isEdited } from '../../web/src/pages/resources/draft.js';
import { fieldMessages } from '../../web/src/pages/resources/field-errors.js';
import { formatBytes, ownerLabel, shownCount } from '../../web/src/pages/resources/format.js';
import { apiFilters, filtersFromQuery, filtersToQuery, isFiltered } from '../../web/src/pages/resources/list-query.js';

/** The console's documents pages, the parts that are no UI: JSON text, diff, drafts, filters. */
describe('console documents: JSON text', () => {
  it('parses, and places a syntax error by line and column', () => {
    assert.deepEqual(parseJson(' {"a": [1, 2]} '), { ok: true, value: { a: [1, 2] } });
    const broken = parseJson('{\n  "a": 1,\n}');
    assert.equal(broken.ok, false);
    if (broken.ok) return;
    assert.equal(broken.line, 3);
    assert.equal(broken.column, 1);
    assert.doesNotMatch(broken.message, /position/);
    assert.match(describeJsonProblem(broken), /\(line 3, column 1\)$/);
  });

  it('refuses an empty editor, saying what to write instead', () => {
    const empty = parseJson('  \n');
    assert.equal(empty.ok, false);
    assert.match(describeJsonProblem(empty as { message: string }), /\{\} or null/);
  });

  it('compares by content, whatever the key order, and keeps a __proto__ key a key', () => {
    assert.equal(sameJson({ a: 1, b: { c: 2, d: 3 } }, { b: { d: 3, c: 2 }, a: 1 }), true);
    assert.equal(sameJson({ a: [1, 2] }, { a: [2, 1] }), false);
    const value = JSON.parse('{"b": 1, "__proto__": {"x": 1}}') as unknown;
    assert.equal(JSON.stringify(sortKeys(value)), '{"__proto__":{"x":1},"b":1}');
    assert.equal(prettyJson(undefined), 'null');
  });
});

describe('console documents: drafts', () => {
  const base = { name: 'Plan', type: 'plan', metadata: { team: 'a' }, data: { steps: [1] } };

  it('prints a document for editing and sees no edit in it', () => {
    const draft = draftOf(base);
    assert.equal(draft.data, '{\n  "steps": [\n    1\n  ]\n}');
    assert.equal(isEdited(base, draft), false);
    assert.equal(isEdited(base, { ...draft, data: draft.data.replace('1', '2') }), true);
  });

  it('refuses a draft with no name, bad JSON or metadata that is no object', () => {
    const { problems, value } = checkDraft({ name: ' ', type: 'plan', metadata: '[1]', data: '{' });
    assert.equal(value, undefined);
    assert.equal(problems.name, 'Enter a name.');
    assert.match(problems.metadata ?? '', /must be a JSON object/);
    assert.match(problems.data ?? '', /^Not valid JSON: /);
  });

  it('sends only what changed, by content', () => {
    const draft = { ...draftOf(base), metadata: '{"team": "a"}', data: '{"steps": [1, 2]}' };
    const { value } = checkDraft(draft);
    assert.ok(value);
    assert.deepEqual(changesOf(base, value), { data: { steps: [1, 2] } });
    assert.deepEqual(changesOf(base, { ...value, name: 'New', data: base.data }), { name: 'New' });
  });
});

describe('console documents: field errors', () => {
  it("puts the server's errors on the field their path starts with, keeping the path inside it", () => {
    const { fields, other } = fieldMessages([
      { field: 'data/a/__proto__', message: 'keys __proto__ and constructor.prototype are not allowed' },
      { field: 'type', message: 'must match pattern' },
      { field: 'type', message: 'must not be user' },
      { field: 'ownerId', message: 'is not a uuid' },
    ]);
    assert.deepEqual(fields, {
      data: '/a/__proto__: keys __proto__ and constructor.prototype are not allowed',
      type: 'must match pattern; must not be user',
    });
    assert.deepEqual(other, [{ field: 'ownerId', message: 'is not a uuid' }]);
  });
});

describe('console documents: list filters and figures', () => {
  it('reads the filters from the route and writes only those set', () => {
    const filters = filtersFromQuery(new URLSearchParams('type=note&owner=mine&q=%20plan%20'));
    assert.deepEqual(filters, { type: 'note', owner: 'mine', q: 'plan' });
    assert.deepEqual(filtersToQuery({ type: '', owner: '', q: 'x' }), { type: undefined, owner: undefined, q: 'x' });
    assert.equal(isFiltered(filtersFromQuery(new URLSearchParams(''))), false);
  });

  it('asks the API for "mine" by the person\'s id', () => {
    assert.deepEqual(apiFilters({ type: 'note', owner: 'mine', q: '' }, 'me-id'), { type: 'note', ownerId: 'me-id' });
    assert.deepEqual(apiFilters({ type: '', owner: 'other-id', q: 'x' }, 'me-id'), { ownerId: 'other-id', q: 'x' });
  });

  it('prints counts, sizes and owners', () => {
    assert.equal(shownCount(12, false), '12 shown');
    assert.equal(shownCount(25, true), '25 shown, more to load');
    assert.equal(formatBytes(1), '1 byte');
    assert.equal(formatBytes(1536), '1.5 KB');
    assert.equal(formatBytes(256 * 1024 * 1024), '256 MB');
    assert.equal(ownerLabel('abc', 'abc'), 'You');
    assert.equal(ownerLabel('0123456789abcdef', 'me'), 'User 01234567');
  });
});
