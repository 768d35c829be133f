import assert from 'node:assert/strict';
import type { Operation } from 'rfc6902';

/**
 * A strict RFC 6902 (JSON Patch) / RFC 6901 (JSON Pointer) applier for tests of the resource
 * diff, written independently of the library that makes the patches so a test does not
 * trust it to check itself. It replaces the root for path "", sets members with
 * defineProperty (so `__proto__` is an ordinary key), and fails on anything the RFCs refuse.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** What the API stores and sends: JSON text, so `-0` is `0` and every object is plain. */
export const normalise = (value: unknown): Json => JSON.parse(JSON.stringify(value)) as Json;

export const isObject = (value: unknown): value is { [key: string]: Json } => typeof value === 'object' && value !== null && !Array.isArray(value);
const hasOwn = (object: object, key: string) => Object.prototype.hasOwnProperty.call(object, key);

/** RFC 6901: the reference tokens of a pointer; `~` must be followed by 0 or 1. */
function tokensOf(pointer: string): string[] {
  if (pointer === '') return [];
  assert.ok(pointer.startsWith('/'), `a JSON pointer starts with "/": ${JSON.stringify(pointer)}`);
  return pointer
    .slice(1)
    .split('/')
    .map((token) => {
      assert.doesNotMatch(token, /~(?![01])/, `"~" is escaped in ${JSON.stringify(pointer)}`);
      return token.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

/** An own data property, whatever the key (`__proto__` included). */
export function setMember(object: { [key: string]: Json }, key: string, value: Json): void {
  Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
}

function arrayIndex(array: Json[], token: string, allowEnd: boolean): number {
  if (allowEnd && token === '-') return array.length;
  assert.match(token, /^(0|[1-9][0-9]*)$/, `an array index: ${JSON.stringify(token)}`);
  const index = Number(token);
  assert.ok(index < array.length || (allowEnd && index === array.length), `index ${index} within ${array.length}`);
  return index;
}

/** The value a pointer refers to; it must exist. */
function resolve(document: Json, tokens: string[]): Json {
  let current = document;
  for (const token of tokens) {
    if (Array.isArray(current)) current = current[arrayIndex(current, token, false)]!;
    else if (isObject(current)) {
      assert.ok(hasOwn(current, token), `member ${JSON.stringify(token)} exists`);
      current = current[token]!;
    } else assert.fail(`cannot descend into ${JSON.stringify(current)} with ${JSON.stringify(token)}`);
  }
  return current;
}

function parentOf(document: Json, tokens: string[]): { parent: Json; last: string } {
  return { parent: resolve(document, tokens.slice(0, -1)), last: tokens.at(-1)! };
}

function add(document: Json, tokens: string[], value: Json): Json {
  if (tokens.length === 0) return value;
  const { parent, last } = parentOf(document, tokens);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, true), 0, value);
  else if (isObject(parent)) setMember(parent, last, value);
  else assert.fail(`add into a scalar at ${tokens.join('/')}`);
  return document;
}

function remove(document: Json, tokens: string[]): Json {
  assert.ok(tokens.length > 0, 'remove needs a member or element');
  const { parent, last } = parentOf(document, tokens);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, false), 1);
  else if (isObject(parent)) {
    assert.ok(hasOwn(parent, last), `member ${JSON.stringify(last)} exists to remove`);
    delete parent[last];
  } else assert.fail('remove from a scalar');
  return document;
}

/** Applies a patch to a document strictly as RFC 6902 §4 says; returns the new document. */
export function applyStrict(document: Json, patch: readonly Operation[]): Json {
  let result = document;
  for (const operation of patch) {
    const tokens = tokensOf(operation.path);
    switch (operation.op) {
      case 'add':
        result = add(result, tokens, normalise(operation.value));
        break;
      case 'remove':
        result = remove(result, tokens);
        break;
      case 'replace':
        resolve(result, tokens); // the target must exist
        result = tokens.length === 0 ? normalise(operation.value) : add(remove(result, tokens), tokens, normalise(operation.value));
        break;
      case 'move': {
        const from = tokensOf(operation.from);
        const value = resolve(result, from);
        result = add(remove(result, from), tokens, value);
        break;
      }
      case 'copy':
        result = add(result, tokens, normalise(resolve(result, tokensOf(operation.from))));
        break;
      case 'test':
        assert.deepStrictEqual(resolve(result, tokens), normalise(operation.value));
        break;
    }
  }
  return result;
}
