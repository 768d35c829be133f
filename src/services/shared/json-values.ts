import type { FieldError } from '../../core/errors.js';

/**
 * What a stored JSON value (resource data and metadata) may not hold, checked here so REST,
 * GraphQL (inline literals and variables) and WebSocket give the same answer:
 *
 * - the keys `__proto__` anywhere, and `prototype` inside a `constructor` object: harmless
 *   as parsed JSON (own properties) but a prototype-pollution vector for any code that later
 *   merges the value into an object; REST used to refuse them as "not valid JSON" while
 *   GraphQL stored them;
 * - numbers JSON text can hold but a double cannot keep: `1e400` parses to Infinity and
 *   was stored as `null`. The transports' parsers turn a number that would not read back as
 *   written (e.g. 9007199254740993) into Infinity too (api/json-numbers.ts), so this one
 *   check refuses both;
 * - U+0000 in a string or key: PostgreSQL's text and jsonb cannot hold it, though JSON can
 *   (reported on `field` itself, as it always was).
 *
 * Returns a problem, its field the path of the offending key or number under `field`
 * (slash-separated, keys escaped as in JSON Pointer), or undefined. The value must already
 * be known to nest at most JSON_MAX_DEPTH levels (the path is found recursively).
 */
export function jsonValueProblem(value: unknown, field: string): FieldError | undefined {
  // A cheap walk first, as cheap as the U+0000 check it replaces; the path is worked out
  // only when something is wrong, which is rare.
  const problem = firstProblem(value);
  if (problem === undefined) return undefined;
  if (problem === NUL) return { field, message: NUL };
  const path: string[] = [];
  locate(value, undefined, undefined, path);
  return { field: [field, ...path.map(escapePointer)].join('/'), message: problem };
}

/** The message of the first problem in `value` (depth first), iteratively. */
function firstProblem(root: unknown): string | undefined {
  const stack: [unknown, string | undefined, string | undefined][] = [[root, undefined, undefined]];
  while (stack.length > 0) {
    const [current, key, parentKey] = stack.pop()!;
    const own = problemOf(current, key, parentKey);
    if (own !== undefined) return own;
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) stack.push([current[i], undefined, undefined]);
    } else if (typeof current === 'object' && current !== null) {
      const keys = Object.keys(current);
      for (let i = keys.length - 1; i >= 0; i--) stack.push([(current as Record<string, unknown>)[keys[i]!], keys[i], key]);
    }
  }
  return undefined;
}

/** Fills `path` with the keys down to the first problem (same order as firstProblem). */
function locate(current: unknown, key: string | undefined, parentKey: string | undefined, path: string[]): boolean {
  if (problemOf(current, key, parentKey) !== undefined) return true;
  const children: [string, unknown][] = Array.isArray(current)
    ? current.map((child, i) => [String(i), child])
    : typeof current === 'object' && current !== null
      ? Object.keys(current).map((k) => [k, (current as Record<string, unknown>)[k]])
      : [];
  for (const [childKey, child] of children) {
    path.push(childKey);
    if (locate(child, Array.isArray(current) ? undefined : childKey, key, path)) return true;
    path.pop();
  }
  return false;
}

/** What is wrong with this one value (not its children), reached under `key` (undefined in an array) of an object reached under `parentKey`. */
function problemOf(value: unknown, key: string | undefined, parentKey: string | undefined): string | undefined {
  if (key === '__proto__' || (key === 'prototype' && parentKey === 'constructor')) return FORBIDDEN_KEY;
  if (key !== undefined && key.includes('\u0000')) return NUL;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : UNREPRESENTABLE_NUMBER;
  if (typeof value === 'string') return value.includes('\u0000') ? NUL : undefined;
  return undefined;
}

const NUL = 'must not contain U+0000';
export const FORBIDDEN_KEY = 'keys __proto__ and constructor.prototype are not allowed';
export const UNREPRESENTABLE_NUMBER =
  'must be a number that reads back as written: numbers are kept as 64-bit floats (at most about 1.8e308, 15 significant digits always exact); send longer numbers as strings';

// RFC 6901: "~" and "/" inside a key, so a path names one value whatever the keys hold.
const escapePointer = (key: string): string => key.replaceAll('~', '~0').replaceAll('/', '~1');
