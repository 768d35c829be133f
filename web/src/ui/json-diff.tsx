import { useMemo } from 'preact/hooks';
import { jsonDiffLines } from './json-diff-lines.js';
import './json-diff.css';

export interface JsonDiffProps {
  before: unknown;
  after: unknown;
  /** What the removed and added lines are, for the legend: "Theirs", "Yours". */
  beforeLabel: string;
  afterLabel: string;
  /** The accessible name of the diff. */
  label: string;
}

/** Two JSON documents line by line: lines only in `before` marked −, only in `after` marked +. */
export function JsonDiff({ before, after, beforeLabel, afterLabel, label }: JsonDiffProps) {
  const lines = useMemo(() => jsonDiffLines(before, after), [before, after]);
  const changed = lines.some((line) => line.kind !== 'same');
  return (
    <figure class="json-diff">
      <figcaption class="json-diff-legend">
        <span class="json-diff-removed">− {beforeLabel}</span> <span class="json-diff-added">+ {afterLabel}</span>
      </figcaption>
      {changed ? (
        <pre aria-label={label} tabIndex={0}>
          {lines.map((line, i) => (
            <div key={i} class={`json-diff-line json-diff-${line.kind}`}>
              <span class="json-diff-sign" aria-hidden="true">
                {line.kind === 'added' ? '+' : line.kind === 'removed' ? '−' : ' '}
              </span>
              {line.kind !== 'same' && <span class="json-diff-sr">{line.kind === 'added' ? `${afterLabel}: ` : `${beforeLabel}: `}</span>}
              {line.text}
            </div>
          ))}
        </pre>
      ) : (
        <p class="hint">The two are the same.</p>
      )}
    </figure>
  );
}
