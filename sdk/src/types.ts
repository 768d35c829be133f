import type { components, paths } from './generated/openapi.js';

/**
 * The public types, named after the contract's schemas. Everything here comes from
 * generated/openapi.ts, so a change of the contract shows up as a type error, not a surprise.
 */
type Schemas = components['schemas'];

export type Problem = Schemas['Problem'];
export type User = Schemas['User'];
export type RoleRef = Schemas['RoleRef'];
export type Role = Schemas['Role'];
export type RoleDetail = Schemas['RoleDetail'];
export type Permission = Schemas['Permission'];
export type Session = Schemas['Session'];
export type Usage = Schemas['Usage'];
export type Resource = Schemas['Resource'];
export type ResourceSummary = Schemas['ResourceSummary'];
export type Notification = Schemas['Notification'];
export type NotificationKind = Notification['kind'];
export type NotificationPreferences = Schemas['NotificationPreferences'];

type Method = 'get' | 'put' | 'post' | 'delete' | 'patch';
type Operation<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;

/** The JSON body an operation takes. */
export type BodyOf<P extends keyof paths, M extends Method> =
  Operation<P, M> extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;

/** The JSON an operation answers with status S. */
export type AnswerOf<P extends keyof paths, M extends Method, S extends number> =
  Operation<P, M> extends { responses: { [K in S]: { content: { 'application/json': infer R } } } } ? R : never;

/** The query parameters an operation takes. */
export type QueryOf<P extends keyof paths, M extends Method> = Operation<P, M> extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;

export type RegisterInput = BodyOf<'/api/v1/auth/register', 'post'>;
export type LoginInput = BodyOf<'/api/v1/auth/login', 'post'>;
export type LoginAnswer = AnswerOf<'/api/v1/auth/login', 'post', 200>;
export type Me = AnswerOf<'/api/v1/auth/me', 'get', 200>;
export type ChangePasswordInput = BodyOf<'/api/v1/auth/password', 'post'>;
export type InvitationInput = BodyOf<'/api/v1/auth/invitations', 'post'>;
export type Invitation = AnswerOf<'/api/v1/auth/invitations', 'post', 201>;

export type UserInput = BodyOf<'/api/v1/users', 'post'>;
export type UserChanges = BodyOf<'/api/v1/users/{id}', 'patch'>;
/** A user's roles and the permissions granted to it directly. */
export type UserGrants = AnswerOf<'/api/v1/users/{id}/grants', 'get', 200>;
export type PermissionInput = BodyOf<'/api/v1/roles/{id}/permissions', 'post'>;
export type PermissionPreviewInput = BodyOf<'/api/v1/permissions/preview', 'post'>;
export type PermissionPreview = AnswerOf<'/api/v1/permissions/preview', 'post', 200>;
export type RoleInput = BodyOf<'/api/v1/roles', 'post'>;
export type RoleChanges = BodyOf<'/api/v1/roles/{id}', 'patch'>;

export type ResourceInput = BodyOf<'/api/v1/resources', 'post'>;
export type ResourceChanges = BodyOf<'/api/v1/resources/{id}', 'patch'>;
export type ResourceFilters = Omit<QueryOf<'/api/v1/resources', 'get'>, 'cursor'>;
export type VersionSummary = AnswerOf<'/api/v1/resources/{id}/versions', 'get', 200>['items'][number];
export type Version = AnswerOf<'/api/v1/resources/{id}/versions/{n}', 'get', 200>;
export type JsonPatch = AnswerOf<'/api/v1/resources/{id}/diff', 'get', 200>;
type ShareBody = BodyOf<'/api/v1/resources/{id}/shares', 'post'>;
/** Whom to share with, by exactly one of `userId` and `email`, and the actions. */
export type ShareInput = Pick<ShareBody, 'actions'> &
  ({ userId: NonNullable<ShareBody['userId']>; email?: never } | { email: NonNullable<ShareBody['email']>; userId?: never });
export type Share = AnswerOf<'/api/v1/resources/{id}/shares', 'post', 201>;
export type NotificationFilters = Omit<QueryOf<'/api/v1/notifications', 'get'>, 'cursor'>;
export type ApiInfo = AnswerOf<'/api/v1', 'get', 200>;

/** One page of a list (keyset pagination: pass `nextCursor` back for the next one; null on the last page). */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
