import type { User } from '@pcf/sdk';
import { useRef, useState } from 'preact/hooks';
import { pcf } from '../../client.js';
import { href } from '../../router.js';
import { explain } from '../../ui/errors.js';
import { ErrorMessage } from '../../ui/feedback.js';
import { Field } from '../../admin/field.js';

/** Creates a member with a password the administrator passes on. */
export function CreateUserForm({ onCreated }: { onCreated(): void }) {
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [created, setCreated] = useState<User>();
  const notice = useRef<HTMLParagraphElement>(null);
  const errors = error === undefined ? [] : explain(error).fields;

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    setCreated(undefined);
    try {
      const user = await pcf.users.create({ name, email, password });
      setCreated(user);
      setName('');
      setEmail('');
      setPassword('');
      onCreated();
      requestAnimationFrame(() => notice.current?.focus());
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="admin-card" aria-labelledby="create-user">
      <h2 id="create-user">Create a user</h2>
      <form class="form" onSubmit={submit} noValidate>
        {error !== undefined && <ErrorMessage error={error} title="The user was not created." />}
        {created && (
          <p class="notice" role="status" tabIndex={-1} ref={notice}>
            Created <a href={href(`/admin/users/${encodeURIComponent(created.id)}`)}>{created.name}</a> ({created.email}).
          </p>
        )}
        <Field label="Name" name="name" errors={errors}>
          {(a) => <input {...a} required autoComplete="off" value={name} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <Field label="Email" name="email" errors={errors}>
          {(a) => <input {...a} type="email" required autoComplete="off" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />}
        </Field>
        <Field label="Password" name="password" errors={errors}>
          {(a) => (
            <input
              {...a}
              type="password"
              required
              minLength={8}
              autoComplete="new-password"
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
          )}
        </Field>
        <span class="hint">8 to 256 characters. Pass it on privately; the user can change it.</span>
        <div>
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create user'}
          </button>
        </div>
      </form>
    </section>
  );
}
