import type { Resource } from '@pcf/sdk';
import { useEffect, useRef } from 'preact/hooks';
import { JsonDiff } from '../../ui/json-diff.js';
import type { DraftValue } from './draft.js';
import { formatTime } from './format.js';

export interface ConflictPanelProps {
  /** The document as it is saved now. */
  theirs: Resource;
  /** What the person tried to save. */
  mine: DraftValue;
  busy: boolean;
  onReloadTheirs(): void;
  onOverwrite(): void;
}

/** The document was saved by someone else since it was read: theirs against mine, and a deliberate choice. */
export function ConflictPanel({ theirs, mine, busy, onReloadTheirs, onOverwrite }: ConflictPanelProps) {
  const heading = useRef<HTMLHeadingElement>(null);
  // The panel is why Save did nothing: the focus goes to it, so it is read out.
  useEffect(() => heading.current?.focus(), [theirs.revision]);
  return (
    <section class="conflict" aria-labelledby="conflict-title">
      <h2 id="conflict-title" tabIndex={-1} ref={heading}>
        Changed by someone else
      </h2>
      <p>
        Since you opened it, this document was saved by someone else (revision {theirs.revision}, {formatTime(theirs.updatedAt)}). Your changes are not saved
        yet. Compare the two, then keep theirs or save yours over them.
      </p>
      <JsonDiff
        before={{ name: theirs.name, metadata: theirs.metadata, data: theirs.data }}
        after={{ name: mine.name, metadata: mine.metadata, data: mine.data }}
        beforeLabel="Theirs (saved)"
        afterLabel="Yours (not saved)"
        label="Their version against yours"
      />
      <div class="record-actions">
        <button type="button" onClick={onReloadTheirs} disabled={busy}>
          Reload theirs
        </button>
        <button type="button" class="primary" onClick={onOverwrite} disabled={busy}>
          Overwrite with mine
        </button>
      </div>
    </section>
  );
}
