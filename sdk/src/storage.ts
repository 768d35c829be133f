/**
 * Where the session token lives. Sync or async, so one shape fits memory, `localStorage`
 * and React Native's secure stores (Keychain, Keystore), which are async:
 *
 * ```ts
 * import * as SecureStore from 'expo-secure-store';
 * const secureStorage: TokenStorage = {
 *   get: () => SecureStore.getItemAsync('pcf.token'),
 *   set: (token) => (token === null ? SecureStore.deleteItemAsync('pcf.token') : SecureStore.setItemAsync('pcf.token', token)),
 * };
 * ```
 */
export interface TokenStorage {
  /** The stored token, or null when signed out. */
  get(): string | null | Promise<string | null>;
  /** Stores a token; null removes it (sign-out). */
  set(token: string | null): void | Promise<void>;
}

/**
 * The default: the token lives in a closure of this process or page only, so it is not a
 * property anyone can print, and it is gone on reload.
 */
export function memoryStorage(): TokenStorage {
  let token: string | null = null;
  return {
    get: () => token,
    set: (value) => {
      token = value;
    },
  };
}

interface WebStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * The browser's `localStorage` under `key`: the session survives reloads (and is readable by
 * any script of the origin, the usual trade-off; prefer memory where XSS is a concern).
 * Throws where there is no `localStorage` (Node, React Native): detect, don't assume.
 */
export function localStorageAdapter(key = 'pcf.token'): TokenStorage {
  const storage = (globalThis as { localStorage?: WebStorage }).localStorage;
  if (!storage || typeof storage.getItem !== 'function')
    throw new TypeError('localStorageAdapter needs a browser with localStorage; pass another TokenStorage here');
  return {
    get: () => storage.getItem(key),
    set: (token) => (token === null ? storage.removeItem(key) : storage.setItem(key, token)),
  };
}

/** Whether this platform has `localStorage` (a browser), for choosing an adapter. */
export function hasLocalStorage(): boolean {
  try {
    return typeof (globalThis as { localStorage?: WebStorage }).localStorage?.getItem === 'function';
  } catch {
    // Some browsers throw on access when storage is disabled.
    return false;
  }
}
