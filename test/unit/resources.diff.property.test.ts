import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Operation } from 'rfc6902';
import { DIFF_LIMITS, diffJson, type DiffLimits } from '../../src/services/resources/diff.js';
import { applyStrict, isObject, normalise, setMember, type Json } from '../support/json-patch.js';

/**
 * The diff of DESIGN §5 "Resources" (`GET /resources/{id}/diff`) is `diffJson`
 * (src/services/resources/diff.ts, our bounded diff, not a library's) of two versions' data.
 * These properties say that its patch, sent as JSON, turns `a` into `b` for any JSON values, applied by a strict RFC 6902 / RFC 6901 applier written here (so the
 * test does not trust the library to check itself): keys that need escaping (`~`, `/`),
 * keys that are special in JavaScript (`__proto__`, `constructor`), arrays of different
 * lengths, nested nulls, and a change of type at the root (path "").
 */

/** Keys that JSON pointers must escape, that JavaScript treats specially, or that look like indices. */
const trickyKey = fc.constantFrom(
  '~',
  '/',
  '~0',
  '~1',
  '~01',
  '/~',
  'a/b',
  'a~b',
  '',
  ' ',
  '0',
  '01',
  '-',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
);
const key = fc.oneof({ arbitrary: trickyKey, weight: 1 }, { arbitrary: fc.string({ maxLength: 4 }), weight: 2 });
const scalar = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer({ min: -3, max: 3 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 3 }),
);

/** JSON values with tricky keys, bounded depth and width; built with defineProperty so `__proto__` is a member. */
const { value: trickyJson } = fc.letrec<{ value: unknown; array: unknown[]; object: Record<string, unknown> }>((tie) => ({
  value: fc.oneof({ depthSize: 'small', maxDepth: 4, withCrossShrink: true }, scalar, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 6 }),
  object: fc.uniqueArray(fc.tuple(key, tie('value')), { maxLength: 5, selector: ([k]) => k }).map((entries) => {
    const object: Record<string, unknown> = {};
    for (const [k, v] of entries) Object.defineProperty(object, k, { value: v, writable: true, enumerable: true, configurable: true });
    return object;
  }),
}));

const anyJson = fc.oneof(fc.jsonValue({ maxDepth: 4 }), trickyJson).map(normalise);

/** Pairs that share structure, so diffs are small edits rather than wholesale replacements. */
const editedPair = anyJson.chain((a) => fc.tuple(fc.constant(a), fc.oneof(anyJson, fc.constant(a), mutate(a))).map(([x, y]) => [x, normalise(y)] as const));

/** A value like `v` with a few random edits somewhere inside it. */
function mutate(v: Json): fc.Arbitrary<Json> {
  if (Array.isArray(v)) {
    return fc.oneof(
      fc.tuple(fc.nat(v.length), anyJson).map(([i, x]) => [...v.slice(0, i), x, ...v.slice(i)]),
      fc.nat(Math.max(0, v.length - 1)).map((i) => v.filter((_, j) => j !== i)),
      v.length === 0 ? fc.constant<Json>([null]) : fc.nat(v.length - 1).chain((i) => mutate(v[i]!).map((x) => v.map((y, j) => (j === i ? x : y)))),
    );
  }
  if (isObject(v)) {
    const keys = Object.keys(v);
    return fc.oneof(
      fc.tuple(key, anyJson).map(([k, x]) => {
        const copy = normalise(v) as Record<string, Json>;
        setMember(copy, k, x);
        return copy;
      }),
      keys.length === 0
        ? fc.constant<Json>({ '~/': null })
        : fc.constantFrom(...keys).chain((k) =>
            fc.oneof(
              mutate(v[k]!).map((x) => {
                const copy = normalise(v) as Record<string, Json>;
                setMember(copy, k, x);
                return copy;
              }),
              fc.constant(null).map(() => {
                const copy = normalise(v) as Record<string, Json>;
                delete copy[k];
                return copy;
              }),
            ),
          ),
    );
  }
  return anyJson;
}

/** Our diff's patch from a to b, which these small values never exceed the budget of. */
function createPatch(a: unknown, b: unknown, limits: DiffLimits = DIFF_LIMITS): Operation[] {
  const outcome = diffJson(a, b, limits);
  assert.ok(outcome.ok, `refused (${outcome.ok ? '' : outcome.limit}) within the default budget: ${JSON.stringify([a, b]).slice(0, 300)}`);
  return outcome.patch;
}

/** A budget without a clock (so no run depends on the machine's load). */
const NO_CLOCK = { ...DIFF_LIMITS, maxMs: Number.MAX_SAFE_INTEGER };

/** The patch as a client receives it: JSON text. */
const overTheWire = (patch: Operation[]): Operation[] => JSON.parse(JSON.stringify(patch)) as Operation[];

const RUNS = 1000;

