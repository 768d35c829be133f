import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { ErrorMessage } from '../../ui/feedback.js';
import './confirm-action.css';

export interface ConfirmActionProps {
  /** Whether the dialog is shown (as a modal). */
  open: boolean;
  title: string;
  /** What will happen, in words. */
  children: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  /** Why the action failed, shown in the dialog so the person can retry or cancel. */
  error?: unknown;
  onConfirm(): void;
  /** Cancel, the Escape key or the dialog's close: focus goes back to what opened it. */
  onCancel(): void;
}

/**
 * A confirmation before an action that changes or removes something: a modal `<dialog>`
 * (focus trapped, Escape cancels), Cancel focused first so Enter never confirms by accident.
 */
export function ConfirmAction({ open, title, children, confirmLabel, danger, busy, error, onConfirm, onCancel }: ConfirmActionProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  const opener = useRef<HTMLElement | null>(null);

  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    if (open && !element.open) {
      opener.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
      element.showModal();
    } else if (!open && element.open) {
      element.close();
    }
  }, [open]);

  const cancel = () => {
    onCancel();
    // The opener may be gone (the row it was in was removed): then the page decides.
    if (opener.current?.isConnected) opener.current.focus();
  };

  return (
    <dialog
      ref={dialog}
      aria-labelledby="confirm-title"
      onCancel={(event) => {
        event.preventDefault();
        if (!busy) cancel();
      }}
    >
      <h2 id="confirm-title">{title}</h2>
      <div class="confirm-body">{children}</div>
      {error !== undefined && <ErrorMessage error={error} />}
      <div class="row confirm-actions">
        <button type="button" onClick={cancel} disabled={busy} autoFocus>
          Cancel
        </button>
        <button type="button" class={danger ? 'danger' : 'primary'} onClick={onConfirm} disabled={busy}>
          {busy ? 'Working…' : confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
