import { useEffect, useRef, useState } from 'preact/hooks';
import type { PageProps } from '../../app.js';
import { pcf } from '../../client.js';
import { href, navigate } from '../../router.js';
import { useSession } from '../../session.js';
import { explain } from '../../ui/errors.js';
import { ErrorMessage } from '../../ui/feedback.js';
import { Page } from '../../ui/page.js';
import { FieldProblem } from './field-problem.js';
import { invalidProps, problemOf } from './fields.js';
import { registrationMode, type RegistrationMode } from './registration.js';
import './auth.css';

export function RegisterPage({ route }: PageProps) {
  const session = useSession();
  const [name, setName] = useState('');
  const [email, setEmail] = useState(route.query.get('email') ?? '');
  const [password, setPassword] = useState('');
  // An invitation link carries its token: `#/register?invitation=…&email=…`.
  const [invitation, setInvitation] = useState(route.query.get('invitation') ?? '');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [registration, setRegistration] = useState<RegistrationMode | undefined>();
  const form = useRef<HTMLFormElement>(null);

  useEffect(() => {
    void registrationMode().then(setRegistration);
  }, []);

  const fields = error === undefined ? [] : explain(error).fields;
  const problems = {
    name: problemOf(fields, 'name'),
    email: problemOf(fields, 'email'),
    password: problemOf(fields, 'password'),
    invitation: problemOf(fields, 'invitation'),
  };

  // After a refusal, the first field the server named takes the focus, so it is read out.
  useEffect(() => {
    form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [error]);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await pcf.auth.register({ name, email, password, ...(invitation ? { invitation } : {}) });
      await session.signIn(email, password);
      navigate('/', undefined, { replace: true });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (registration === 'closed') {
    return (
      <Page title="Create an account">
        <p class="auth-notice" role="status">
          Registration is closed on this server: an administrator creates accounts.
        </p>
        <p>
          Have an account? <a href={href('/sign-in')}>Sign in</a>.
        </p>
      </Page>
    );
  }

  return (
    <Page title="Create an account">
      <form class="form narrow" onSubmit={submit} ref={form} noValidate>
        {error !== undefined && <ErrorMessage error={error} title={explain(error).code === 'FORBIDDEN' ? 'Registration refused.' : undefined} />}
        <label>
          Name
          <input
            name="name"
            autoComplete="name"
            required
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
            {...invalidProps('register-name', problems.name)}
          />
          <FieldProblem id="register-name" problem={problems.name} />
        </label>
        <label>
          Email
          <input
            type="email"
            name="email"
            autoComplete="email"
            required
            value={email}
            onInput={(e) => setEmail(e.currentTarget.value)}
            {...invalidProps('register-email', problems.email)}
          />
          <FieldProblem id="register-email" problem={problems.email} />
        </label>
        <label>
          Password
          <input
            type="password"
            name="password"
            autoComplete="new-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
            {...invalidProps('register-password', problems.password)}
            aria-describedby={problems.password ? 'register-password-error' : 'register-password-hint'}
          />
          <span class="hint" id="register-password-hint">
            At least 8 characters; a passphrase of a few words is easiest to remember.
          </span>
          <FieldProblem id="register-password" problem={problems.password} />
        </label>
        {(registration === 'invite' || invitation || problems.invitation) && (
          <label>
            Invitation
            <input
              name="invitation"
              autoComplete="off"
              required={registration === 'invite'}
              value={invitation}
              onInput={(e) => setInvitation(e.currentTarget.value)}
              {...invalidProps('register-invitation', problems.invitation)}
            />
            <span class="hint">Registration on this server needs the invitation an administrator sent you.</span>
            <FieldProblem id="register-invitation" problem={problems.invitation} />
          </label>
        )}
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Creating your account…' : 'Create account'}
        </button>
        <p>
          Have an account? <a href={href('/sign-in')}>Sign in</a>.
        </p>
      </form>
    </Page>
  );
}
