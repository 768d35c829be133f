import type { Operation } from 'rfc6902';
import { appError, type AppError } from '../../core/errors.js';

/**
 * The diff of two versions' data (`GET /resources/{id}/diff`): an RFC 6902 JSON Patch that
 * turns `from` into `to`, computed in bounded time and size whatever the data.
 *
 * Why not rfc6902's createPatch: its array diff fills an n·m table whose every cell compares
 * two elements with a full nested diff, so two 1 MiB versions of ~46 wide objects took 4.5 s
 * of synchronous CPU (issue 12). Here every unit of work is charged to one budget (each key
 * or element visited, each table cell, each operation, each path built), array elements are
 * aligned by a hash computed once per value (not by a nested diff), and the patch's size is
 * counted as it is built. Past either limit the diff is refused
 * (UNPROCESSABLE_ENTITY): reading both versions is then cheaper for everyone.
 */

export interface DiffLimits {
  /** Units of work (see `Budget`) one diff may spend. */
  maxWork: number;
  /** Largest patch, in bytes of JSON (about: strings counted in UTF-16 units). */
  maxPatchBytes: number;
  /** Arrays whose differing middles span more cells than this are aligned index by index. */
  maxTableCells: number;
  /** Milliseconds of the event loop one diff may hold, whatever its work (see `charge`). */
  maxMs: number;
}

/**
 * ~50 ms of one core at most on the development machine (bench/diff-worst.ts measures the worst
 * shapes); a patch no larger than the largest version (resources.maxDataBytes' default).
 */
export const DIFF_LIMITS: DiffLimits = Object.freeze({ maxWork: 3_000_000, maxPatchBytes: 1_048_576, maxTableCells: 1_000_000, maxMs: 40 });
/**
 * Units of work, weighed to take about the same time each (bench/diff-worst.ts): a cell of an
 * edit table or an element visited is 1, a member of an object (a lookup in what is often a
 * hash table) KEY, an operation emitted OP, and every CHARS_PER_UNIT characters copied 1.
 */
const KEY = 8;
const OP = 8;
const CHARS_PER_UNIT = 16;
/** How often (in units) the clock is read. */
const CLOCK_EVERY = 16_384;
/** What a patch operation costs beyond its path and value: `{"op":"replace","path":,"value":}`. */
const OP_OVERHEAD_BYTES = 32;

/** Which limit refused a diff: its work, its patch's size (both fixed by the data), or the clock. */
export type DiffLimit = 'work' | 'size' | 'time';
export type DiffOutcome = { ok: true; patch: Operation[]; bytes: number } | { ok: false; limit: DiffLimit };

/** Thrown inside the diff when the budget is spent; never leaves this module. */
class Spent {
  constructor(readonly limit: DiffLimit) {}
}

interface NodeInfo {
  /** Different hashes, different values; equal hashes, probably equal. */
  hash: number;
  bytes: number;
}

