import type { PermissionPreviewInput, ResourceSummary } from '@pcf/sdk';
import { useId } from 'preact/hooks';
import { href } from '../router.js';
import { ErrorMessage } from '../ui/feedback.js';
import { fieldsFor, OPERATORS } from './conditions.js';
import { usePreview, type PreviewState } from './use-preview.js';
import { UserPicker } from './user-picker.js';
import './admin.css';

interface ConditionEditorProps {
  resourceType: string;
  action: PermissionPreviewInput['action'];
  text: string;
  onInput(text: string): void;
  /** Whom `"${user.id}"` stands for in the preview; undefined: the signed-in administrator. */
  previewUserId: string | undefined;
  onPreviewUser(id: string | undefined): void;
}

/**
 * Conditions as JSON, checked as they are typed: JSON at once, then by the server, which
 * validates them as a grant would and previews the resources they match.
 */
export function ConditionEditor({ resourceType, action, text, onInput, previewUserId, onPreviewUser }: ConditionEditorProps) {
  const state = usePreview({ resourceType, action, text, userId: previewUserId });
  const id = useId();
  const verdictId = `${id}-verdict`;
  const hintId = `${id}-hint`;
  const invalid = state.kind === 'json' || state.kind === 'invalid';

  return (
    <div class="condition-editor">
      <label>
        Conditions (JSON)
        <textarea
          class="mono"
          rows={6}
          spellcheck={false}
          value={text}
          placeholder='{"ownerId": "${user.id}"}'
          onInput={(e) => onInput(e.currentTarget.value)}
          aria-invalid={invalid ? 'true' : undefined}
          aria-describedby={`${hintId} ${verdictId}`}
        />
      </label>
      <p id={hintId} class="hint">
        Empty for unconditional. Fields: {fieldsFor(resourceType.trim())}.
      </p>
      <div id={verdictId} class="condition-verdict" aria-live="polite">
        <Verdict state={state} />
      </div>
      <UserPicker label="Preview as" value={previewUserId} onChange={onPreviewUser} noneLabel="Me (the signed-in administrator)" />
      <OperatorReference />
    </div>
  );
}

function Verdict({ state }: { state: PreviewState }) {
  switch (state.kind) {
    case 'idle':
      return <p class="hint">Name a resource type to check the conditions.</p>;
    case 'json':
      return (
        <p class="field-error">
          {state.message}
          {state.line !== undefined && ` (line ${state.line}, column ${state.column})`}
        </p>
      );
    case 'checking':
      return <p class="hint">Checking…</p>;
    case 'failed':
      return <ErrorMessage error={state.error} title="The preview failed." />;
    case 'invalid':
      return (
        <div class="field-error" role="group" aria-label="Problems with the permission">
          <p>{state.message}</p>
          <ul>
            {state.problems.map((p) => (
              <li key={`${p.path}:${p.message}`}>
                <code>{p.path === '' ? 'conditions' : p.path}</code>: {p.message}
              </li>
            ))}
            {state.other.map((p) => (
              <li key={`${p.field}:${p.message}`}>
                <code>{p.field}</code>: {p.message}
              </li>
            ))}
          </ul>
        </div>
      );
    case 'valid':
      return <Matches matches={state.preview.matches} more={state.preview.more} complete={state.preview.complete} />;
  }
}

function Matches({ matches, more, complete }: { matches: ResourceSummary[]; more: boolean; complete: boolean }) {
  return (
    <section class="preview" aria-label="Preview">
      <p class="ok">
        Valid.{' '}
        {matches.length === 0
          ? 'It matches no resources now.'
          : `It matches ${more ? `more than ${matches.length}` : matches.length} resource${matches.length === 1 && !more ? '' : 's'}${more ? '; the newest:' : ':'}`}
      </p>
      {!complete && <p class="hint">Only the newest 10,000 resources were looked at; older ones it matches are not shown.</p>}
      {matches.length > 0 && (
        <ul class="preview-list">
          {matches.map((r) => (
            <li key={r.id}>
              <a href={href(`/resources/${encodeURIComponent(r.id)}`)}>{r.name}</a> <span class="hint">({r.type})</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function OperatorReference() {
  return (
    <details class="operator-reference">
      <summary>Operators</summary>
      <dl>
        {OPERATORS.map(([name, meaning]) => (
          <div key={name}>
            <dt>
              <code>{name}</code>
            </dt>
            <dd>{meaning}</dd>
          </div>
        ))}
      </dl>
    </details>
  );
}
