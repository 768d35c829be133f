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
 * Returns the first problem, its field the path of the offending key or number under
 * `field` (slash-separated, keys escaped as in JSON Pointer), or undefined. Iterative: depth is
 * bounded separately, but a walk must not overflow the stack before that check runs.
 */
export function jsonValueProblem(value: unknown, field: string): FieldError | undefined {
  const stack: [unknown, string, string | undefined][] = [[value, field, undefined]];
  while (stack.length > 0) {
    const [current, path, key] = stack.pop()!;
    if (typeof current === 'number') {
      if (!Number.isFinite(current)) return { field: path, message: UNREPRESENTABLE_NUMBER };
    } else if (typeof current === 'string') {
      if (current.includes('\u0000')) return { field, message: NUL };
    } else if (typeof current === 'object' && current !== null) {
      const isArray = Array.isArray(current);
      for (const [childKey, child] of Object.entries(current)) {
        const childPath = `${path}/${escapePointer(childKey)}`;
        if (!isArray && (childKey === '__proto__' || (childKey === 'prototype' && key === 'constructor'))) {
          return { field: childPath, message: FORBIDDEN_KEY };
        }
        if (childKey.includes('\u0000')) return { field, message: NUL };
        stack.push([child, childPath, isArray ? undefined : childKey]);
      }
    }
  }
  return undefined;
}

const NUL = 'must not contain U+0000';
export const FORBIDDEN_KEY = 'keys __proto__ and constructor.prototype are not allowed';
export const UNREPRESENTABLE_NUMBER =
  'must be a number that reads back as written: numbers are kept as 64-bit floats (at most about 1.8e308, 15 significant digits always exact); send longer numbers as strings';

// RFC 6901: "~" and "/" inside a key, so a path names one value whatever the keys hold.
const escapePointer = (key: string): string => key.replaceAll('~', '~0').replaceAll('/', '~1');
