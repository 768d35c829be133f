import { useState } from 'preact/hooks';
import { ConfirmDialog } from '../../ui/confirm-dialog.js';

/** "Delete" and the dialog that asks first; the focus goes back to the button on Cancel or Escape. */
export function DeleteDocument({ name, onDelete }: { name: string; onDelete(): Promise<void> }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" class="danger" onClick={() => setOpen(true)}>
        Delete
      </button>
      {open && (
        <ConfirmDialog
          title="Delete this document?"
          confirmLabel="Delete document"
          errorTitle="The document was not deleted."
          onConfirm={onDelete}
          onClose={() => setOpen(false)}
        >
          <p>“{name}” and every version of it will be deleted, for everyone it is shared with. This cannot be undone from the console.</p>
        </ConfirmDialog>
      )}
    </>
  );
}
