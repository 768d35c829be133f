import { useState } from 'preact/hooks';
import type { PageProps } from '../../app.js';
import { pcf } from '../../client.js';
import { href, navigate } from '../../router.js';
import { explain } from '../../ui/errors.js';
import { ErrorMessage } from '../../ui/feedback.js';
import { Page } from '../../ui/page.js';
import { DocumentFields } from './document-fields.js';
import { checkDraft, EMPTY_DRAFT, type Draft } from './draft.js';
import { fieldMessages, type FieldMessages } from './field-errors.js';
import { FormProblems } from './form-problems.js';
import './documents.css';

export function CreateResourcePage({ route }: PageProps) {
  // A type filter of the list the person came from is the likely type of the new one.
  const [draft, setDraft] = useState<Draft>({ ...EMPTY_DRAFT, type: route.query.get('type') ?? '' });
  const [problems, setProblems] = useState<FieldMessages>({});
  const [refused, setRefused] = useState(false);
  const [error, setError] = useState<unknown>();
  const [saving, setSaving] = useState(false);

  const change = (changes: Partial<Draft>) => {
    setDraft((d) => ({ ...d, ...changes }));
    // A field edited after a refusal is no longer what the problem was about.
    setProblems((p) => {
      const next = { ...p };
      for (const key of Object.keys(changes)) delete next[key as keyof Draft];
      return next;
    });
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    setError(undefined);
    const checked = checkDraft(draft);
    if (!draft.type.trim()) checked.problems.type = 'Enter a type.';
    if (!checked.value || checked.problems.type) {
      setProblems(checked.problems);
      setRefused(true);
      return;
    }
    setRefused(false);
    setSaving(true);
    try {
      // The SDK sends an Idempotency-Key: a retry after a lost answer gives this document, not a second.
      const created = await pcf.resources.create(checked.value);
      navigate(`/resources/${encodeURIComponent(created.id)}`);
    } catch (e) {
      const { fields, other } = fieldMessages(explain(e).fields);
      setProblems(fields);
      setError(Object.keys(fields).length > 0 && other.length === 0 ? undefined : e);
      setRefused(Object.keys(fields).length > 0);
    } finally {
      setSaving(false);
    }
  };

  return (
    <Page title="New document">
      <form class="form record-form" onSubmit={submit} noValidate>
        <DocumentFields draft={draft} onChange={change} problems={problems} typeEditable />
        {refused && <FormProblems problems={problems} action="create the document" />}
        {error !== undefined && <ErrorMessage error={error} title="The document was not created." />}
        <div class="record-actions">
          <button type="submit" class="primary" disabled={saving}>
            {saving ? 'Creating…' : 'Create document'}
          </button>
          <a href={href('/resources')}>Cancel</a>
        </div>
      </form>
    </Page>
  );
}
