/**
 * @pcf/sdk: a typed client of the PCF API for browsers, Node ≥ 20 and React Native. Live
 * subscriptions are in `@pcf/sdk/live`, so apps that do not use them do not bundle graphql-ws.
 */
export { createClient, type ClientContext, type ClientOptions, type PcfClient } from './client.js';
export { PcfAbortError, PcfConflictError, PcfError, PcfNetworkError, isPcfError, type FieldError, type PcfErrorCode } from './errors.js';
export { hasLocalStorage, localStorageAdapter, memoryStorage, type TokenStorage } from './storage.js';
export type { Paginated } from './pagination.js';
export type { CallOptions, KeyedCallOptions } from './call-options.js';
export type { UpdateOptions, ResourceTarget } from './resources.js';
export type { SignedIn } from './auth.js';
export type { Grantee } from './permissions.js';
export type { FetchLike, FetchInit, ResponseLike } from './platform.js';
export type * from './types.js';
export type { Auth } from './auth.js';
export type { Resources } from './resources.js';
export type { Users } from './users.js';
export type { Roles } from './roles.js';
export type { Permissions } from './permissions.js';
export type { Notifications } from './notifications.js';
