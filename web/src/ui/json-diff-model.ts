import { diffLines } from 'diff';

/**
 * The model behind the JSON diff view, free of the DOM so it is unit-tested on its own:
 * JSON printed the same way whatever its key order, a line diff of two such prints, the
 * side-by-side pairing of that diff, and the folding of long unchanged stretches.
 */

export type LineKind = 'same' | 'added' | 'removed';

/** One line of a diff, numbered on the side(s) it appears on (from 1). */
export interface DiffLine {
  kind: LineKind;
  text: string;
  /** Its number in the "before" text; absent for an added line. */
  before?: number;
  /** Its number in the "after" text; absent for a removed line. */
  after?: number;
}

/** A row of the side-by-side view: the before line on the left, the after line on the right. */
export interface PairedRow {
  left?: DiffLine;
  right?: DiffLine;
}

/** A stretch of rows, shown, or folded away behind "show N unchanged lines". */
export type Segment<Row> = { kind: 'shown'; rows: Row[] } | { kind: 'folded'; rows: Row[] };

/**
 * Past this many changed lines the diff is not worth its cost in the browser (two very
 * different documents): every line of the one is shown removed and every line of the other added.
 */
export const MAX_EDIT_LENGTH = 4000;

/** Pretty JSON (two spaces) with object keys sorted, so key order never shows as a change. */
export function stableJson(value: unknown): string {
  return JSON.stringify(sortKeys(value), null, 2) ?? 'undefined';
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) sorted[key] = sortKeys((value as Record<string, unknown>)[key]);
    return sorted;
  }
  return value;
}

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  // A trailing newline ends the last line; it does not start an empty one.
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** The line diff of two JSON values, each printed by `stableJson`. */
export function diffJson(before: unknown, after: unknown): DiffLine[] {
  return diffText(stableJson(before), stableJson(after));
}

/** The line diff of two texts, every line numbered on its side(s). */
export function diffText(before: string, after: string): DiffLine[] {
  // A newline at the end of both keeps jsdiff from marking a changed last line as a change of
  // the line ending too.
  const changes = diffLines(`${before}\n`, `${after}\n`, { maxEditLength: MAX_EDIT_LENGTH }) ?? [
    { value: `${before}\n`, removed: true, added: false, count: 0 },
    { value: `${after}\n`, removed: false, added: true, count: 0 },
  ];
  const lines: DiffLine[] = [];
  let beforeNo = 0;
  let afterNo = 0;
  for (const change of changes) {
    for (const text of splitLines(change.value)) {
      if (change.added) lines.push({ kind: 'added', text, after: ++afterNo });
      else if (change.removed) lines.push({ kind: 'removed', text, before: ++beforeNo });
      else lines.push({ kind: 'same', text, before: ++beforeNo, after: ++afterNo });
    }
  }
  return lines;
}

/**
 * The side-by-side rows of a diff: unchanged lines face themselves, and each run of removed
 * lines faces the run of added lines that follows it, line by line, the longer run's rest
 * facing nothing.
 */
export function pairLines(lines: DiffLine[]): PairedRow[] {
  const rows: PairedRow[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.kind === 'same') {
      rows.push({ left: line, right: line });
      i += 1;
      continue;
    }
    const removed: DiffLine[] = [];
    const added: DiffLine[] = [];
    while (i < lines.length && lines[i]!.kind === 'removed') removed.push(lines[i++]!);
    while (i < lines.length && lines[i]!.kind === 'added') added.push(lines[i++]!);
    for (let k = 0; k < Math.max(removed.length, added.length); k += 1) {
      const row: PairedRow = {};
      if (removed[k]) row.left = removed[k];
      if (added[k]) row.right = added[k];
      rows.push(row);
    }
  }
  return rows;
}

/**
 * Folds every stretch of unchanged rows longer than `context` lines either side of a change
 * (and `minFold` in all, so folding never hides less than it costs to click).
 */
export function foldUnchanged<Row>(rows: Row[], isChanged: (row: Row) => boolean, context = 3, minFold = 4): Segment<Row>[] {
  const near = new Array<boolean>(rows.length).fill(false);
  rows.forEach((row, index) => {
    if (!isChanged(row)) return;
    for (let k = Math.max(0, index - context); k <= Math.min(rows.length - 1, index + context); k += 1) near[k] = true;
  });
  const segments: Segment<Row>[] = [];
  let start = 0;
  while (start < rows.length) {
    const shown = near[start]!;
    let end = start;
    while (end < rows.length && near[end] === shown) end += 1;
    const stretch = rows.slice(start, end);
    const kind = !shown && stretch.length >= minFold ? 'folded' : 'shown';
    const last = segments[segments.length - 1];
    if (kind === 'shown' && last?.kind === 'shown') last.rows.push(...stretch);
    else segments.push({ kind, rows: stretch });
    start = end;
  }
  return segments;
}

/** How many lines a diff adds and removes. */
export function countChanges(lines: DiffLine[]): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const line of lines) {
    if (line.kind === 'added') added += 1;
    else if (line.kind === 'removed') removed += 1;
  }
  return { added, removed };
}

/** One RFC 6902 operation as a line of the "paths changed" summary: `replace /title`, `move /a → /b`. */
export function describeOperation(operation: { op: string; path: string; from?: string }): string {
  const path = operation.path === '' ? '/ (the whole document)' : operation.path;
  return operation.from !== undefined ? `${operation.op} ${operation.from} → ${path}` : `${operation.op} ${path}`;
}
