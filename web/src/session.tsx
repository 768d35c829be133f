import { isPcfError, type Me } from '@pcf/sdk';
import { createContext, type ComponentChildren } from 'preact';
import { useCallback, useContext, useEffect, useMemo, useState } from 'preact/hooks';
import { administers } from './access.js';
import { forgetToken, onSessionRefused, pcf } from './client.js';
import { ErrorMessage } from './ui/feedback.js';

export interface SessionState {
  /** Who is signed in; null when nobody is; undefined while the stored token is checked. */
  me: Me | null | undefined;
  /** Whether the administration pages apply to this account (the server decides each call). */
  isAdmin: boolean;
  /**
   * Why the person is signed out when they did not ask to be: the server refused the token
   * (revoked on another device, expired, password changed elsewhere). The sign-in page says so.
   */
  ended: string | undefined;
  signIn(email: string, password: string): Promise<void>;
  signOut(): Promise<void>;
  /** Reads the account again (after a change of roles or usage). */
  refresh(): Promise<void>;
}

const SessionContext = createContext<SessionState | undefined>(undefined);

export { administers } from './access.js';

/** A failure that says nothing about the token: no answer, or a server starting or failing. */
function unreachable(error: unknown): boolean {
  return !isPcfError(error) || error.status === 0 || error.status >= 500;
}

const SESSION_ENDED = 'Your session has ended (signed out elsewhere, or expired). Sign in again.';

export function SessionProvider({ children }: { children: ComponentChildren }) {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [ended, setEnded] = useState<string | undefined>(undefined);
  // Set when the stored token could not be checked because the server did not answer: the
  // token is kept, and the person is offered to try again instead of being signed out.
  const [noServer, setNoServer] = useState<unknown>(undefined);

  const refresh = useCallback(async () => {
    if (!(await pcf.auth.signedIn())) return setMe(null);
    try {
      setMe(await pcf.auth.me());
      setNoServer(undefined);
    } catch (error) {
      if (unreachable(error)) setNoServer(error);
      // A refused token has already ended the session (onSessionRefused below).
      else setMe(null);
    }
  }, []);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  // A 401 on any call, from any page: forget the token, close the live connection, and let the
  // shell send the person to sign in, with the reason.
  useEffect(
    () =>
      onSessionRefused(() => {
        forgetToken();
        void pcf.live.close();
        setEnded(SESSION_ENDED);
        setMe(null);
      }),
    [],
  );

  const signIn = useCallback(
    async (email: string, password: string) => {
      await pcf.auth.login({ email, password });
      // The live connection was opened with the previous token (or none): start it afresh.
      await pcf.live.close();
      setEnded(undefined);
      await refresh();
    },
    [refresh],
  );

  const signOut = useCallback(async () => {
    try {
      await pcf.auth.logout();
    } finally {
      await pcf.live.close();
      setEnded(undefined);
      setMe(null);
    }
  }, []);

  const value = useMemo<SessionState>(() => ({ me, isAdmin: administers(me), ended, signIn, signOut, refresh }), [me, ended, signIn, signOut, refresh]);
  if (noServer !== undefined && me === undefined) return <NoServer error={noServer} retry={refresh} />;
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

/** The server did not answer at start-up: not the same as being signed out. */
function NoServer({ error, retry }: { error: unknown; retry: () => Promise<void> }) {
  const [busy, setBusy] = useState(false);
  const again = async () => {
    setBusy(true);
    try {
      await retry();
    } finally {
      setBusy(false);
    }
  };
  return (
    <main id="main" class="no-server">
      <h1>The server cannot be reached</h1>
      <ErrorMessage error={error} />
      <p>You are still signed in on this device. Check the connection, then try again.</p>
      <button type="button" class="primary" onClick={again} disabled={busy}>
        {busy ? 'Trying…' : 'Try again'}
      </button>
    </main>
  );
}

export function useSession(): SessionState {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside SessionProvider');
  return session;
}
