import { PcfConflictError, type Resource } from '@pcf/sdk';
import type { ResourceChangedPayload } from '@pcf/sdk/live';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { PageProps } from '../../app.js';
import { pcf } from '../../client.js';
import { href, navigate } from '../../router.js';
import { useSession } from '../../session.js';
import { explain } from '../../ui/errors.js';
import { ErrorMessage, Loading } from '../../ui/feedback.js';
import { Page } from '../../ui/page.js';
import { ConflictPanel } from './conflict-panel.js';
import { DeleteDocument } from './delete-dialog.js';
import { DocumentFields } from './document-fields.js';
import { changesOf, checkDraft, draftOf, isEdited, type Draft, type DraftValue } from './draft.js';
import { fieldMessages, type FieldMessages } from './field-errors.js';
import { FormProblems } from './form-problems.js';
import { formatTime, ownerLabel } from './format.js';
import { RecordTabs } from './tabs.js';
import { useLiveResource } from './use-live-resource.js';
import './documents.css';

export function RecordPage({ params }: PageProps) {
  const id = params.id ?? '';
  const [base, setBase] = useState<Resource>();
  const [loadError, setLoadError] = useState<unknown>();

  useEffect(() => {
    const controller = new AbortController();
    setBase(undefined);
    setLoadError(undefined);
    pcf.resources.get(id, { signal: controller.signal }).then(setBase, (e: unknown) => !controller.signal.aborted && setLoadError(e));
    return () => controller.abort();
  }, [id]);

  return (
    <Page title={base?.name ?? 'Document'}>
      <RecordTabs id={id} current="document" />
      {loadError !== undefined && (
        <>
          <ErrorMessage error={loadError} title="The document could not be opened." />
          <p>
            <a href={href('/resources')}>Back to the documents</a>
          </p>
        </>
      )}
      {!base && loadError === undefined && <Loading label="Loading the document…" />}
      {base && <RecordEditor key={base.id} initial={base} onLoaded={setBase} />}
    </Page>
  );
}

type Gone = { kind: 'deleted' } | { kind: 'no-access'; error: unknown };

