import type { Operation } from 'rfc6902';
import { appError, type AppError } from '../../core/errors.js';

/**
 * The diff of two versions' data (`GET /resources/{id}/diff`): an RFC 6902 JSON Patch that
 * turns `from` into `to`, computed in bounded time and size whatever the data.
 *
 * Why not rfc6902's createPatch: its array diff fills an n·m table whose every cell compares
 * two elements with a full nested diff, so two 1 MiB versions of ~46 wide objects took 4.5 s
 * of synchronous CPU (issue 12). Here every unit of work is charged to one budget (each
 * member or element visited, each table cell, each operation, each path built), the common
 * ends of arrays are found by an equality walk that stops at the first difference, the rest
 * is aligned by a hash of bounded cost per element (not by a nested diff), and the patch's
 * size is counted as it is built. Past a limit the diff is refused (UNPROCESSABLE_ENTITY):
 * reading both versions is then cheaper for everyone.
 */

export interface DiffLimits {
  /** Units of work (see KEY below) one diff may spend; fixed by the data, so a refusal can be cached. */
  maxWork: number;
  /** Largest patch, in bytes of JSON (about: strings counted in UTF-16 units). */
  maxPatchBytes: number;
  /** Arrays whose differing middles span more cells than this are aligned index by index. */
  maxTableCells: number;
  /** Milliseconds of the event loop one diff may hold, whatever its work (see `charge`). */
  maxMs: number;
}

/**
 * The work of about 50 ms of one core on the development machine (bench/diff-worst.ts, the
 * worst shapes of 1 MiB); a patch no larger than the largest version (resources.maxDataBytes'
 * default); a clock below the 50 ms target, leaving time to send the patch.
 */
export const DIFF_LIMITS: DiffLimits = Object.freeze({ maxWork: 4_000_000, maxPatchBytes: 1_048_576, maxTableCells: 1_000_000, maxMs: 40 });

/**
 * Units of work, weighed to take about the same time each (bench/diff-worst.ts): an element
 * or scalar visited is 1, a cell of an edit table CELL, a member of an object KEY and more in a
 * large one (see `keys`), an operation emitted OP, and every CHARS_PER_UNIT characters of a
 * key copied into a path 1.
 */
const CELL = 2;
const KEY = 8;
const OP = 8;
const CHARS_PER_UNIT = 16;
/** How often (in units) the clock is read. */
const CLOCK_EVERY = 16_384;
/** What a patch operation costs beyond its path and value: `{"op":"replace","path":,"value":}`. */
const OP_OVERHEAD_BYTES = 32;
/** Members (first and last) of each container, and characters of each string end, a hash reads. */
const SAMPLE = 8;
/** Levels of containers a hash descends. */
const HASH_DEPTH = 3;

/** Which limit refused a diff: its work, its patch's size (both fixed by the data), or the clock. */
export type DiffLimit = 'work' | 'size' | 'time';
export type DiffOutcome = { ok: true; patch: Operation[]; bytes: number } | { ok: false; limit: DiffLimit };

/** Thrown inside the diff when the budget is spent; never leaves this module. */
class Spent {
  constructor(readonly limit: DiffLimit) {}
}

const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
/**
 * An own member of a JSON object, or undefined: one lookup, as a JSON value is never
 * undefined nor a function (what an object inherits), and only `__proto__` inherits an object.
 */
