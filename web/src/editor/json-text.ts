/**
 * JSON as a person types it: parsed with a readable problem (and where it is), and printed
 * back the same way every time, so an unchanged document never looks edited.
 */

export type ParsedJson = { ok: true; value: unknown } | { ok: false; message: string; line?: number; column?: number };

/** Parses `text`; an empty editor is a problem too, as the API takes no "nothing". */
export function parseJson(text: string): ParsedJson {
  if (text.trim() === '') return { ok: false, message: 'Enter a JSON value (for an empty one: {} or null).' };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    return { ok: false, ...locate(error instanceof Error ? error.message : String(error), text) };
  }
}

/** V8 names the offset ("… at position 12 (line 2 column 3)"); turned into line and column. */
function locate(raw: string, text: string): { message: string; line?: number; column?: number } {
  const message = raw.replace(/^JSON\.parse: /, '').replace(/ \(line \d+ column \d+\)$/, '');
  const position = /at position (\d+)/.exec(raw)?.[1];
  if (position === undefined) return { message };
  const before = text.slice(0, Number(position));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return { message: message.replace(/ in JSON at position \d+/, '').replace(/ at position \d+/, ''), line, column };
}

/** A problem as one sentence: "Unexpected token … (line 2, column 3)". */
export function describeJsonProblem(problem: { message: string; line?: number; column?: number }): string {
  return problem.line === undefined ? problem.message : `${problem.message} (line ${problem.line}, column ${problem.column})`;
}

/** How the console prints a JSON value for editing. */
export function prettyJson(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? 'null';
}

/** The value with every object's keys sorted, so two documents compare by content, not key order. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const sorted: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    // defineProperty: a key "__proto__" stays a key (the server refuses it with its path).
    Object.defineProperty(sorted, key, { value: sortKeys((value as Record<string, unknown>)[key]), enumerable: true, writable: true, configurable: true });
  }
  return sorted;
}

/** Whether two JSON values hold the same content, whatever their keys' order. */
export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}
