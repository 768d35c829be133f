import type { Invitation } from '@pcf/sdk';
import { useRef, useState } from 'preact/hooks';
import { pcf } from '../../client.js';
import { href } from '../../router.js';
import { explain } from '../../ui/errors.js';
import { ErrorMessage } from '../../ui/feedback.js';
import { Field } from '../../admin/field.js';

/** The registration link an invitation is passed on as: this console's register page. */
function invitationLink(invitation: Invitation): string {
  const base = `${window.location.origin}${window.location.pathname}`;
  return `${base}${href('/register', { email: invitation.email, invitation: invitation.token })}`;
}

/**
 * Invites someone by email. The server answers the token once and sends nothing itself, so
 * the administrator copies the link here and passes it on; it is never logged or stored.
 */
export function InviteForm() {
  const [email, setEmail] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [invitation, setInvitation] = useState<Invitation>();
  const [copied, setCopied] = useState(false);
  const result = useRef<HTMLDivElement>(null);
  const errors = error === undefined ? [] : explain(error).fields;

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    setInvitation(undefined);
    setCopied(false);
    try {
      setInvitation(await pcf.auth.invite({ email }));
      setEmail('');
      requestAnimationFrame(() => result.current?.focus());
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const copy = async (text: string) => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
    } catch {
      // No clipboard (plain http on another host): the link is on screen to select by hand.
    }
  };

  return (
    <section class="admin-card" aria-labelledby="invite-user">
      <h2 id="invite-user">Invite by email</h2>
      <form class="form" onSubmit={submit} noValidate>
        {error !== undefined && <ErrorMessage error={error} title="No invitation was made." />}
        <Field label="Email to invite" name="email" errors={errors}>
          {(a) => <input {...a} type="email" required autoComplete="off" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />}
        </Field>
        <div>
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Inviting…' : 'Invite'}
          </button>
        </div>
      </form>
      {invitation && (
        <div class="notice" role="status" tabIndex={-1} ref={result} aria-labelledby="invitation-made">
          <p id="invitation-made">
            Invitation for <strong>{invitation.email}</strong>, valid until {new Date(invitation.expiresAt).toLocaleString()}. It is shown only now: pass the
            link on to them.
          </p>
          <p class="secret">
            <span>Link</span> <code data-testid="invitation-link">{invitationLink(invitation)}</code>
            <button type="button" class="link" onClick={() => copy(invitationLink(invitation))}>
              {copied ? 'Copied' : 'Copy link'}
            </button>
          </p>
          <p class="secret">
            <span>Token</span> <code data-testid="invitation-token">{invitation.token}</code>
          </p>
        </div>
      )}
    </section>
  );
}