/** The form of one document, kept in step with the server while it is open. */
function RecordEditor({ initial, onLoaded }: { initial: Resource; onLoaded(resource: Resource): void }) {
  const { me } = useSession();
  const [base, setBaseState] = useState(initial);
  const [draft, setDraft] = useState<Draft>(() => draftOf(initial));
  const [problems, setProblems] = useState<FieldMessages>({});
  const [refused, setRefused] = useState(false);
  const [error, setError] = useState<unknown>();
  const [saving, setSaving] = useState(false);
  const [status, setStatus] = useState('');
  const [conflict, setConflict] = useState<{ theirs: Resource; mine: DraftValue }>();
  const [incoming, setIncoming] = useState<Resource>();
  const [gone, setGone] = useState<Gone>();

  // The live handlers run outside renders: they read the latest state through these.
  const baseRef = useRef(base);
  const draftRef = useRef(draft);
  baseRef.current = base;
  draftRef.current = draft;

  /** The document as saved now becomes what the form shows and edits are based on. */
  const adopt = (resource: Resource) => {
    baseRef.current = resource;
    draftRef.current = draftOf(resource);
    setBaseState(resource);
    setDraft(draftRef.current);
    setIncoming(undefined);
    setConflict(undefined);
    setProblems({});
    setRefused(false);
    setError(undefined);
    onLoaded(resource);
  };

  /** Someone else's change: shown at once, unless it would overwrite the person's edits. */
  const arrived = (resource: Resource) => {
    if (resource.revision <= baseRef.current.revision) return; // our own save, or older
    if (isEdited(baseRef.current, draftRef.current)) setIncoming(resource);
    else {
      adopt(resource);
      setStatus(`Updated by someone else: revision ${resource.revision}.`);
    }
  };

  useLiveResource(base.id, {
    onChange(event: ResourceChangedPayload) {
      if (event.kind === 'DELETED') setGone({ kind: 'deleted' });
      else if (event.kind === 'RESYNC') void pcf.resources.get(base.id).then(arrived, () => undefined);
      else if (event.resource) arrived(event.resource as Resource);
    },
    onEnd(endError) {
      if (endError !== undefined && explain(endError).code === 'NOT_FOUND') setGone({ kind: 'no-access', error: endError });
    },
  });

  const change = (changes: Partial<Draft>) => {
    setDraft((d) => ({ ...d, ...changes }));
    setStatus('');
    setProblems((p) => {
      const next = { ...p };
      for (const key of Object.keys(changes)) delete next[key as keyof Draft];
      return next;
    });
  };

  /** Sends mine against `against`'s revision; a conflict opens the panel instead. */
  const send = async (against: Resource, changes: Parameters<typeof pcf.resources.update>[1], mine: DraftValue) => {
    setSaving(true);
    setError(undefined);
    try {
      const saved = await pcf.resources.update(against, changes);
      adopt(saved);
      setStatus(`Saved: version ${saved.version}, revision ${saved.revision}.`);
    } catch (e) {
      if (e instanceof PcfConflictError && e.current) {
        setIncoming(undefined); // the panel says it all, and more
        setConflict({ theirs: e.current, mine });
        return;
      }
      const { fields, other } = fieldMessages(explain(e).fields);
      setProblems(fields);
      setRefused(Object.keys(fields).length > 0);
      if (Object.keys(fields).length === 0 || other.length > 0) setError(e);
    } finally {
      setSaving(false);
    }
  };

  const save = async (event: Event) => {
    event.preventDefault();
    setStatus('');
    const checked = checkDraft(draft);
    if (!checked.value) {
      setProblems(checked.problems);
      setRefused(true);
      return;
    }
    setRefused(false);
    const changes = changesOf(base, checked.value);
    if (Object.keys(changes).length === 0) {
      setStatus('Nothing to save: the document is as saved.');
      return;
    }
    await send(base, changes, checked.value);
  };

  const overwrite = () => {
    if (!conflict) return;
    const { theirs, mine } = conflict;
    // Deliberately against their revision: everything of mine, so mine is what is saved.
    void send(theirs, { name: mine.name, metadata: mine.metadata, data: mine.data }, mine);
  };

  const compareIncoming = () => {
    const checked = checkDraft(draftRef.current);
    if (incoming && checked.value) setConflict({ theirs: incoming, mine: checked.value });
    setIncoming(undefined);
  };

  const remove = async () => {
    await pcf.resources.delete(base.id);
    navigate('/resources');
  };

  const edited = isEdited(base, draft);
  return (
    <>
      <dl class="record-facts">
        <div>
          <dt>Type</dt>
          <dd>
            <code>{base.type}</code>
          </dd>
        </div>
        <div>
          <dt>Version</dt>
          <dd>{base.version}</dd>
        </div>
        <div>
          <dt>Revision</dt>
          <dd>{base.revision}</dd>
        </div>
        <div>
          <dt>Updated</dt>
          <dd>
            <time dateTime={base.updatedAt}>{formatTime(base.updatedAt)}</time>
          </dd>
        </div>
        <div>
          <dt>Owner</dt>
          <dd title={base.ownerId}>{ownerLabel(base.ownerId, me?.user.id ?? '')}</dd>
        </div>
      </dl>
      {gone?.kind === 'deleted' && (
        <div class="error" role="alert">
          This document was deleted. <a href={href('/resources')}>Back to the documents</a>
        </div>
      )}
      {gone?.kind === 'no-access' && <ErrorMessage error={gone.error} title="You can no longer read this document." />}
      {incoming && !gone && (
        <div class="notice" role="status">
          <span>This document changed: someone else saved revision {incoming.revision} while you were editing. Your edits are not saved.</span>
          <button type="button" onClick={() => adopt(incoming)}>
            Reload theirs
          </button>
          {checkDraft(draft).value && (
            <button type="button" onClick={compareIncoming}>
              Compare with mine
            </button>
          )}
        </div>
      )}
      {conflict && (
        <ConflictPanel theirs={conflict.theirs} mine={conflict.mine} busy={saving} onReloadTheirs={() => adopt(conflict.theirs)} onOverwrite={overwrite} />
      )}
      <form class="form record-form" onSubmit={save} noValidate aria-label="Document">
        <DocumentFields draft={draft} onChange={change} problems={problems} typeEditable={false} />
        {refused && <FormProblems problems={problems} action="save" />}
        {error !== undefined && <ErrorMessage error={error} title="The document was not saved." />}
        <div class="record-actions">
          <button type="submit" class="primary" disabled={saving || !!gone}>
            {saving ? 'Saving…' : 'Save'}
          </button>
          {edited && !saving && (
            <button type="button" onClick={() => adopt(base)}>
              Discard changes
            </button>
          )}
          <span class="saved" role="status">
            {status}
          </span>
          <span class="spacer" />
          {!gone && <DeleteDocument name={base.name} onDelete={remove} />}
        </div>
      </form>
    </>
  );
}
