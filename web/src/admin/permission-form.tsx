import type { Permission, PermissionInput } from '@pcf/sdk';
import { useId, useState } from 'preact/hooks';
import { explain } from '../ui/errors.js';
import { ErrorMessage } from '../ui/feedback.js';
import { ConditionEditor } from './condition-editor.js';
import { messageFor, parseConditions, splitProblems } from './conditions.js';

const ACTIONS: Permission['action'][] = ['read', 'create', 'update', 'delete', 'manage'];

interface PermissionFormProps {
  /** Grants it (to a role or a user); INVALID_INPUT is shown on the fields it names. */
  onAdd(input: PermissionInput): Promise<void>;
  /** Whom the preview resolves `"${user.id}"` for at first (the user being granted). */
  defaultPreviewUserId?: string;
}

/** A new permission: resource type, action, and conditions checked as they are typed. */
export function PermissionForm({ onAdd, defaultPreviewUserId }: PermissionFormProps) {
  const [resourceType, setResourceType] = useState('');
  const [action, setAction] = useState<Permission['action']>('read');
  const [text, setText] = useState('');
  const [previewUserId, setPreviewUserId] = useState(defaultPreviewUserId);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const id = useId();
  const typesId = `${id}-types`;
  const typeErrorId = `${id}-type-error`;

  const fields = error === undefined ? [] : explain(error).fields;
  const typeError = messageFor(fields, 'resourceType');
  const conditionErrors = splitProblems(fields).conditions;

  const submit = async (event: Event) => {
    event.preventDefault();
    const parsed = parseConditions(text);
    if (!parsed.ok) return; // the editor already says what is wrong with the JSON
    setBusy(true);
    setError(undefined);
    try {
      await onAdd({ resourceType: resourceType.trim(), action, conditions: parsed.conditions });
      setResourceType('');
      setText('');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="form permission-form" onSubmit={submit} aria-label="Add a permission">
      {error !== undefined && <ErrorMessage error={error} title="The permission was not added." />}
      <div class="row">
        <label>
          Resource type
          <input
            required
            value={resourceType}
            list={typesId}
            onInput={(e) => setResourceType(e.currentTarget.value)}
            aria-invalid={typeError ? 'true' : undefined}
            aria-describedby={typeError ? typeErrorId : undefined}
          />
        </label>
        {typeError && (
          <span id={typeErrorId} class="field-error">
            {typeError}
          </span>
        )}
        <datalist id={typesId}>
          <option value="*">every resource type</option>
          <option value="user">users</option>
          <option value="role">roles</option>
        </datalist>
        <label>
          Action
          <select value={action} onChange={(e) => setAction(e.currentTarget.value as Permission['action'])}>
            {ACTIONS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ConditionEditor
        resourceType={resourceType}
        action={action}
        text={text}
        onInput={setText}
        previewUserId={previewUserId}
        onPreviewUser={setPreviewUserId}
      />
      {conditionErrors.length > 0 && (
        <ul class="field-error">
          {conditionErrors.map((p) => (
            <li key={p.path}>
              <code>{p.path || 'conditions'}</code>: {p.message}
            </li>
          ))}
        </ul>
      )}
      <div>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Adding…' : 'Add permission'}
        </button>
      </div>
    </form>
  );
}
