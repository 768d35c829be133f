import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { countChanges, describeOperation, diffJson, diffText, foldUnchanged, pairLines, stableJson, type DiffLine } from '../../web/src/ui/json-diff-model.js';

const marks = (lines: DiffLine[]) => lines.map((l) => `${l.kind === 'added' ? '+' : l.kind === 'removed' ? '-' : ' '}${l.text}`);

describe('console: the JSON diff model', () => {
  it('prints JSON with its keys sorted at every depth, so key order is no change', () => {
    const a = { b: 1, a: { d: [{ z: 1, y: 2 }], c: null } };
    const b = { a: { c: null, d: [{ y: 2, z: 1 }] }, b: 1 };
    assert.equal(stableJson(a), stableJson(b));
    assert.equal(stableJson(a), '{\n  "a": {\n    "c": null,\n    "d": [\n      {\n        "y": 2,\n        "z": 1\n      }\n    ]\n  },\n  "b": 1\n}');
    assert.deepEqual(
      diffJson(a, b).filter((l) => l.kind !== 'same'),
      [],
    );
  });

  it('prints values JSON cannot hold without throwing', () => {
    assert.equal(stableJson(undefined), 'undefined');
    assert.equal(stableJson('text'), '"text"');
  });

  it('marks the lines of nested objects in arrays that changed, numbered on each side', () => {
    const before = { title: 'Plan', sections: [{ heading: 'One', tags: ['a'] }] };
    const after = { title: 'Plan', sections: [{ heading: 'Uno', tags: ['a', 'b'] }] };
    const lines = diffJson(before, after);
    assert.deepEqual(
      marks(lines).filter((l) => !l.startsWith(' ')),
      ['-      "heading": "One",', '+      "heading": "Uno",', '-        "a"', '+        "a",', '+        "b"'],
    );
    const removedHeading = lines.find((l) => l.kind === 'removed' && l.text.includes('One'))!;
    const addedHeading = lines.find((l) => l.kind === 'added' && l.text.includes('Uno'))!;
    assert.equal(removedHeading.before, 4);
    assert.equal(removedHeading.after, undefined);
    assert.equal(addedHeading.after, 4);
    assert.deepEqual(countChanges(lines), { added: 3, removed: 2 });
    // Every line of both texts is there once, in order.
    assert.deepEqual(
      lines.filter((l) => l.before !== undefined).map((l) => l.before),
      stableJson(before)
        .split('\n')
        .map((_, i) => i + 1),
    );
    assert.deepEqual(
      lines.filter((l) => l.after !== undefined).map((l) => l.after),
      stableJson(after)
        .split('\n')
        .map((_, i) => i + 1),
    );
  });

  it('marks a change of the last line as that line only', () => {
    assert.deepEqual(marks(diffText('a\nb', 'a\nc')), [' a', '-b', '+c']);
    assert.deepEqual(marks(diffText('', 'x')), ['-', '+x']);
  });

  it('pairs each run of removed lines with the added run after it, side by side', () => {
    const rows = pairLines(diffText('a\nb\nc\nd', 'a\nB\nC\nX\nd'));
    const show = rows.map((r) => `${r.left ? `${r.left.kind[0]}:${r.left.text}` : '_'} | ${r.right ? `${r.right.kind[0]}:${r.right.text}` : '_'}`);
    assert.deepEqual(show, ['s:a | s:a', 'r:b | a:B', 'r:c | a:C', '_ | a:X', 's:d | s:d']);
  });

  it('folds long unchanged stretches, keeping context around each change', () => {
    const rows = Array.from({ length: 20 }, (_, i) => i);
    const segments = foldUnchanged(rows, (i) => i === 10, 2);
    assert.deepEqual(
      segments.map((s) => `${s.kind}:${s.rows[0]}-${s.rows[s.rows.length - 1]}`),
      ['folded:0-7', 'shown:8-12', 'folded:13-19'],
    );
    // Every row is in exactly one segment, in order.
    assert.deepEqual(
      segments.flatMap((s) => s.rows),
      rows,
    );
  });

  it('never folds fewer lines than the fold costs, and shows a diff without changes folded', () => {
    const rows = Array.from({ length: 10 }, (_, i) => i);
    assert.deepEqual(
      foldUnchanged(rows, (i) => i === 5, 3, 4).map((s) => s.kind),
      ['shown'],
    );
    assert.deepEqual(
      foldUnchanged(rows, () => false).map((s) => s.kind),
      ['folded'],
    );
    assert.deepEqual(
      foldUnchanged([], () => true),
      [],
    );
  });

  it('says each RFC 6902 operation as op and path', () => {
    assert.equal(describeOperation({ op: 'replace', path: '/title' }), 'replace /title');
    assert.equal(describeOperation({ op: 'move', from: '/a/0', path: '/b/1' }), 'move /a/0 → /b/1');
    assert.equal(describeOperation({ op: 'replace', path: '' }), 'replace / (the whole document)');
  });
});
