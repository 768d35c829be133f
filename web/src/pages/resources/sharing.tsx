import type { Resource, Share } from '@pcf/sdk';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { PageProps } from '../../app.js';
import { pcf } from '../../client.js';
import { explain } from '../../ui/errors.js';
import { Empty, ErrorMessage, Loading } from '../../ui/feedback.js';
import { ConfirmDialog } from '../../ui/confirm-dialog.js';
import { Page } from '../../ui/page.js';
import { SHARE_ACTIONS, shareActions, shortId, type ShareAction } from './history-model.js';
import { RecordTabs } from './tabs.js';
import './sharing.css';

/** Who a share is with: the name, else the start of the id (the list may not carry emails). */
const granteeName = (share: Pick<Share, 'userId' | 'name'>) => share.name || shortId(share.userId);

/**
 * Who a document is shared with, and with which actions; sharing it with someone by email,
 * and stopping. Only the owner (or an administrator) manages shares: for anyone else the
 * server's refusal is what the page shows.
 */
export function SharingPage({ params }: PageProps) {
  const id = params.id ?? '';
  const [resource, setResource] = useState<Resource>();
  const [shares, setShares] = useState<Share[]>();
  const [loadError, setLoadError] = useState<unknown>();
  const [removing, setRemoving] = useState<Share>();
  const [notice, setNotice] = useState<string>();
  const [refreshError, setRefreshError] = useState<unknown>();
  const noticeRef = useRef<HTMLParagraphElement>(null);

  const reload = useCallback(async () => setShares(await pcf.resources.shares(id)), [id]);

  useEffect(() => {
    setResource(undefined);
    setShares(undefined);
    setLoadError(undefined);
    // The shares first: a person who may not manage them is told so, whatever the document.
    Promise.all([pcf.resources.get(id), pcf.resources.shares(id)])
      .then(([current, list]) => {
        setResource(current);
        setShares(list);
      })
      .catch(setLoadError);
  }, [id]);

  /** A failure of the removal stays in the dialog (ConfirmDialog shows it); one of the reload after it does not. */
  const remove = async (share: Share) => {
    await pcf.resources.unshare(id, share.userId);
    setRemoving(undefined);
    // The row and its button are gone: the announcement takes the focus.
    await reloadAfter(`${granteeName(share)} no longer has access.`);
  };

  const announce = (message: string) => {
    setNotice(message);
    requestAnimationFrame(() => noticeRef.current?.focus());
  };

  /**
   * Reads the list again after a change that was made, and says so: a list that cannot be read
   * again is told apart from the change, which is done whatever the reload does.
   */
  const reloadAfter = async (done: string) => {
    try {
      await reload();
      setRefreshError(undefined);
      announce(done);
    } catch (e) {
      setRefreshError(e);
      announce(`${done} The list below could not be refreshed and may be out of date.`);
    }
  };

  const title = resource ? `Sharing ${resource.name}` : 'Sharing';
  return (
    <Page title={title}>
      <RecordTabs id={id} current="sharing" />
      {loadError !== undefined ? (
        <ErrorMessage error={loadError} title="The shares could not be read." />
      ) : !shares ? (
        <Loading label="Loading the shares…" />
      ) : (
        <>
          {notice && (
            <p class="sharing-notice" role="status" tabIndex={-1} ref={noticeRef}>
              {notice}
            </p>
          )}
          {refreshError !== undefined && <ErrorMessage error={refreshError} title="The shares could not be read again." />}
          <section aria-labelledby="shared-with-title">
            <h2 id="shared-with-title" class="sharing-heading">
              Shared with
            </h2>
            {shares.length === 0 ? (
              <Empty>Not shared with anyone yet. Share it by email below.</Empty>
            ) : (
              <div class="table-wrap">
                <table class="sharing-table">
                  <thead>
                    <tr>
                      <th scope="col">Person</th>
                      <th scope="col">May</th>
                      <th scope="col">
                        <span class="sr-only">Remove</span>
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {shares.map((share) => (
                      <tr key={share.userId}>
                        <th scope="row" title={share.userId}>
                          {granteeName(share)}
                        </th>
                        <td>{share.actions.join(', ')}</td>
                        <td class="sharing-remove">
                          <button type="button" class="danger" aria-label={`Remove share with ${granteeName(share)}`} onClick={() => setRemoving(share)}>
                            Remove
                          </button>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>
          <ShareForm id={id} onShared={(share) => reloadAfter(`Shared with ${granteeName(share)}: ${share.actions.join(', ')}.`)} />
          {removing && (
            <ConfirmDialog
              title={`Stop sharing with ${granteeName(removing)}?`}
              confirmLabel="Remove share"
              onConfirm={() => remove(removing)}
              onClose={() => setRemoving(undefined)}
            >
              <p>They lose access to this document at once. You can share it with them again later.</p>
            </ConfirmDialog>
          )}
        </>
      )}
    </Page>
  );
}

const ACTION_HINTS: Record<ShareAction, string> = {
  read: 'always given: the other actions need it',
  update: 'change its data, name and metadata',
  delete: 'delete the document',
};

function ShareForm({ id, onShared }: { id: string; onShared(share: Share): Promise<void> }) {
  const [email, setEmail] = useState('');
  const [ticked, setTicked] = useState<ReadonlySet<ShareAction>>(new Set(['read']));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [fieldErrors, setFieldErrors] = useState<Partial<Record<'email' | 'actions', string>>>({});
  const emailInput = useRef<HTMLInputElement>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    setFieldErrors({});
    let share: Share;
    try {
      share = await pcf.resources.share(id, { email: email.trim(), actions: shareActions(ticked) });
    } catch (e) {
      const { code, fields } = explain(e);
      const byField: Partial<Record<'email' | 'actions', string>> = {};
      for (const field of fields) if (field.field === 'email' || field.field === 'actions') byField[field.field] = field.message;
      // The server says an unknown address with a plain 404 (it never repeats the address).
      if (code === 'NOT_FOUND' && fields.length === 0) byField.email = 'No account has this email address. Check it, or ask them to register first.';
      setFieldErrors(byField);
      const placed = Object.keys(byField).length;
      if (placed === 0 || placed < fields.length) setError(e);
      if (byField.email) emailInput.current?.focus();
      setBusy(false);
      return;
    }
    // Shared: what follows (reading the list again) is not the share's failure, nor shown as one.
    setEmail('');
    setTicked(new Set(['read']));
    setBusy(false);
    await onShared(share);
  };

  const toggle = (action: ShareAction, on: boolean) =>
    setTicked((previous) => {
      const next = new Set(previous);
      if (on) next.add(action);
      else next.delete(action);
      return next;
    });

  return (
    <section aria-labelledby="share-title">
      <h2 id="share-title" class="sharing-heading">
        Share with someone
      </h2>
      <form class="form narrow" onSubmit={submit} noValidate>
        <label>
          Email
          <input
            ref={emailInput}
            type="email"
            name="email"
            autoComplete="off"
            required
            maxLength={320}
            value={email}
            onInput={(e) => setEmail(e.currentTarget.value)}
            aria-invalid={fieldErrors.email ? 'true' : undefined}
            aria-describedby={fieldErrors.email ? 'share-email-error' : 'share-email-hint'}
          />
          {fieldErrors.email ? (
            <span id="share-email-error" class="field-error">
              {fieldErrors.email}
            </span>
          ) : (
            <span id="share-email-hint" class="hint">
              The email address of their account.
            </span>
          )}
        </label>
        <fieldset
          class="sharing-actions"
          aria-invalid={fieldErrors.actions ? 'true' : undefined}
          aria-describedby={fieldErrors.actions ? 'share-actions-error' : undefined}
        >
          <legend>They may</legend>
          {SHARE_ACTIONS.map((action) => (
            <label key={action} class="sharing-action">
              <input
                type="checkbox"
                name="actions"
                value={action}
                checked={action === 'read' || ticked.has(action)}
                disabled={action === 'read'}
                onChange={(e) => toggle(action, e.currentTarget.checked)}
              />
              <span>
                {action} <span class="hint">({ACTION_HINTS[action]})</span>
              </span>
            </label>
          ))}
          {fieldErrors.actions && (
            <span id="share-actions-error" class="field-error">
              {fieldErrors.actions}
            </span>
          )}
        </fieldset>
        {error !== undefined && <ErrorMessage error={error} title="Not shared." />}
        <div class="row">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Sharing…' : 'Share'}
          </button>
        </div>
      </form>
    </section>
  );
}
