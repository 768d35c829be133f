import type { JSX } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { countChanges, diffJson, foldUnchanged, pairLines, type DiffLine, type PairedRow, type Segment } from './json-diff-model.js';
import './json-diff.css';

export type DiffLayout = 'split' | 'inline';

export interface JsonDiffProps {
  before: unknown;
  after: unknown;
  /** What the left side is, e.g. "Version 2" or "Yours". */
  beforeLabel: string;
  afterLabel: string;
  /** Unchanged lines kept around each change before the rest is folded away. */
  context?: number;
  /** The accessible name of the whole comparison, e.g. "Their version against yours". */
  label?: string;
}

/** Wide enough for two columns of JSON side by side. */
const WIDE = '(min-width: 800px)';

/**
 * The layout the person picked, kept for the rest of the visit: a diff is remounted each time
 * other versions are compared, and the choice should not be lost to that.
 */
let picked: DiffLayout | undefined;

/** Side by side on a wide screen, inline on a narrow one, until the person picks. */
function useLayout(): [DiffLayout, (layout: DiffLayout) => void] {
  const query = typeof window.matchMedia === 'function' ? window.matchMedia(WIDE) : undefined;
  const [auto, setAuto] = useState<DiffLayout>(query?.matches === false ? 'inline' : 'split');
  const [chosen, setChosen] = useState<DiffLayout | undefined>(picked);
  useEffect(() => {
    if (!query) return;
    const onChange = () => setAuto(query.matches ? 'split' : 'inline');
    query.addEventListener('change', onChange);
    return () => query.removeEventListener('change', onChange);
  }, [query?.media]);
  const choose = (layout: DiffLayout) => {
    picked = layout;
    setChosen(layout);
  };
  return [chosen ?? auto, choose];
}

/**
 * Two JSON values compared line by line (keys sorted, so only real changes show): additions
 * and removals coloured and marked + / − with words for screen readers, long unchanged
 * stretches folded behind a button.
 */
export function JsonDiff({ before, after, beforeLabel, afterLabel, context = 3, label }: JsonDiffProps) {
  const lines = useMemo(() => diffJson(before, after), [before, after]);
  const { added, removed } = countChanges(lines);
  const [layout, setLayout] = useLayout();

  return (
    <div class="json-diff" role="group" aria-label={label ?? `${beforeLabel} against ${afterLabel}`}>
      <div class="jd-toolbar">
        <p class="jd-stats">
          {added === 0 && removed === 0 ? (
            'No changes: both sides hold the same data.'
          ) : (
            <>
              <span class="jd-stat-added">+{added}</span> <span class="sr-only">lines added,</span> <span class="jd-stat-removed">−{removed}</span>{' '}
              <span class="sr-only">lines removed</span>
              <span aria-hidden="true"> lines</span>
            </>
          )}
        </p>
        <div class="jd-layout" role="group" aria-label="Diff layout">
          <button type="button" aria-pressed={layout === 'split'} onClick={() => setLayout('split')}>
            Side by side
          </button>
          <button type="button" aria-pressed={layout === 'inline'} onClick={() => setLayout('inline')}>
            Inline
          </button>
        </div>
      </div>
      {layout === 'split' ? (
        <SplitView lines={lines} beforeLabel={beforeLabel} afterLabel={afterLabel} context={context} />
      ) : (
        <InlineView lines={lines} beforeLabel={beforeLabel} afterLabel={afterLabel} context={context} />
      )}
    </div>
  );
}

interface ViewProps {
  lines: DiffLine[];
  beforeLabel: string;
  afterLabel: string;
  context: number;
}

const MARK: Record<DiffLine['kind'], string> = { added: '+', removed: '−', same: ' ' };
const SPOKEN: Record<DiffLine['kind'], string> = { added: 'added: ', removed: 'removed: ', same: '' };

/** The folds a person opened, forgotten when the compared values change. */
function useSegments<Row>(rows: Row[], isChanged: (row: Row) => boolean, context: number) {
  const segments = useMemo(() => foldUnchanged(rows, isChanged, context), [rows, context]);
  const [opened, setOpened] = useState<ReadonlySet<number>>(new Set());
  useEffect(() => setOpened(new Set()), [rows]);
  const open = (index: number) => setOpened((previous) => new Set(previous).add(index));
  return { segments, opened, open };
}

