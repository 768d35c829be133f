import { createClient, localStorageAdapter, type FetchLike } from '@pcf/sdk';
import { live } from '@pcf/sdk/live';

/**
 * The API this console belongs to: the folder above the one the console is served from
 * (`…/console/` → `…/`), so a proxy may mount the server under any path prefix.
 */
export const apiUrl = new URL('..', window.location.href).href.replace(/\/$/, '');

/** Where the session token is kept: localStorage, so it survives reloads. */
const tokenStorage = localStorageAdapter('pcf.console.token');

/** Forgets a token the server no longer accepts (without a call: logout would be refused too). */
export function forgetToken(): void {
  void tokenStorage.set(null);
}

const listeners = new Set<() => void>();

/**
 * Calls `listener` when the server refuses this console's token (revoked from another device,
 * expired, or the password changed elsewhere): whatever page made the call, the session is over.
 * Returns the function that stops it.
 */
export function onSessionRefused(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/**
 * The platform's fetch, watching for 401 on calls that carried a token. Sign-in is left out: a
 * wrong password there is the person's typo, not the end of a session.
 */
const watchingFetch: FetchLike = async (input, init) => {
  const response = await globalThis.fetch(input, init);
  if (response.status === 401 && init.headers.authorization && !new URL(input).pathname.endsWith('/auth/login')) {
    for (const listener of [...listeners]) listener();
  }
  return response;
};

/** The one SDK client of the page. */
export const pcf = createClient({ url: apiUrl, storage: tokenStorage, fetch: watchingFetch }).with(live());

export type Pcf = typeof pcf;