describe('resource diff (boundedPatch) round trip', () => {
  it('turns a into b for arbitrary JSON values a and b', () => {
    fc.assert(
      fc.property(anyJson, anyJson, (a, b) => {
        const patch = overTheWire(createPatch(a, b));
        assert.deepStrictEqual(applyStrict(normalise(a), patch), b);
        assert.deepStrictEqual(a, normalise(a), 'createPatch leaves its input alone');
      }),
      { numRuns: RUNS },
    );
  });

  it('turns a into b for values that differ by small edits (the usual case between versions)', () => {
    fc.assert(
      fc.property(editedPair, ([a, b]) => {
        const patch = overTheWire(createPatch(a, b));
        assert.deepStrictEqual(applyStrict(normalise(a), patch), b);
        assert.deepStrictEqual(applyStrict(normalise(b), overTheWire(createPatch(b, a))), a, 'and back');
      }),
      { numRuns: RUNS },
    );
  });

  it('is empty exactly when the values are equal as JSON', () => {
    fc.assert(
      fc.property(editedPair, ([a, b]) => {
        assert.equal(createPatch(a, b).length === 0, JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b)));
        assert.deepEqual(createPatch(a, normalise(a)), []);
      }),
      { numRuns: RUNS },
    );
  });

  it('turns a into b when arrays are aligned index by index (their edit table over its limit)', () => {
    const byIndex = { ...DIFF_LIMITS, maxTableCells: 0 };
    fc.assert(
      fc.property(editedPair, ([a, b]) => {
        assert.deepStrictEqual(applyStrict(normalise(a), overTheWire(createPatch(a, b, byIndex))), b);
        assert.deepStrictEqual(applyStrict(normalise(b), overTheWire(createPatch(b, a, byIndex))), a, 'and back');
      }),
      { numRuns: RUNS },
    );
  });

  it('composes: the patches a→b then b→c take a to c', () => {
    fc.assert(
      fc.property(editedPair, anyJson, ([a, b], c) => {
        const once = applyStrict(normalise(a), overTheWire(createPatch(a, b)));
        assert.deepStrictEqual(applyStrict(once, overTheWire(createPatch(b, c))), c);
      }),
      { numRuns: RUNS / 2 },
    );
  });

  it('stays within its budget: a diff it answers spent no more than it was given and still turns a into b; a refusal names a limit it passed', () => {
    // A smaller budget may choose a cheaper way (pairing by index instead of an edit table), so
    // the unbudgeted run's figures do not predict the budgeted one; its own figures must obey.
    fc.assert(
      fc.property(editedPair, fc.nat(400), fc.nat(600), ([a, b], maxWork, maxPatchBytes) => {
        const outcome = diffJson(a, b, { ...NO_CLOCK, maxWork, maxPatchBytes });
        if (outcome.ok) {
          assert.ok(
            outcome.work <= maxWork && outcome.bytes <= maxPatchBytes,
            `within budget: work ${outcome.work}/${maxWork}, bytes ${outcome.bytes}/${maxPatchBytes}`,
          );
          assert.deepStrictEqual(applyStrict(normalise(a), overTheWire(outcome.patch)), b);
        } else {
          assert.ok(outcome.limit === 'work' || outcome.limit === 'size', outcome.limit);
          if (outcome.limit === 'work') assert.ok(outcome.work > maxWork, `refused for work: ${outcome.work}/${maxWork}`);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('is never refused when the budget is generous for the full diff', () => {
    fc.assert(
      fc.property(editedPair, ([a, b]) => {
        const full = diffJson(a, b, NO_CLOCK);
        assert.ok(full.ok);
        const roomy = diffJson(a, b, {
          ...NO_CLOCK,
          maxWork: full.work * 4 + 4 * (JSON.stringify(a).length * JSON.stringify(b).length + 1),
          maxPatchBytes: full.bytes,
        });
        assert.ok(roomy.ok, 'answered');
      }),
      { numRuns: RUNS },
    );
  });

  it('is refused by the clock, never by a wrong patch, when its time is up', () => {
    const many = Array.from({ length: 50_000 }, (_, i) => ({ i, s: `item ${i}` }));
    const outcome = diffJson(many, [...many].reverse(), { ...DIFF_LIMITS, maxWork: Number.MAX_SAFE_INTEGER, maxMs: 0 });
    assert.deepEqual(outcome.ok ? 'ok' : outcome.limit, 'time');
  });

  it('handles the named edge cases', () => {
    const cases: [unknown, unknown][] = [
      [1, 'one'], // a root scalar changes type: one replace at ""
      [{ a: 1 }, [1]], // an object becomes an array
      [[1], { 0: 1 }],
      [null, { a: null }],
      [{ a: { b: null } }, { a: { b: [null, null] } }],
      [
        { '~': 1, '/': 2, '~1': 3, '~01': 4 },
        { '~': 2, '/': 1, '~1': null, '~0/': 5 },
      ],
      [{ 'a/b': { 'c~d': [1, 2, 3] } }, { 'a/b': { 'c~d': [3] } }],
      [
        [1, 2, 3, 4, 5],
        [5, 1, 2],
      ],
      [[], [[], [[]], null]],
      [
        [[1, 2], [3]],
        [[3], [1, 2], []],
      ],
      [normalise(JSON.parse('{"__proto__": {"x": 1}, "constructor": {"y": [1]}}')), normalise(JSON.parse('{"__proto__": {"x": 2}, "constructor": {"y": []}}'))],
      [{ '': { '': 1 } }, { '': { '': 2, ' ': 3 } }],
      [-0, 0],
    ];
    for (const [rawA, rawB] of cases) {
      const [a, b] = [normalise(rawA), normalise(rawB)];
      const patch = overTheWire(createPatch(a, b));
      assert.deepStrictEqual(applyStrict(normalise(a), patch), b, `${JSON.stringify(a)} → ${JSON.stringify(b)}: ${JSON.stringify(patch)}`);
    }
    // A change of type at the root is one replace of the whole document.
    assert.deepEqual(createPatch(1, 'one'), [{ op: 'replace', path: '', value: 'one' }]);
    // Keys are escaped as RFC 6901 says.
    assert.deepEqual(createPatch({}, { 'a/b~c': 1 }), [{ op: 'add', path: '/a~1b~0c', value: 1 }]);
    // -0 and 0 are the same JSON number (and JSON.stringify(-0) is "0"): no operation.
    assert.deepEqual(createPatch(-0, 0), []);
  });
});

function sortKeys(value: Json): Json {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (!isObject(value)) return value;
  const sorted: { [key: string]: Json } = {};
  for (const k of Object.keys(value).sort()) setMember(sorted, k, sortKeys(value[k]!));
  return sorted;
}