function Fold({ count, columns, onOpen }: { count: number; columns: number; onOpen: () => void }) {
  return (
    <tr class="jd-fold">
      <td colSpan={columns}>
        <button type="button" class="link" onClick={onOpen}>
          Show {count} unchanged {count === 1 ? 'line' : 'lines'}
        </button>
      </td>
    </tr>
  );
}

function renderSegments<Row>(
  segments: Segment<Row>[],
  opened: ReadonlySet<number>,
  open: (i: number) => void,
  columns: number,
  row: (r: Row, key: string) => JSX.Element,
) {
  return segments.flatMap((segment, s) =>
    segment.kind === 'folded' && !opened.has(s)
      ? [<Fold key={`fold-${s}`} count={segment.rows.length} columns={columns} onOpen={() => open(s)} />]
      : segment.rows.map((r, i) => row(r, `${s}-${i}`)),
  );
}

function InlineView({ lines, beforeLabel, afterLabel, context }: ViewProps) {
  const { segments, opened, open } = useSegments(lines, (line) => line.kind !== 'same', context);
  return (
    <div class="table-wrap">
      <table class="jd-table jd-inline">
        <caption class="sr-only">
          Changes from {beforeLabel} to {afterLabel}, one line per row
        </caption>
        <thead>
          <tr>
            <th scope="col" class="jd-no" title={beforeLabel}>
              <span class="sr-only">{beforeLabel} line</span>
              <span aria-hidden="true">A</span>
            </th>
            <th scope="col" class="jd-no" title={afterLabel}>
              <span class="sr-only">{afterLabel} line</span>
              <span aria-hidden="true">B</span>
            </th>
            <th scope="col">
              {beforeLabel} → {afterLabel}
            </th>
          </tr>
        </thead>
        <tbody>
          {renderSegments(segments, opened, open, 3, (line, key) => (
            <tr key={key} class={`jd-${line.kind}`}>
              <td class="jd-no">{line.before ?? ''}</td>
              <td class="jd-no">{line.after ?? ''}</td>
              <LineCell line={line} />
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function SplitView({ lines, beforeLabel, afterLabel, context }: ViewProps) {
  const rows = useMemo(() => pairLines(lines), [lines]);
  const { segments, opened, open } = useSegments(rows, (row: PairedRow) => row.left?.kind !== 'same' || row.right?.kind !== 'same', context);
  return (
    <div class="table-wrap">
      <table class="jd-table jd-split">
        <caption class="sr-only">
          {beforeLabel} on the left, {afterLabel} on the right
        </caption>
        <thead>
          <tr>
            <th scope="col" class="jd-no">
              <span class="sr-only">Line</span>
            </th>
            <th scope="col">{beforeLabel}</th>
            <th scope="col" class="jd-no">
              <span class="sr-only">Line</span>
            </th>
            <th scope="col">{afterLabel}</th>
          </tr>
        </thead>
        <tbody>
          {renderSegments(segments, opened, open, 4, (row, key) => (
            <tr key={key}>
              <td class={`jd-no jd-${row.left?.kind ?? 'blank'}`}>{row.left?.before ?? ''}</td>
              {row.left ? <LineCell line={row.left} /> : <td class="jd-blank" />}
              <td class={`jd-no jd-${row.right?.kind ?? 'blank'}`}>{row.right?.after ?? ''}</td>
              {row.right ? <LineCell line={row.right} /> : <td class="jd-blank" />}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** A line's text with its visible +/− mark and, for screen readers, the word. */
function LineCell({ line }: { line: DiffLine }) {
  return (
    <td class={`jd-line jd-${line.kind}`}>
      <span class="jd-mark" aria-hidden="true">
        {MARK[line.kind]}
      </span>
      {line.kind !== 'same' && <span class="sr-only">{SPOKEN[line.kind]}</span>}
      <code>{line.text}</code>
    </td>
  );
}
