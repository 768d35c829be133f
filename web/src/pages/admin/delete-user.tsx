import type { User } from '@pcf/sdk';
import { useEffect, useState } from 'preact/hooks';
import { pcf } from '../../client.js';
import { navigate } from '../../router.js';
import { ConfirmDialog } from '../../ui/confirm-dialog.js';
import { UserPicker } from '../../admin/user-picker.js';

/** What a user owns, as far as deleting them is concerned: how many resources, at least. */
interface Owned {
  count: number;
  more: boolean;
}

/** Deleting a user, whose resources go to another user (the server refuses otherwise). */
export function DeleteUser({ user }: { user: User }) {
  const [open, setOpen] = useState(false);
  return (
    <section class="admin-section" aria-labelledby="delete-user">
      <h2 id="delete-user">Delete this user</h2>
      <p class="hint">Their sessions end at once; their resources can go to another user.</p>
      <button type="button" class="danger" onClick={() => setOpen(true)}>
        Delete user…
      </button>
      {open && <DeleteUserDialog user={user} onClose={() => setOpen(false)} />}
    </section>
  );
}

function DeleteUserDialog({ user, onClose }: { user: User; onClose(): void }) {
  const [owned, setOwned] = useState<Owned | 'unknown'>();
  const [transfer, setTransfer] = useState(true);
  const [transferTo, setTransferTo] = useState<string>();

  useEffect(() => {
    const controller = new AbortController();
    pcf.resources
      .list({ ownerId: user.id }, { signal: controller.signal })
      .page()
      .then((page) => setOwned({ count: page.items.length, more: page.nextCursor !== null }))
      // Not knowing is no reason to stop: the server still refuses to orphan resources.
      .catch(() => !controller.signal.aborted && setOwned('unknown'));
    return () => controller.abort();
  }, [user.id]);

  const ownsSome = owned === 'unknown' || (owned !== undefined && owned.count > 0);

  const confirm = async () => {
    if (transfer && ownsSome && !transferTo) throw new Error('Choose the user who receives the resources.');
    await pcf.users.delete(user.id, transfer && transferTo ? { transferTo } : {});
    navigate('/admin/users', undefined, { replace: true });
  };

  return (
    <ConfirmDialog title={`Delete ${user.name}?`} confirmLabel="Delete user" onConfirm={confirm} onClose={onClose}>
      <p>
        {user.name} ({user.email}) can no longer sign in, and their sessions end now. This cannot be undone.
      </p>
      <p role="status">
        {owned === undefined
          ? 'Counting their resources…'
          : owned === 'unknown'
            ? 'Their resources could not be counted.'
            : owned.count === 0
              ? 'They own no resources.'
              : `They own ${owned.more ? `more than ${owned.count}` : owned.count} resource${owned.count === 1 && !owned.more ? '' : 's'}.`}
      </p>
      {ownsSome && (
        <fieldset class="form">
          <legend>Their resources</legend>
          <label class="row">
            <input type="radio" name="resources" checked={transfer} onChange={() => setTransfer(true)} /> Transfer them to another user, who becomes their owner
            (shares on them are removed)
          </label>
          {transfer && <UserPicker label="Transfer to" value={transferTo} onChange={setTransferTo} exclude={[user.id]} />}
          <label class="row">
            <input type="radio" name="resources" checked={!transfer} onChange={() => setTransfer(false)} /> Do not transfer them (the server refuses to delete a
            user who still owns resources: delete those first)
          </label>
        </fieldset>
      )}
    </ConfirmDialog>
  );
}
