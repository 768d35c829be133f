import { useRef, useState } from 'preact/hooks';
import { ErrorMessage } from '../../ui/feedback.js';

/**
 * "Delete" and the dialog that asks first. Escape or Cancel closes it, and the focus goes
 * back to the button; Cancel has the focus when it opens, so Enter does no harm.
 */
export function DeleteDocument({ name, onDelete }: { name: string; onDelete(): Promise<void> }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const trigger = useRef<HTMLButtonElement>(null);
  const [error, setError] = useState<unknown>();
  const [deleting, setDeleting] = useState(false);

  const open = () => {
    setError(undefined);
    dialog.current?.showModal();
  };
  const close = () => dialog.current?.close();
  const confirm = async () => {
    setDeleting(true);
    setError(undefined);
    try {
      await onDelete();
      close();
    } catch (e) {
      setError(e);
    } finally {
      setDeleting(false);
    }
  };

  return (
    <>
      <button type="button" class="danger" ref={trigger} onClick={open}>
        Delete
      </button>
      <dialog ref={dialog} aria-labelledby="delete-title" aria-describedby="delete-text" onClose={() => trigger.current?.focus()}>
        <h2 id="delete-title">Delete this document?</h2>
        <p id="delete-text">“{name}” and every version of it will be deleted, for everyone it is shared with. This cannot be undone from the console.</p>
        {error !== undefined && <ErrorMessage error={error} title="The document was not deleted." />}
        <div class="record-actions">
          <button type="button" onClick={close} autoFocus>
            Cancel
          </button>
          <button type="button" class="danger" onClick={confirm} disabled={deleting}>
            {deleting ? 'Deleting…' : 'Delete document'}
          </button>
        </div>
      </dialog>
    </>
  );
}
