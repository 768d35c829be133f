import type { User, UserChanges } from '@pcf/sdk';
import { useState } from 'preact/hooks';
import { pcf } from '../../client.js';
import { explain } from '../../ui/errors.js';
import { ErrorMessage } from '../../ui/feedback.js';
import { Field } from '../../admin/field.js';

/** A user's name and email; only what changed is sent. */
export function UserDetailsForm({ user, onSaved }: { user: User; onSaved(user: User): void }) {
  const [name, setName] = useState(user.name);
  const [email, setEmail] = useState(user.email);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [saved, setSaved] = useState(false);
  const errors = error === undefined ? [] : explain(error).fields;

  const submit = async (event: Event) => {
    event.preventDefault();
    const changes: UserChanges = {};
    if (name !== user.name) changes.name = name;
    if (email !== user.email) changes.email = email;
    setSaved(false);
    setError(undefined);
    if (Object.keys(changes).length === 0) return setSaved(true);
    setBusy(true);
    try {
      const updated = await pcf.users.update(user.id, changes);
      onSaved(updated);
      setName(updated.name);
      setEmail(updated.email);
      setSaved(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="admin-card" aria-labelledby="user-details">
      <h2 id="user-details">Details</h2>
      <form class="form" onSubmit={submit} noValidate>
        {error !== undefined && <ErrorMessage error={error} title="The changes were not saved." />}
        <Field label="Name" name="name" errors={errors}>
          {(a) => <input {...a} required value={name} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <Field label="Email" name="email" errors={errors}>
          {(a) => <input {...a} type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />}
        </Field>
        <span class="hint">A new email signs the user out everywhere.</span>
        <div class="row">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Saving…' : 'Save'}
          </button>
          <span role="status">{saved ? 'Saved.' : ''}</span>
        </div>
      </form>
    </section>
  );
}
