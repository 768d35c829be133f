import { createClient, localStorageAdapter } from '@pcf/sdk';
import { live } from '@pcf/sdk/live';

/**
 * The API this console belongs to: the folder above the one the console is served from
 * (`…/console/` → `…/`), so a proxy may mount the server under any path prefix.
 */
export const apiUrl = new URL('..', window.location.href).href.replace(/\/$/, '');

/** The one SDK client of the page; the session token stays in localStorage across reloads. */
export const pcf = createClient({ url: apiUrl, storage: localStorageAdapter('pcf.console.token') }).with(live());

export type Pcf = typeof pcf;
