/**
 * `npm run bench:diff`: the worst diffs of two versions (issue 12 point 1). For each shape of
 * data, two versions of about 1 MiB each (resources.maxDataBytes' default) built to be
 * expensive, and the time the diff holds the event loop (it is synchronous, so its wall time
 * is event-loop time; CPU time is shown as well, as a busy machine inflates it less). Each
 * shape runs RUNS times with the work budget alone ("first" is the first run, the code not
 * yet optimised by the JIT), then RUNS times as the server runs it, the clock on.
 * See bench/README.md "Diff".
 */
import { cpus } from 'node:os';
import { DIFF_LIMITS, diffJson } from '../src/services/resources/diff.js';

/** The work budget alone: the clock (maxMs) would hide what the units cost. */
const LIMITS = { ...DIFF_LIMITS, maxMs: Number.POSITIVE_INFINITY };

/** Target of issue 12: any diff holds the event loop for at most this long (or is refused). */
const TARGET_MS = 50;
const RUNS = Number(process.env.BENCH_DIFF_RUNS ?? 7);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
interface Shape {
  name: string;
  what: string;
  build: () => [Json, Json];
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const wide = (keys: number, value: (k: number) => Json) => Object.fromEntries(range(keys).map((k) => [`k${k}`, value(k)]));

const shapes: Shape[] = [
  {
    name: 'wide-objects',
    what: "the issue's shape: 46 objects of 1,300 keys, one key changed in each",
    build: () => {
      const make = (v: number) => range(46).map((i) => wide(1300, (k) => (k === 7 ? v : `v${i}_${k}`)));
      return [make(1), make(2)];
    },
  },
  {
    name: 'wide-object',
    what: 'one object of 80,000 keys, every 100th value changed',
    build: () => [wide(80_000, (k) => k), wide(80_000, (k) => (k % 100 === 0 ? -k : k))],
  },
  {
    name: 'wide-object-all',
    what: 'one object of 80,000 keys, every value changed (patch over the size limit)',
    build: () => [wide(80_000, (k) => k), wide(80_000, (k) => -k)],
  },
  {
    name: 'long-array-shifted',
    what: '150,000 numbers, one inserted at the start, one removed at the end (table too large: index by index)',
    build: () => [range(150_000), [-1, ...range(149_999)]],
  },
  {
    name: 'edit-table',
    what: '1,000 vs 1,000 distinct strings of 500 characters, none in common (the largest edit table)',
    build: () => {
      const s = (tag: string, i: number) => `${tag}${i}`.padEnd(500, '.');
      return [range(1000).map((i) => s('a', i)), range(1000).map((i) => s('b', i))];
    },
  },
  {
    name: 'edit-table-shifted',
    what: '1,000 objects, every other one changed and the whole shifted by one',
    build: () => {
      const item = (i: number, v: number) => ({ id: i, name: `item ${i}`.padEnd(400, '.'), v });
      const a = range(1000).map((i) => item(i, 0));
      return [a, [item(-1, 0), ...range(1000).map((i) => item(i, i % 2))]];
    },
  },
  {
    name: 'nested-arrays',
    what: '400 arrays of 400 numbers, every inner array changed at both ends',
    build: () => {
      const a = range(400).map((i) => range(400).map((j) => i * 400 + j));
      return [a, a.map((row) => [-1, ...row.slice(1, -1), -2])];
    },
  },
  {
    name: 'nested-arrays-shifted',
    what: '400 arrays of 400 numbers, each shifted by one inside (inner tables filled in turn)',
    build: () => {
      const a = range(400).map((i) => range(400).map((j) => i * 400 + j));
      return [a, a.map((row) => [-1, ...row.slice(0, -1)]).map((row, i) => (i % 2 ? [...row.slice(1), -3] : row))];
    },
  },
  {
    name: 'deep-nesting',
    what: '60 levels of arrays and objects, 2,000 leaves at the bottom of each branch, many changed',
    build: () => {
      const leaf = (v: number) => range(2000).map((i) => (i % 3 === 0 ? v : i));
      let [a, b]: [Json, Json] = [leaf(0), leaf(1)];
      for (let d = 0; d < 60; d++)
        [a, b] =
          d % 2
            ? [
                [a, d],
                [b, d],
              ]
            : [
                { d, x: a },
                { d, x: b },
              ];
      return [a, b];
    },
  },
  {
    name: 'many-small-changes',
    what: '20,000 records, every 5th with one field changed',
    build: () => {
      const records = (flip: boolean) => range(20_000).map((i) => ({ id: i, name: `n${i}`, tag: flip && i % 5 === 0 ? 'changed' : 'same' }));
      return [records(false), records(true)];
    },
  },
  {
    name: 'records',
    what: '30,000 records of 5 small fields, one changed in the middle',
    build: () => {
      const records = (v: number) => range(30_000).map((i) => ({ a: i, b: 2, c: 3, d: i === 15_000 ? v : 4, e: 5 }));
      return [records(4), records(9)];
    },
  },
  {
    name: 'small-keys',
    what: 'one object of 90,000 one-to-five-character keys, one removed and one added',
    build: () => {
      const a = wide(90_000, () => 0);
      const b: Record<string, Json> = { ...a, extra: 1 };
      delete b.k5;
      return [a, b];
    },
  },
  {
    name: 'long-strings',
    what: '64 strings of 16 KiB alike but for one middle character',
    build: () => {
      const s = (i: number, c: string) => `${'x'.repeat(8000)}${c}${i}${'y'.repeat(8000)}`;
      return [range(64).map((i) => s(i, 'a')), range(64).map((i) => s(i, 'b'))];
    },
  },
];

const ms = (n: number) => n.toFixed(1).padStart(7);
const cpuMs = (start: NodeJS.CpuUsage) => {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
};

console.log(`diff-worst: ${RUNS} runs per shape, limits ${JSON.stringify({ ...LIMITS, maxMs: 'off' })}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`);
console.log(
  `${'shape'.padEnd(22)} ${'MiB'.padStart(5)} ${'outcome'.padEnd(14)} ${'ops'.padStart(6)} ${'work'.padStart(9)}   first  median     max  cpu max  | clock on: max, last`,
);
let worst = 0;
let worstServed = 0;
for (const shape of shapes) {
  const [a, b] = shape.build();
  const size = (JSON.stringify(a).length + JSON.stringify(b).length) / 2 / 1_048_576;
  const walls: number[] = [];
  const cpu: number[] = [];
  let outcome = '';
  let ops = 0;
  let work = 0;
  for (let r = 0; r < RUNS; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const result = diffJson(a, b, LIMITS);
    walls.push(performance.now() - t0);
    cpu.push(cpuMs(c0));
    outcome = result.ok ? '200 patch' : `422 (${result.limit})`;
    ops = result.ok ? result.patch.length : 0;
    work = result.work;
  }
  // As the server runs it: the clock on.
  let served = 0;
  let servedOutcome = '';
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    const result = diffJson(a, b);
    served = Math.max(served, performance.now() - t0);
    if (r === RUNS - 1) servedOutcome = result.ok ? '200' : `422 ${result.limit}`;
  }
  const sorted = [...walls].sort((x, y) => x - y);
  const max = Math.max(...walls);
  worst = Math.max(worst, Math.max(...cpu));
  worstServed = Math.max(worstServed, served);
  console.log(
    `${shape.name.padEnd(22)} ${size.toFixed(2).padStart(5)} ${outcome.padEnd(14)} ${String(ops).padStart(6)} ${String(work).padStart(9)} ${ms(walls[0]!)} ${ms(sorted[Math.floor(sorted.length / 2)]!)} ${ms(max)} ${ms(Math.max(...cpu))}  ${ms(served)} ${servedOutcome.padEnd(9)}  ${shape.what}`,
  );
}
console.log(
  `worst CPU time of one diff, work budget alone: ${worst.toFixed(1)} ms; worst wall time with the clock on (as served): ${worstServed.toFixed(1)} ms (target ${TARGET_MS} ms); wall times include waiting for a busy CPU`,
);
