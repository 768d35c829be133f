import { JsonEditor } from '../../editor/json-editor.js';
import type { Draft } from './draft.js';
import { syntaxProblem } from './draft.js';
import type { FieldMessages } from './field-errors.js';

export interface DocumentFieldsProps {
  draft: Draft;
  onChange(changes: Partial<Draft>): void;
  /** Problems to show on the fields: the browser's checks on Save, or the server's field errors. */
  problems: FieldMessages;
  /** The API sets a type once, at creation. */
  typeEditable: boolean;
}

/**
 * Name, type, metadata and data of a document, each with its problem under it. JSON syntax
 * problems show as they are typed; other problems once the form is sent.
 */
export function DocumentFields({ draft, onChange, problems, typeEditable }: DocumentFieldsProps) {
  const metadataProblem = syntaxProblem(draft.metadata) ?? problems.metadata;
  const dataProblem = syntaxProblem(draft.data) ?? problems.data;
  return (
    <>
      <label>
        Name
        <input
          name="name"
          value={draft.name}
          maxLength={255}
          required
          aria-invalid={problems.name ? 'true' : undefined}
          aria-describedby={problems.name ? 'name-problem' : undefined}
          onInput={(e) => onChange({ name: e.currentTarget.value })}
        />
        {problems.name && (
          <span id="name-problem" class="field-error">
            {problems.name}
          </span>
        )}
      </label>
      <label>
        Type
        <input
          name="type"
          value={draft.type}
          maxLength={64}
          required={typeEditable}
          readOnly={!typeEditable}
          spellcheck={false}
          autoCapitalize="off"
          aria-invalid={problems.type ? 'true' : undefined}
          aria-describedby={problems.type ? 'type-problem' : 'type-hint'}
          onInput={(e) => onChange({ type: e.currentTarget.value })}
        />
        {problems.type ? (
          <span id="type-problem" class="field-error">
            {problems.type}
          </span>
        ) : (
          <span id="type-hint" class="hint">
            {typeEditable ? 'Lowercase: a letter, then letters, digits, _ . or - (for example: note).' : 'The type is set when a document is created.'}
          </span>
        )}
      </label>
      <div class="field">
        <span class="field-label" aria-hidden="true">
          Metadata
        </span>
        <JsonEditor label="Metadata" value={draft.metadata} onChange={(metadata) => onChange({ metadata })} problem={metadataProblem} minLines={3} />
        {metadataProblem ? (
          <span class="field-error" data-field="metadata">
            {metadataProblem}
          </span>
        ) : (
          <span class="hint">A JSON object.</span>
        )}
      </div>
      <div class="field">
        <span class="field-label" aria-hidden="true">
          Data
        </span>
        <JsonEditor label="Data" value={draft.data} onChange={(data) => onChange({ data })} problem={dataProblem} minLines={10} />
        {dataProblem ? (
          <span class="field-error" data-field="data">
            {dataProblem}
          </span>
        ) : (
          <span class="hint">Any JSON value.</span>
        )}
      </div>
    </>
  );
}
