import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../../src/core/errors.js';
import { boundedPatch, DIFF_LIMITS, diffJson, type DiffLimits } from '../../src/services/resources/diff.js';
import { applyStrict, normalise, type Json } from '../support/json-patch.js';

/**
 * The diff's budget (docs/limits.md "Diffs"): every member, element and table cell is charged, so
 * work grows with the data, and a diff over its work or size limit is refused, never cut
 * short into a wrong patch. The clock is switched off here (maxMs), so outcomes depend on
 * the data alone.
 */

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const NO_CLOCK: DiffLimits = { ...DIFF_LIMITS, maxMs: Number.POSITIVE_INFINITY };
const wide = (keys: number, value: (k: number) => Json): Json => Object.fromEntries(range(keys).map((k) => [`k${k}`, value(k)]));
/** The shape, smaller: objects of many keys, one changed in each. */
const wideObjects = (objects: number, keys: number, v: number): Json => range(objects).map((i) => wide(keys, (k) => (k === 7 ? v : `v${i}_${k}`)));

describe('resource diff budget', () => {
  it('charges every member of an object, even when nothing differs', () => {
    for (const n of [100, 1000]) {
      const { ok, work } = diffJson(
        wide(n, (k) => k),
        wide(n, (k) => k),
        NO_CLOCK,
      );
      assert.ok(ok);
      assert.ok(work >= 2 * n, `${n} members on each side cost at least ${2 * n} units, not ${work}`);
    }
  });

  it('charges the elements of arrays that differ in every element: work grows with their members', () => {
    const small = diffJson(wideObjects(10, 100, 1), wideObjects(10, 100, 2), NO_CLOCK);
    const large = diffJson(wideObjects(10, 1000, 1), wideObjects(10, 1000, 2), NO_CLOCK);
    assert.ok(small.ok && large.ok);
    assert.equal(small.patch.length, 10);
    assert.ok(large.work >= 8 * small.work, `10 times the members, about 10 times the work: ${small.work} then ${large.work}`);
  });

  it('refuses (work) a diff over the work limit instead of answering late, and says so with a 422', () => {
    const [a, b] = [wideObjects(46, 1300, 1), wideObjects(46, 1300, 2)];
    const needed = diffJson(a, b, NO_CLOCK);
    assert.ok(needed.ok, "the issue's shape fits the default budget");
    const tight = { ...NO_CLOCK, maxWork: Math.floor(needed.work / 2) };
    const refused = diffJson(a, b, tight);
    assert.deepEqual([refused.ok, !refused.ok && refused.limit], [false, 'work']);
    assert.ok(refused.work <= tight.maxWork + 100_000, 'it stops soon after the budget is spent');
    assert.throws(
      () => boundedPatch(a, b, tight),
      (err: unknown) =>
        err instanceof AppError &&
        err.code === 'UNPROCESSABLE_ENTITY' &&
        /too large: it would take too long to compute\. Read both versions instead\./.test(err.message),
    );
  });

  it('refuses (size) a patch over the size limit', () => {
    const refused = diffJson(
      wide(1000, (k) => k),
      wide(1000, (k) => -k - 1),
      { ...NO_CLOCK, maxPatchBytes: 10_000 },
    );
    assert.deepEqual([refused.ok, !refused.ok && refused.limit], [false, 'size']);
    assert.throws(
      () => boundedPatch(range(5000), range(5000).map(String), { ...NO_CLOCK, maxPatchBytes: 10_000 }),
      /larger than 10000 bytes\. Read both versions instead\./,
    );
  });

  it('falls back to pairing by index when edit tables would take the budget, and the patch still applies', () => {
    // 300 arrays of 300 numbers, each changed at both ends: one table per pair would be 27M cells.
    const a = range(300).map((i) => range(300).map((j) => i * 300 + j));
    const b = a.map((row) => [-1, ...row.slice(1, -1), -2]);
    const outcome = diffJson(a, b, NO_CLOCK);
    assert.ok(outcome.ok, 'a patch, not a refusal');
    assert.ok(outcome.work <= NO_CLOCK.maxWork);
    assert.equal(outcome.patch.length, 600, 'two replaces per row');
    assert.deepStrictEqual(applyStrict(normalise(a), outcome.patch), b);
  });
});
