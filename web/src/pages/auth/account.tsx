import { useEffect, useState } from 'preact/hooks';
import type { PageProps } from '../../app.js';
import { pcf } from '../../client.js';
import { href } from '../../router.js';
import { useSession } from '../../session.js';
import { explain } from '../../ui/errors.js';
import { ErrorMessage, Loading } from '../../ui/feedback.js';
import { Page } from '../../ui/page.js';
import { FieldProblem } from './field-problem.js';
import { invalidProps, problemOf } from './fields.js';
import { formatBytes, usedPercent } from './format.js';
import './auth.css';

export function AccountPage(_props: PageProps) {
  const session = useSession();
  const me = session.me;
  // Usage changes with every document written: read it afresh when the page opens.
  useEffect(() => {
    void session.refresh();
  }, []);
  if (!me) return <Loading />;
  const { storageBytes, storageQuotaBytes } = me.usage;
  const percent = usedPercent(storageBytes, storageQuotaBytes);
  return (
    <Page title="Your account" actions={<SignOutButton />}>
      <section aria-labelledby="account-who" class="account-section">
        <h2 id="account-who">Who you are</h2>
        <dl class="facts">
          <dt>Name</dt>
          <dd>{me.user.name}</dd>
          <dt>Email</dt>
          <dd>{me.user.email}</dd>
          <dt>Roles</dt>
          <dd>{me.roles.length ? me.roles.map((role) => role.name).join(', ') : 'None'}</dd>
          <dt>Storage</dt>
          <dd>
            {storageQuotaBytes === null ? (
              <>{formatBytes(storageBytes)} used (no limit)</>
            ) : (
              <>
                {formatBytes(storageBytes)} of {formatBytes(storageQuotaBytes)} used
                <progress class="usage" max={100} value={percent} aria-label="Storage used">
                  {percent} %
                </progress>
              </>
            )}
          </dd>
        </dl>
        <p>
          <a href={href('/account/sessions')}>Your sessions</a>: where you are signed in, and signing out other devices.
        </p>
      </section>
      <ChangePassword />
    </Page>
  );
}

function SignOutButton() {
  const session = useSession();
  const [busy, setBusy] = useState(false);
  return (
    <button
      type="button"
      onClick={async () => {
        setBusy(true);
        // Signing out cannot fail for the person: the token is forgotten whatever the server says.
        await session.signOut().catch(() => undefined);
      }}
      disabled={busy}
    >
      Sign out
    </button>
  );
}

function ChangePassword() {
  const [currentPassword, setCurrent] = useState('');
  const [newPassword, setNew] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState(false);

  const fields = error === undefined ? [] : explain(error).fields;
  const problems = { current: problemOf(fields, 'currentPassword'), next: problemOf(fields, 'newPassword') };

  const submit = async (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    setBusy(true);
    setError(undefined);
    setDone(false);
    try {
      await pcf.auth.changePassword({ currentPassword, newPassword });
      setCurrent('');
      setNew('');
      setDone(true);
    } catch (err) {
      setError(err);
      // The field the server named takes the focus once it is marked (next render).
      requestAnimationFrame(() => form.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="account-password" class="account-section">
      <h2 id="account-password">Change password</h2>
      <form class="form narrow" onSubmit={submit} noValidate>
        {error !== undefined && <ErrorMessage error={error} />}
        {done && (
          <p class="auth-notice success" role="status">
            Password changed. Your other sessions were signed out; this one stays.
          </p>
        )}
        <label>
          Current password
          <input
            type="password"
            name="current-password"
            autoComplete="current-password"
            required
            value={currentPassword}
            onInput={(e) => setCurrent(e.currentTarget.value)}
            {...invalidProps('password-current', problems.current)}
          />
          <FieldProblem id="password-current" problem={problems.current} />
        </label>
        <label>
          New password
          <input
            type="password"
            name="new-password"
            autoComplete="new-password"
            required
            value={newPassword}
            onInput={(e) => setNew(e.currentTarget.value)}
            {...invalidProps('password-new', problems.next)}
          />
          <FieldProblem id="password-new" problem={problems.next} />
        </label>
        <div class="row">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Changing…' : 'Change password'}
          </button>
        </div>
      </form>
    </section>
  );
}
