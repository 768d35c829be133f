import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ErrorMessage } from '../ui/feedback.js';

interface ConfirmDialogProps {
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  /** Runs on confirmation; a failure is shown in the dialog, which stays open. */
  onConfirm(): Promise<void>;
  onClose(): void;
}

/**
 * A modal question before something that cannot be undone: the native dialog, so Escape
 * closes it and focus stays inside; the caller puts focus back on its trigger in onClose.
 */
export function ConfirmDialog({ title, children, confirmLabel, onConfirm, onClose }: ConfirmDialogProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
    return () => {
      if (element?.open) element.close();
    };
  }, []);

  const confirm = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await onConfirm();
      // Closing fires the dialog's close event, the one way onClose is called.
      dialog.current?.close();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <dialog ref={dialog} aria-labelledby="confirm-title" onClose={onClose} class="confirm-dialog">
      <h2 id="confirm-title">{title}</h2>
      {children}
      {error !== undefined && <ErrorMessage error={error} />}
      <div class="row dialog-actions">
        <button type="button" onClick={() => dialog.current?.close()} disabled={busy}>
          Cancel
        </button>
        <button type="button" class="danger" onClick={confirm} disabled={busy}>
          {busy ? 'Working…' : confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

/** Where focus goes back after a dialog: the button that opened it. */
export function useReturnFocus(): { remember(): void; restore(): void } {
  const trigger = useRef<HTMLElement | null>(null);
  return {
    remember: () => {
      trigger.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    },
    restore: () => {
      const element = trigger.current;
      // After a deletion the trigger may be gone with its row: then the page heading.
      if (element?.isConnected) element.focus();
      else document.getElementById('page-title')?.focus();
    },
  };
}
