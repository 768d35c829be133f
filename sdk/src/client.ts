import { Auth } from './auth.js';
import type { CallOptions } from './call-options.js';
import { Notifications } from './notifications.js';
import { Permissions } from './permissions.js';
import { randomUUID, type FetchLike } from './platform.js';
import { Resources } from './resources.js';
import { Roles } from './roles.js';
import { memoryStorage, type TokenStorage } from './storage.js';
import { Transport } from './transport.js';
import type { ApiInfo } from './types.js';
import { Users } from './users.js';

export interface ClientOptions {
  /** The server's base URL, e.g. `https://pcf.example.com`. */
  url: string;
  /** Where the session token is kept (default: memory). See `localStorageAdapter` and TokenStorage. */
  storage?: TokenStorage;
  /** Default: the platform's `fetch`. */
  fetch?: FetchLike;
  /** For live subscriptions; default: the platform's `WebSocket` (Node 20 has none: pass `ws`'s). */
  WebSocket?: unknown;
  /** Repeats of a read or keyed write after network failures and 503 (default 3). */
  maxRetries?: number;
  /** The most one call waits in total on 429, 503 and backoff before it throws (default 30 000 ms). */
  maxRetryWaitMs?: number;
  /** The first backoff after a network failure without Retry-After (default 250 ms). */
  retryBaseMs?: number;
  /** Makes Idempotency-Keys (default: `crypto.randomUUID`, or `getRandomValues` where that is missing). */
  randomUUID?: () => string;
}

/** What an extension such as `live()` is given: the client's settings, never a token. */
export interface ClientContext {
  readonly url: string;
  readonly storage: TokenStorage;
  readonly WebSocket: unknown;
}

export interface PcfClient {
  readonly auth: Auth;
  readonly resources: Resources;
  readonly users: Users;
  readonly roles: Roles;
  readonly permissions: Permissions;
  readonly notifications: Notifications;
  /** What the API is and where its descriptions live (GET /api/v1). */
  info(options?: CallOptions): Promise<ApiInfo>;
  /**
   * Adds an extension's members: `createClient({ url }).with(live())` gives `pcf.live`. Kept out
   * of the core so an app that does not use them does not bundle them.
   */
  with<E extends object>(extension: (context: ClientContext) => E): this & E;
}

/** A client of one PCF server. */
export function createClient(options: ClientOptions): PcfClient {
  const storage = options.storage ?? memoryStorage();
  const transport = new Transport({
    url: options.url,
    fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    storage,
    maxRetries: options.maxRetries ?? 3,
    maxRetryWaitMs: options.maxRetryWaitMs ?? 30_000,
    retryBaseMs: options.retryBaseMs ?? 250,
  });
  const context: ClientContext = { url: transport.baseUrl, storage, WebSocket: options.WebSocket ?? (globalThis as { WebSocket?: unknown }).WebSocket };
  const auth = new Auth(transport);
  const users = new Users(transport);
  const roles = new Roles(transport);
  return {
    auth,
    resources: new Resources(transport, options.randomUUID ?? randomUUID),
    users,
    roles,
    permissions: new Permissions(transport, auth, users, roles),
    notifications: new Notifications(transport),
    info: async ({ signal } = {}) => (await transport.request<ApiInfo>({ method: 'GET', path: '/api/v1', signal, retry: 'read' })).body,
    with(extension) {
      return Object.assign(this, extension(context));
    },
  };
}
