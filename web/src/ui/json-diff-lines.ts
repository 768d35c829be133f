import { diffLines } from 'diff';
import { prettyJson, sortKeys } from '../editor/json-text.js';

/** One line of a diff of two JSON documents: in both, only in the first, or only in the second. */
export interface DiffLine {
  kind: 'same' | 'removed' | 'added';
  text: string;
}

/**
 * A line diff of two JSON values, each printed with sorted keys, so key order never shows as a
 * change and a change shows as the lines it touches.
 */
export function jsonDiffLines(before: unknown, after: unknown): DiffLine[] {
  const lines: DiffLine[] = [];
  for (const part of diffLines(prettyJson(sortKeys(before)), prettyJson(sortKeys(after)))) {
    const kind = part.added ? 'added' : part.removed ? 'removed' : 'same';
    for (const text of part.value.replace(/\n$/, '').split('\n')) lines.push({ kind, text });
  }
  return lines;
}