const member = (o: Record<string, unknown>, k: string): unknown => {
  const v = o[k];
  return typeof v === 'function' || (k === '__proto__' && !hasOwn(o, k)) ? undefined : v;
};
const isContainer = (v: unknown): v is object => typeof v === 'object' && v !== null;
const isObject = (v: unknown): v is Record<string, unknown> => isContainer(v) && !Array.isArray(v);
const escapeToken = (token: string) => (token.includes('~') || token.includes('/') ? token.replace(/~/g, '~0').replace(/\//g, '~1') : token);
const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);

class Differ {
  readonly patch: Operation[] = [];
  work = 0;
  bytes = 0;
  readonly #limits: DiffLimits;
  #checkAt = 0;
  /** Cells of the edit tables filled so far. */
  #cells = 0;
  readonly #deadline: number;

  constructor(limits: DiffLimits) {
    this.#limits = limits;
    this.#deadline = performance.now() + limits.maxMs;
  }

  charge(units: number): void {
    this.work += units;
    if (this.work < this.#checkAt) return;
    if (this.work > this.#limits.maxWork) throw new Spent('work');
    // The clock, every CLOCK_EVERY units: a safety net for a machine slower (or busier) than
    // the one the units were weighed on.
    if (performance.now() > this.#deadline) throw new Spent('time');
    this.#checkAt = Math.min(this.work + CLOCK_EVERY, this.#limits.maxWork + 1);
  }

  /** Appends an operation; an added or replacing value is measured only up to the bytes left. */
  emit(op: Operation): void {
    this.charge(OP);
    this.bytes += OP_OVERHEAD_BYTES + op.path.length;
    if ('value' in op) this.bytes += this.size(op.value, this.#limits.maxPatchBytes - this.bytes);
    if (this.bytes > this.#limits.maxPatchBytes) throw new Spent('size');
    this.patch.push(op);
  }

  /** Appends the operations that turn `a` into `b` at `path`. */
  value(a: unknown, b: unknown, path: string): void {
    this.charge(1);
    if (a === b) return;
    if (Array.isArray(a) && Array.isArray(b)) return this.array(a, b, path);
    if (isObject(a) && isObject(b)) return this.object(a, b, path);
    this.emit({ op: 'replace', path, value: b });
  }

  object(a: Record<string, unknown>, b: Record<string, unknown>, path: string): void {
    const aKeys = this.keys(a);
    const bKeys = this.keys(b);
    let shared = 0;
    for (const key of aKeys) {
      const y = member(b, key);
      if (y === undefined) this.emit({ op: 'remove', path: this.child(path, key) });
      else {
        shared++;
        const x = a[key];
        // Scalars are compared here, without building the key's path unless they differ.
        if (x === y) continue;
        if (isContainer(x) || isContainer(y)) this.value(x, y, this.child(path, key));
        else this.emit({ op: 'replace', path: this.child(path, key), value: y });
      }
    }
    // Every key of b is one of a's: nothing to add.
    if (shared === bKeys.length) return;
    for (const key of bKeys) {
      if (member(a, key) === undefined) this.emit({ op: 'add', path: this.child(path, key), value: b[key] });
    }
  }

  /**
   * Common ends first (by equality); the differing middle by edit distance over element
   * hashes when its table is small enough, index by index otherwise. Operations are emitted
   * from the last element to the first, so each index is still the one of `a` when it
   * applies: while at a[0..i), the array is a[0..i) followed by the already converted b[j..).
   */
  array(a: unknown[], b: unknown[], path: string): void {
    const [n, m] = [a.length, b.length];
    this.charge(n + m);
    let start = 0;
    while (start < n && start < m && this.equal(a[start], b[start])) start++;
    let end = 0;
    while (end < n - start && end < m - start && this.equal(a[n - 1 - end], b[m - 1 - end])) end++;
    const [an, bm] = [n - start - end, m - start - end];
    let i = start + an;
    let j = start + bm;
    const pair = () => {
      i--;
      j--;
      this.value(a[i], b[j], `${path}/${i}`);
    };
    const remove = () => {
      i--;
      this.emit({ op: 'remove', path: `${path}/${i}` });
    };
    const insert = () => {
      j--;
      this.emit({ op: 'add', path: `${path}/${i}`, value: b[j] });
    };
    // A table is filled only where it is worth it, and tables take at most half the budget,
    // leaving the rest to walk the data: past that, a longer patch by index is better than a
    // refusal.
    const cells = an * bm;
    if (an > 0 && bm > 0 && cells > 1 && cells <= this.#limits.maxTableCells && CELL * (this.#cells + cells) <= this.#limits.maxWork / 2) {
      this.#cells += cells;
      for (const step of this.editScript(a, b, start, an, bm)) {
        if (step === 0) pair();
        else if (step === 1) remove();
        else insert();
      }
    } else {
      // The extra tail goes (or comes), then the rest pairs by index.
      while (i > j) remove();
      while (j > i) insert();
      while (i > start) pair();
    }
  }

  /**
   * Levenshtein over the middles a[s..s+an) and b[s..s+bm): keep-or-diff (0), remove (1) or
   * insert (2), from the last element back; each cell is CELL units of work. Equal hashes are
   * only a guide: a kept pair is diffed, so a collision costs patch length, never a change.
   */
  editScript(a: unknown[], b: unknown[], s: number, an: number, bm: number): Uint8Array {
    const ha = new Int32Array(an);
    const hb = new Int32Array(bm);
    for (let x = 0; x < an; x++) ha[x] = this.hash(a[s + x], HASH_DEPTH);
    for (let y = 0; y < bm; y++) hb[y] = this.hash(b[s + y], HASH_DEPTH);
    const w = bm + 1;
    const d = new Uint32Array((an + 1) * w);
    for (let y = 0; y <= bm; y++) d[y] = y;
    for (let x = 1; x <= an; x++) {
      // Row by row, so the clock is read while a large table fills.
      this.charge(CELL * bm);
      d[x * w] = x;
      for (let y = 1; y <= bm; y++) {
        const keep = d[(x - 1) * w + y - 1]! + (ha[x - 1] === hb[y - 1] ? 0 : 1);
        d[x * w + y] = Math.min(keep, d[(x - 1) * w + y]! + 1, d[x * w + y - 1]! + 1);
      }
    }
    const steps = new Uint8Array(an + bm);
    let count = 0;
    let [x, y] = [an, bm];
    while (x > 0 || y > 0) {
      const here = d[x * w + y]!;
      if (x > 0 && y > 0 && here === d[(x - 1) * w + y - 1]! + (ha[x - 1] === hb[y - 1] ? 0 : 1)) {
        steps[count++] = 0;
        x--;
        y--;
      } else if (x > 0 && here === d[(x - 1) * w + y]! + 1) {
        steps[count++] = 1;
        x--;
      } else {
        steps[count++] = 2;
        y--;
      }
    }
    return steps.subarray(0, count);
  }

  /** Deep equality as JSON (key order aside), stopping at the first difference. */
  equal(a: unknown, b: unknown): boolean {
    this.charge(1);
    if (a === b) return true;
    if (Array.isArray(a)) {
      if (!Array.isArray(b) || a.length !== b.length) return false;
      for (let k = 0; k < a.length; k++) if (!this.equal(a[k], b[k])) return false;
      return true;
    }
    if (!isObject(a) || !isObject(b)) return false;
    for (const key of this.keys(a)) {
      const y = member(b, key);
      if (y === undefined || !this.equal(a[key], y)) return false;
    }
    // Last, as it costs b's keys: an unequal pair has usually been told apart by now.
    return this.keys(b).length === Object.keys(a).length;
  }

  /**
   * A hash of bounded cost: a container's kind and length and its first and last SAMPLE
   * members (with their keys), HASH_DEPTH levels down; a string's length and its first and
   * last SAMPLE characters. Equal values hash alike; different ones usually not.
   */
  hash(v: unknown, depth: number): number {
    this.charge(1);
    switch (typeof v) {
      case 'string':
        return this.#text(v, 0x3c6ef372);
      case 'number':
        F64[0] = v;
        return Math.imul(U32[0]! ^ Math.imul(U32[1]!, 0x5bd1e995), 0x01000193) ^ 0x2545f491;
      case 'boolean':
        return v ? 0x4f1bbcdc : 0x6a09e667;
    }
    if (!isContainer(v)) return 0x1f83d9ab;
    if (Array.isArray(v)) {
      let h = Math.imul(v.length ^ 0x9e3779b9, 0x01000193);
      if (depth === 0) return h;
      for (const k of sampled(v.length)) h = Math.imul(h ^ this.hash(v[k], depth - 1), 0x01000193);
      return h;
    }
    const keys = this.keys(v);
    let h = Math.imul(keys.length ^ 0x7f4a7c15, 0x01000193);
    if (depth === 0) return h;
    for (const k of sampled(keys.length)) {
      const key = keys[k]!;
      h = Math.imul(h ^ this.#text(key, 0x5be0cd19), 0x01000193);
      h = Math.imul(h ^ this.hash((v as Record<string, unknown>)[key], depth - 1), 0x01000193);
    }
    return h;
  }

  #text(s: string, seed: number): number {
    const n = s.length;
    let h = Math.imul(n ^ seed, 0x01000193);
    for (const c of sampled(n)) h = Math.imul(h ^ s.charCodeAt(c), 0x01000193);
    return h;
  }

  /** The JSON size of a value, or anything over `limit` once it is known to exceed it. */
  size(v: unknown, limit: number): number {
    this.charge(1);
    switch (typeof v) {
      case 'string':
        return v.length + 2;
      case 'number':
        return String(v).length;
      case 'boolean':
        return v ? 4 : 5;
    }
    if (!isContainer(v)) return 4;
    let total = 2;
    if (Array.isArray(v)) {
      for (let k = 0; k < v.length && total <= limit; k++) total += this.size(v[k], limit - total) + 1;
      return total;
    }
    const keys = this.keys(v);
    for (let k = 0; k < keys.length && total <= limit; k++) total += keys[k]!.length + 4 + this.size((v as Record<string, unknown>)[keys[k]!], limit - total);
    return total;
  }

  /**
   * An object's keys, charged KEY per member for what is done with it and the listing itself
   * by its size: an object of over ~1,000 members is a hash table whose keys the engine
   * collects and sorts, 100-400 ns a key (and the more, the dearer).
   */
  keys(o: object): string[] {
    const keys = Object.keys(o);
    const n = keys.length;
    this.charge(Math.ceil(n * (KEY + (n <= 1024 ? 1 : 6 + 2 * Math.log2(n / 1024)))));
    return keys;
  }

  /** A child's pointer; building it is charged by its length. */
  child(path: string, key: string): string {
    this.charge(1 + Math.ceil(key.length / CHARS_PER_UNIT));
    return `${path}/${escapeToken(key)}`;
  }
}

/** The indices a hash reads of n: all when few, else the first and last SAMPLE. */
function sampled(n: number): number[] {
  if (n <= 2 * SAMPLE) return Array.from({ length: n }, (_, k) => k);
  return Array.from({ length: 2 * SAMPLE }, (_, k) => (k < SAMPLE ? k : n - 2 * SAMPLE + k));
}

/** The patch from `from` to `to`, or which limit stopped it; `work` is the units spent. */
export function diffJson(from: unknown, to: unknown, limits: DiffLimits = DIFF_LIMITS): DiffOutcome & { work: number } {
  const differ = new Differ(limits);
  try {
    differ.value(from, to, '');
    return { ok: true, patch: differ.patch, bytes: differ.bytes, work: differ.work };
  } catch (err) {
    if (err instanceof Spent) return { ok: false, limit: err.limit, work: differ.work };
    throw err;
  }
}

/** The refusal of a diff over a limit: what to do instead. */
export function diffTooLarge(limit: DiffLimit, limits: DiffLimits = DIFF_LIMITS): AppError {
  const what = limit === 'size' ? `its patch would be larger than ${limits.maxPatchBytes} bytes` : 'it would take too long to compute';
  return appError('UNPROCESSABLE_ENTITY', `The diff between these versions is too large: ${what}. Read both versions instead.`);
}

/** The patch from `from` to `to`; UNPROCESSABLE_ENTITY past a limit. */
export function boundedPatch(from: unknown, to: unknown, limits: DiffLimits = DIFF_LIMITS): Operation[] {
  const outcome = diffJson(from, to, limits);
  if (!outcome.ok) throw diffTooLarge(outcome.limit, limits);
  return outcome.patch;
}
