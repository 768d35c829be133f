import { useEffect, useState } from 'preact/hooks';
import type { PageProps } from '../../app.js';
import { href, navigate } from '../../router.js';
import { useSession } from '../../session.js';
import { ErrorMessage } from '../../ui/feedback.js';
import { Page } from '../../ui/page.js';
import { registrationMode, type RegistrationMode } from './registration.js';
import './auth.css';

export function SignInPage({ route }: PageProps) {
  const session = useSession();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [registration, setRegistration] = useState<RegistrationMode | undefined>();
  const next = route.query.get('next');

  useEffect(() => {
    void registrationMode().then(setRegistration);
  }, []);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await session.signIn(email, password);
      // Only a route of this console: `next` comes from the URL, which anyone can craft.
      navigate(next?.startsWith('/') && !next.startsWith('//') ? next : '/', undefined, { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Page title="Sign in">
      <form class="form narrow" onSubmit={submit}>
        {session.ended && error === undefined && (
          <p class="auth-notice" role="status">
            {session.ended}
          </p>
        )}
        {error !== undefined && <ErrorMessage error={error} />}
        <label>
          Email
          <input type="email" name="email" autoComplete="username" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
        </label>
        <label>
          Password
          <input
            type="password"
            name="password"
            autoComplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        {registration === 'closed' ? (
          <p class="hint">Accounts are created by an administrator.</p>
        ) : (
          <p>
            No account? <a href={href('/register')}>Create one</a>
            {registration === 'invite' ? ' (with an invitation)' : ''}.
          </p>
        )}
      </form>
    </Page>
  );
}
