import type { Me } from '@pcf/sdk';
import { createContext, type ComponentChildren } from 'preact';
import { useCallback, useContext, useEffect, useMemo, useState } from 'preact/hooks';
import { pcf } from './client.js';

export interface SessionState {
  /** Who is signed in; null when nobody is; undefined while the stored token is checked. */
  me: Me | null | undefined;
  /** Whether the administration pages apply to this account (the server decides each call). */
  isAdmin: boolean;
  signIn(email: string, password: string): Promise<void>;
  signOut(): Promise<void>;
  /** Reads the account again (after a change of roles or usage). */
  refresh(): Promise<void>;
}

const SessionContext = createContext<SessionState | undefined>(undefined);

/**
 * Administration means reading other users: the permission the Users page needs first. It
 * must be unconditional: every member may read one user (itself), and `*` covers resource
 * types only, never users.
 */
export function administers(me: Me | null | undefined): boolean {
  return !!me?.permissions.some(
    (p) => p.resourceType === 'user' && (p.action === 'manage' || p.action === 'read') && (!p.conditions || Object.keys(p.conditions).length === 0),
  );
}

export function SessionProvider({ children }: { children: ComponentChildren }) {
  const [me, setMe] = useState<Me | null | undefined>(undefined);

  const refresh = useCallback(async () => {
    if (!(await pcf.auth.signedIn())) return setMe(null);
    try {
      setMe(await pcf.auth.me());
    } catch {
      // An expired or revoked token, or no server: either way no page can work without the
      // account, and the sign-in page says what is wrong when the person tries again.
      setMe(null);
    }
  }, []);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  const signIn = useCallback(
    async (email: string, password: string) => {
      await pcf.auth.login({ email, password });
      // The live connection was opened with the previous token (or none): start it afresh.
      await pcf.live.close();
      await refresh();
    },
    [refresh],
  );

  const signOut = useCallback(async () => {
    try {
      await pcf.auth.logout();
    } finally {
      await pcf.live.close();
      setMe(null);
    }
  }, []);

  const value = useMemo<SessionState>(() => ({ me, isAdmin: administers(me), signIn, signOut, refresh }), [me, signIn, signOut, refresh]);
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionState {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside SessionProvider');
  return session;
}
