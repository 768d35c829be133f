import { Type } from '@sinclair/typebox';
import type { Identity } from '../../services/identity.js';
import type { App } from '../app.js';
import { serviceContext } from '../service-context.js';
import { problemRef } from '../schemas.js';
import { Email, IdParams, Name, NewPassword, ref } from './identity-schemas.js';

const bearer = [{ bearer: [] }];
const problems = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, problemRef]));

/** Accounts and sessions under /api/v1/auth (DESIGN §5 "Identity"). */
export function registerAuthRoutes(api: App, identity: Identity): void {
  const { auth } = identity;

  api.post(
    '/auth/register',
    {
      // The strict budget, refused (503) while a shared rate-limit store is unreachable.
      config: { rateLimit: 'auth-address' },
      schema: {
        tags: ['auth'],
        operationId: 'register',
        security: [],
        summary: 'Create an account (open, invite-only or closed by configuration); the first account is an admin',
        body: Type.Object(
          {
            email: Email,
            name: Name,
            password: NewPassword,
            invitation: Type.Optional(Type.String({ maxLength: 128, description: 'Required when registration is invite-only' })),
          },
          { additionalProperties: false },
        ),
        response: { 201: Type.Object({ user: ref('User') }), ...problems(400, 403, 409, 429, 503) },
      },
    },
    async (request, reply) => reply.code(201).send({ user: await auth.register(serviceContext(request), request.body) }),
  );

  api.post(
    '/auth/login',
    {
      // The strict budget, refused (503) while a shared rate-limit store is unreachable.
      config: { rateLimit: 'auth-address' },
      schema: {
        tags: ['auth'],
        operationId: 'login',
        security: [],
        summary: 'Exchange email and password for a session token',
        description: 'Failed logins are limited per account and per client IP; past the limit the answer is 429 with Retry-After.',
        body: Type.Object({ email: Type.String({ maxLength: 320 }), password: Type.String({ maxLength: 1024 }) }, { additionalProperties: false }),
        response: {
          200: Type.Object({
            token: Type.String({ description: 'Send as Authorization: Bearer <token>' }),
            expiresAt: Type.String({ format: 'date-time' }),
            user: ref('User'),
          }),
          ...problems(400, 401, 429, 503),
        },
      },
    },
    async (request, reply) => {
      reply.header('cache-control', 'no-store');
      return auth.login(serviceContext(request), request.body);
    },
  );

  api.post(
    '/auth/logout',
    {
      schema: {
        tags: ['auth'],
        operationId: 'logout',
        summary: 'Revoke the calling session',
        security: bearer,
        response: { 204: Type.Null(), ...problems(401) },
      },
    },
    async (request, reply) => {
      await auth.logout(serviceContext(request));
      return reply.code(204).send(null);
    },
  );

  api.get(
    '/auth/me',
    {
      schema: {
        tags: ['auth'],
        operationId: 'getMe',
        summary: 'The caller: its user, roles, permissions and storage usage',
        security: bearer,
        response: {
          200: Type.Object({ user: ref('User'), roles: Type.Array(ref('RoleRef')), permissions: Type.Array(ref('Permission')), usage: ref('Usage') }),
          ...problems(401),
        },
      },
    },
    async (request) => auth.me(serviceContext(request)),
  );

  api.get(
    '/auth/sessions',
    {
      schema: {
        tags: ['auth'],
        operationId: 'listSessions',
        summary: "The caller's active sessions",
        security: bearer,
        response: { 200: Type.Object({ items: Type.Array(ref('Session')) }), ...problems(401) },
      },
    },
    async (request) => ({ items: await auth.sessions(serviceContext(request)) }),
  );

  api.delete(
    '/auth/sessions/:id',
    {
      schema: {
        tags: ['auth'],
        operationId: 'revokeSession',
        summary: 'Revoke one of your sessions',
        security: bearer,
        params: IdParams,
        response: { 204: Type.Null(), ...problems(401, 404) },
      },
    },
    async (request, reply) => {
      await auth.revokeSession(serviceContext(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  api.post(
    '/auth/password',
    {
      // The strict budget, refused (503) while a shared rate-limit store is unreachable.
      config: { rateLimit: 'auth-user' },
      schema: {
        tags: ['auth'],
        operationId: 'changePassword',
        summary: 'Change your password; your other sessions are signed out',
        security: bearer,
        body: Type.Object({ currentPassword: Type.String({ maxLength: 1024 }), newPassword: NewPassword }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...problems(400, 401, 429, 503) },
      },
    },
    async (request, reply) => {
      await auth.changePassword(serviceContext(request), request.body);
      return reply.code(204).send(null);
    },
  );

  api.post(
    '/auth/invitations',
    {
      schema: {
        tags: ['auth'],
        operationId: 'createInvitation',
        summary: 'Invite someone to register (for invite-only registration)',
        description:
          'Needs permission to create that user: a conditional `create user` grant is checked against the invited email (403 otherwise), and again, with the name, when the invitation is accepted.',
        security: bearer,
        body: Type.Object({ email: Email }, { additionalProperties: false }),
        response: {
          201: Type.Object({
            id: Type.String(),
            email: Type.String(),
            token: Type.String({ description: 'Shown once; pass it on as `invitation`' }),
            expiresAt: Type.String({ format: 'date-time' }),
          }),
          ...problems(400, 401, 403),
        },
      },
    },
    async (request, reply) =>
      reply
        .code(201)
        .header('cache-control', 'no-store')
        .send(await auth.invite(serviceContext(request), request.body)),
  );
}

export { problems, bearer };