const hasOwn = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);
const isContainer = (v: unknown): v is object => typeof v === 'object' && v !== null;
const escapeToken = (token: string) => (token.includes('~') || token.includes('/') ? token.replace(/~/g, '~0').replace(/\//g, '~1') : token);

class Differ {
  readonly patch: Operation[] = [];
  work = 0;
  bytes = 0;
  /** Hash and size of each object and array, computed once per diff. */
  readonly #info = new WeakMap<object, NodeInfo>();
  readonly #limits: DiffLimits;

  #checkAt = 0;
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
    // the one the units were calibrated on.
    if (performance.now() > this.#deadline) throw new Spent('time');
    this.#checkAt = Math.min(this.work + CLOCK_EVERY, this.#limits.maxWork + 1);
  }

  emit(op: Operation, valueBytes: number): void {
    this.charge(OP);
    this.bytes += OP_OVERHEAD_BYTES + op.path.length + valueBytes;
    if (this.bytes > this.#limits.maxPatchBytes) throw new Spent('size');
    this.patch.push(op);
  }

  /** Appends the operations that turn `a` into `b` at `path`. */
  value(a: unknown, b: unknown, path: string): void {
    this.charge(1);
    if (a === b) return;
    if (Array.isArray(a) && Array.isArray(b)) return this.array(a, b, path);
    if (isContainer(a) && isContainer(b) && !Array.isArray(a) && !Array.isArray(b)) return this.object(a as Record<string, unknown>, b as Record<string, unknown>, path);
    this.emit({ op: 'replace', path, value: b }, this.info(b).bytes);
  }

  object(a: Record<string, unknown>, b: Record<string, unknown>, path: string): void {
    const aKeys = Object.keys(a);
    const bKeys = Object.keys(b);
    this.charge(KEY * (aKeys.length + bKeys.length));
    for (const key of aKeys) {
      if (!hasOwn(b, key)) this.emit({ op: 'remove', path: this.child(path, key) }, 0);
      else if (a[key] !== b[key]) {
        // Scalars are compared here, without building the key's path unless they differ.
        const [x, y] = [a[key], b[key]];
        if (isContainer(x) || isContainer(y)) this.value(x, y, this.child(path, key));
        else this.emit({ op: 'replace', path: this.child(path, key), value: y }, this.info(y).bytes);
      }
    }
    for (const key of bKeys) {
      if (!hasOwn(a, key)) this.emit({ op: 'add', path: this.child(path, key), value: b[key] }, this.info(b[key]).bytes);
    }
  }

  /**
   * Common ends first; the differing middle by edit distance over element hashes when its
   * table is small, index by index otherwise. Operations are emitted from the last element
   * to the first, so each index is still the one of `a` when it applies: while at a[0..i),
   * the array is a[0..i) followed by the already converted b[j..).
   */
  array(a: unknown[], b: unknown[], path: string): void {
    const [n, m] = [a.length, b.length];
    this.charge(n + m);
    let start = 0;
    while (start < n && start < m && this.same(a[start], b[start])) start++;
    let end = 0;
    while (end < n - start && end < m - start && this.same(a[n - 1 - end], b[m - 1 - end])) end++;
    // The common ends: equal as far as the hashes tell, so diffed anyway (a collision must
    // not lose a change); an equal pair costs a walk and emits nothing.
    for (let k = 0; k < end; k++) this.value(a[n - 1 - k], b[m - 1 - k], `${path}/${n - 1 - k}`);
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
      this.emit({ op: 'remove', path: `${path}/${i}` }, 0);
    };
    const insert = () => {
      j--;
      this.emit({ op: 'add', path: `${path}/${i}`, value: b[j] }, this.info(b[j]).bytes);
    };
    if (an > 0 && bm > 0 && an * bm <= this.#limits.maxTableCells) {
      for (const step of this.editScript(a, b, start, an, bm)) {
        if (step === 0) pair();
        else if (step === 1) remove();
        else insert();
      }
    } else {
      // Too long to align (or nothing to align): the extra tail goes, then pairs by index.
      while (i - start > j - start) remove();
      while (j - start > i - start) insert();
      while (i > start) pair();
    }
    for (let k = start - 1; k >= 0; k--) this.value(a[k], b[k], `${path}/${k}`);
  }

  /**
   * Levenshtein over the middles a[s..s+an) and b[s..s+bm): keep-or-replace (0), remove (1)
   * or insert (2), from the last element back; each cell is one unit of work.
   */
  editScript(a: unknown[], b: unknown[], s: number, an: number, bm: number): Uint8Array {
    this.charge(an * bm);
    const ha = new Float64Array(an);
    const hb = new Float64Array(bm);
    for (let x = 0; x < an; x++) ha[x] = this.info(a[s + x]).hash;
    for (let y = 0; y < bm; y++) hb[y] = this.info(b[s + y]).hash;
    const w = bm + 1;
    const d = new Uint32Array((an + 1) * w);
    for (let y = 0; y <= bm; y++) d[y] = y;
    for (let x = 1; x <= an; x++) {
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

  /** Equal as far as the hashes tell (the caller diffs what it pairs, so this is only a guide). */
  same(a: unknown, b: unknown): boolean {
    if (a === b) return true;
    // Two scalars that are not === differ (JSON has no NaN; -0 === 0).
    if (!isContainer(a) || !isContainer(b)) return false;
    const [x, y] = [this.info(a), this.info(b)];
    return x.hash === y.hash && x.bytes === y.bytes;
  }

  /** A child's pointer; building it is charged by its length. */
  child(path: string, key: string): string {
    this.charge(1 + Math.ceil(key.length / CHARS_PER_UNIT));
    return `${path}/${escapeToken(key)}`;
  }

  /** Hash and JSON size of any value; memoised for objects and arrays. */
  info(v: unknown): NodeInfo {
    if (isContainer(v)) return this.#container(v);
    const hash = this.#scalar(v);
    return { hash, bytes: this.#bytes };
  }

  /** Size in bytes of the last scalar hashed: a second result without an allocation. */
  #bytes = 0;

  /**
   * A structural hash and the JSON size of an object or array, computed once per node, so
   * nested arrays do not walk their contents again at each level. Object members are
   * combined by a sum, so key order does not count.
   */
  #container(v: object): NodeInfo {
    const known = this.#info.get(v);
    if (known) return known;
    let hash: number;
    let bytes = 2;
    if (Array.isArray(v)) {
      this.charge(1 + v.length);
      hash = 0x9e3779b9;
      for (let i = 0; i < v.length; i++) {
        const item = v[i] as unknown;
        let h: number;
        if (isContainer(item)) {
          const info = this.#container(item);
          h = info.hash;
          bytes += info.bytes + 1;
        } else {
          h = this.#scalar(item);
          bytes += this.#bytes + 1;
        }
        hash = Math.imul(hash ^ h, 0x01000193);
      }
    } else {
      const keys = Object.keys(v);
      this.charge(1 + KEY * keys.length);
      hash = 0x7f4a7c15;
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!;
        const member = (v as Record<string, unknown>)[key];
        let h: number;
        if (isContainer(member)) {
          const info = this.#container(member);
          h = info.hash;
          bytes += info.bytes;
        } else {
          h = this.#scalar(member);
          bytes += this.#bytes;
        }
        const k = this.#scalar(key);
        bytes += this.#bytes + 2;
        hash = (hash + Math.imul(k ^ Math.imul(h, 0x5bd1e995), 0x01000193)) | 0;
      }
    }
    const info = { hash: hash >>> 0, bytes };
    this.#info.set(v, info);
    return info;
  }

  /**
   * A scalar's hash, and its JSON size in #bytes. A string is hashed by its length and its
   * first and last SAMPLE characters: O(1) whatever its length, and only a guide (see `same`).
   */
  #scalar(v: unknown): number {
    this.charge(1);
    switch (typeof v) {
      case 'string': {
        const n = v.length;
        this.#bytes = n + 2;
        let h = Math.imul(n ^ 0x811c9dc5, 0x01000193);
        if (n <= 2 * SAMPLE) {
          for (let c = 0; c < n; c++) h = Math.imul(h ^ v.charCodeAt(c), 0x01000193);
        } else {
          for (let c = 0; c < SAMPLE; c++) h = Math.imul(h ^ v.charCodeAt(c), 0x01000193);
          for (let c = n - SAMPLE; c < n; c++) h = Math.imul(h ^ v.charCodeAt(c), 0x01000193);
        }
        return h;
      }
      case 'number':
        F64[0] = v;
        this.#bytes = 8;
        return Math.imul(U32[0]! ^ Math.imul(U32[1]!, 0x5bd1e995), 0x01000193) ^ 0x3c6ef372;
      case 'boolean':
        this.#bytes = v ? 4 : 5;
        return v ? 0x2545f491 : 0x4f1bbcdc;
      default:
        this.#bytes = 4;
        return 0x6a09e667;
    }
  }
}

/** Characters of each end of a string that its hash reads. */
const SAMPLE = 16;
const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);

/** The patch from `from` to `to`, or which limit stopped it. */
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
  const what = limit === 'size' ? `would be larger than ${limits.maxPatchBytes} bytes` : 'would take too long to compute';
  return appError('UNPROCESSABLE_ENTITY', `The diff between these versions is too large: it ${what}. Read both versions instead.`);
}

/** The patch from `from` to `to`; UNPROCESSABLE_ENTITY past a limit. */
export function boundedPatch(from: unknown, to: unknown, limits: DiffLimits = DIFF_LIMITS): Operation[] {
  const outcome = diffJson(from, to, limits);
  if (!outcome.ok) throw diffTooLarge(outcome.limit, limits);
  return outcome.patch;
}
