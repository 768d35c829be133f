import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ErrorMessage } from './feedback.js';

export interface ConfirmDialogProps {
  title: string;
  /** What will happen, in words. */
  children: ComponentChildren;
  confirmLabel: string;
  /** Red for what removes something (the default); the accent colour for what only changes. */
  danger?: boolean;
  /** Shown above the server's message when the action fails, e.g. "The document was not deleted." */
  errorTitle?: string;
  /** Runs on confirmation; a failure is shown in the dialog, which stays open to retry or cancel. */
  onConfirm(): Promise<void>;
  /** Cancel, Escape, or the action done: the caller stops rendering the dialog. */
  onClose(): void;
}

let dialogs = 0;

/**
 * The one confirmation of the console, before anything that removes or rewrites: a modal
 * `<dialog>` (focus kept inside, Escape cancels), opened when rendered, with Cancel focused
 * first so Enter never confirms by accident. When it goes, the focus goes back to what opened
 * it, if that is still on the page (a removed row's button is not: the page decides then).
 */
export function ConfirmDialog({ title, children, confirmLabel, danger = true, errorTitle, onConfirm, onClose }: ConfirmDialogProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [titleId] = useState(() => `confirm-title-${(dialogs += 1)}`);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

  useEffect(() => {
    const element = dialog.current;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (element && !element.open) element.showModal();
    return () => {
      if (element?.open) element.close();
      if (opener?.isConnected) opener.focus();
    };
  }, []);

  const confirm = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await onConfirm();
      // Closing fires the dialog's close event: onClose is called from there only.
      dialog.current?.close();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <dialog
      ref={dialog}
      class="confirm-dialog"
      aria-labelledby={titleId}
      onClose={onClose}
      onCancel={(event) => {
        // Escape while the action runs would hide its outcome.
        if (busy) event.preventDefault();
      }}
    >
      <h2 id={titleId}>{title}</h2>
      <div class="confirm-body">{children}</div>
      {error !== undefined && <ErrorMessage error={error} title={errorTitle} />}
      <div class="row confirm-actions">
        <button type="button" onClick={() => dialog.current?.close()} disabled={busy} autoFocus>
          Cancel
        </button>
        <button type="button" class={danger ? 'danger' : 'primary'} onClick={confirm} disabled={busy}>
          {busy ? 'Working…' : confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
