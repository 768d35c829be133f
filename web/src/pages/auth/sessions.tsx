import type { Session } from '@pcf/sdk';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { PageProps } from '../../app.js';
import { pcf } from '../../client.js';
import { href } from '../../router.js';
import { useSession } from '../../session.js';
import { Empty, ErrorMessage, Loading } from '../../ui/feedback.js';
import { ConfirmDialog } from '../../ui/confirm-dialog.js';
import { Page } from '../../ui/page.js';
import { describeUserAgent, formatDateTime } from './format.js';
import './auth.css';

export function SessionsPage(_props: PageProps) {
  const [sessions, setSessions] = useState<Session[] | undefined>();
  const [error, setError] = useState<unknown>();
  const [revoking, setRevoking] = useState<Session | undefined>();
  const [notice, setNotice] = useState<string | undefined>();

  const load = useCallback(async () => {
    try {
      setSessions(await pcf.auth.sessions());
      setError(undefined);
    } catch (err) {
      setError(err);
    }
  }, []);

  useEffect(() => {
    void load();
  }, [load]);

  // This device first, then the most recently used.
  const ordered = sessions && [...sessions].sort((a, b) => Number(b.current) - Number(a.current) || b.lastSeenAt.localeCompare(a.lastSeenAt));

  return (
    <Page title="Sessions">
      <p>
        Where your account is signed in. Sign out a device you do not recognise, then <a href={href('/account')}>change your password</a>.
      </p>
      {notice && (
        <p class="auth-notice success" role="status">
          {notice}
        </p>
      )}
      {error !== undefined && <ErrorMessage error={error} />}
      {ordered === undefined ? (
        error === undefined && <Loading label="Loading your sessions…" />
      ) : ordered.length === 0 ? (
        <Empty>No active sessions.</Empty>
      ) : (
        <div class="table-wrap">
          <table aria-label="Your active sessions">
            <thead>
              <tr>
                <th scope="col">Device</th>
                <th scope="col">Address</th>
                <th scope="col">Signed in</th>
                <th scope="col">Last used</th>
                <th scope="col" aria-label="Actions" />
              </tr>
            </thead>
            <tbody>
              {ordered.map((session) => (
                <tr key={session.id}>
                  <td>
                    <span title={session.userAgent ?? undefined}>{describeUserAgent(session.userAgent)}</span>
                    {session.current && <span class="auth-tag">This device</span>}
                  </td>
                  <td>{session.ip ?? '—'}</td>
                  <td>{formatDateTime(session.createdAt)}</td>
                  <td>{formatDateTime(session.lastSeenAt)}</td>
                  <td>
                    <button
                      type="button"
                      class="danger"
                      aria-label={
                        session.current ? 'Sign out this device' : `Sign out ${describeUserAgent(session.userAgent)} (${session.ip ?? 'unknown address'})`
                      }
                      onClick={() => setRevoking(session)}
                    >
                      Sign out
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {revoking && (
        <RevokeDialog
          session={revoking}
          onClose={(revoked) => {
            setRevoking(undefined);
            if (revoked) {
              setNotice(`${describeUserAgent(revoked.userAgent)} was signed out.`);
              void load();
            }
          }}
        />
      )}
    </Page>
  );
}

/** Asks before signing a session out; for this device it is the ordinary sign-out. */
function RevokeDialog({ session, onClose }: { session: Session; onClose: (revoked?: Session) => void }) {
  const auth = useSession();
  const revoked = useRef(false);
  const confirm = async () => {
    if (session.current) return auth.signOut();
    await pcf.auth.revokeSession(session.id);
    revoked.current = true;
  };
  const what = session.current ? 'this device' : describeUserAgent(session.userAgent);
  return (
    <ConfirmDialog title={`Sign out ${what}?`} confirmLabel="Sign out" onConfirm={confirm} onClose={() => onClose(revoked.current ? session : undefined)}>
      <p>
        {session.current
          ? 'You will be signed out here and taken to the sign-in page.'
          : `Whoever uses that session (${session.ip ?? 'unknown address'}) will have to sign in again.`}
      </p>
    </ConfirmDialog>
  );
}
