import { Type } from '@sinclair/typebox';
import type { Identity } from '../../services/identity.js';
import type { App } from '../app.js';
import { serviceContext } from '../service-context.js';
import { bearer, problems } from './auth.js';
import { Email, IdParams, Name, NewPassword, pageOf, PageQuery, PermissionInput, ref } from './identity-schemas.js';
import { responseHeaders } from '../openapi-contract.js';

/** Users and what they hold, under /api/v1/users (DESIGN §5 "Identity"). */
export function registerUserRoutes(api: App, identity: Identity): void {
  const { users, userGrants } = identity;
  const UserRoleParams = Type.Object({ id: Type.String({ maxLength: 64 }), roleId: Type.String({ maxLength: 64 }) });
  const UserPermissionParams = Type.Object({ id: Type.String({ maxLength: 64 }), permissionId: Type.String({ maxLength: 64 }) });

  api.get(
    '/users',
    {
      schema: {
        tags: ['users'],
        operationId: 'listUsers',
        summary: 'The users you may read, a page at a time',
        security: bearer,
        querystring: PageQuery,
        response: { 200: pageOf('User'), ...problems(400, 401) },
      },
    },
    async (request) => users.list(serviceContext(request), request.query),
  );

  api.post(
    '/users',
    {
      schema: {
        tags: ['users'],
        operationId: 'createUser',
        ...responseHeaders({ 201: ['Location'] }),
        summary: 'Create a user (a member)',
        security: bearer,
        body: Type.Object({ email: Email, name: Name, password: NewPassword }, { additionalProperties: false }),
        response: { 201: ref('User'), ...problems(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const user = await users.create(serviceContext(request), request.body);
      return reply.code(201).header('location', `/api/v1/users/${user.id}`).send(user);
    },
  );

  api.get(
    '/users/:id',
    {
      schema: {
        tags: ['users'],
        operationId: 'getUser',
        summary: 'A user',
        security: bearer,
        params: IdParams,
        response: { 200: ref('User'), ...problems(401, 404) },
      },
    },
    async (request) => users.get(serviceContext(request), request.params.id),
  );

  api.patch(
    '/users/:id',
    {
      schema: {
        tags: ['users'],
        operationId: 'updateUser',
        summary: 'Change a user’s name or email; other fields are refused',
        description:
          'Changing your own email needs `currentPassword` (400 `INVALID_INPUT` on `currentPassword` when missing or wrong; wrong guesses count like failed logins, 429 past the limit). A new email ends every other session of the user (all of them when an administrator changes another user’s email).',
        security: bearer,
        params: IdParams,
        body: Type.Object(
          {
            name: Type.Optional(Name),
            email: Type.Optional(Email),
            currentPassword: Type.Optional(Type.String({ maxLength: 1024, description: 'Your current password, to change your own email' })),
          },
          { additionalProperties: false },
        ),
        response: { 200: ref('User'), ...problems(400, 401, 403, 404, 409, 429) },
      },
    },
    async (request) => users.update(serviceContext(request), request.params.id, request.body),
  );

  api.delete(
    '/users/:id',
    {
      schema: {
        tags: ['users'],
        operationId: 'deleteUser',
        summary: 'Delete a user and revoke its sessions',
        description: 'A user who owns resources needs `transferTo`, the user who receives them (shares it had received on them are removed); otherwise 409.',
        security: bearer,
        params: IdParams,
        querystring: Type.Object({ transferTo: Type.Optional(Type.String({ format: 'uuid' })) }, { additionalProperties: false }),
        response: { 204: Type.Null(), ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      await users.delete(serviceContext(request), request.params.id, request.query.transferTo);
      return reply.code(204).send(null);
    },
  );

  api.get(
    '/users/:id/grants',
    {
      schema: {
        tags: ['users'],
        operationId: 'getUserGrants',
        summary: 'What a user holds: its roles and the permissions granted to it directly',
        description:
          'The permissions of its roles are not repeated here (GET /roles/{id} lists them). Needs what granting needs, an unconditional `manage role` (403 otherwise).',
        security: bearer,
        params: IdParams,
        response: {
          200: Type.Object(
            {
              roles: Type.Array(ref('Role')),
              permissions: Type.Array(ref('Permission'), { description: 'Granted to the user directly, not through a role' }),
            },
            { additionalProperties: false },
          ),
          ...problems(401, 403, 404),
        },
      },
    },
    async (request) => userGrants.grantsOfUser(serviceContext(request), request.params.id),
  );

  api.put(
    '/users/:id/roles/:roleId',
    {
      schema: {
        tags: ['users'],
        operationId: 'assignUserRole',
        summary: 'Give a user a role (idempotent)',
        security: bearer,
        params: UserRoleParams,
        response: { 204: Type.Null(), ...problems(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await userGrants.assign(serviceContext(request), request.params.id, request.params.roleId);
      return reply.code(204).send(null);
    },
  );

  api.delete(
    '/users/:id/roles/:roleId',
    {
      schema: {
        tags: ['users'],
        operationId: 'removeUserRole',
        summary: 'Take a role from a user (idempotent)',
        security: bearer,
        params: UserRoleParams,
        response: { 204: Type.Null(), ...problems(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      await userGrants.unassign(serviceContext(request), request.params.id, request.params.roleId);
      return reply.code(204).send(null);
    },
  );

  api.post(
    '/users/:id/permissions',
    {
      schema: {
        tags: ['users'],
        operationId: 'grantUserPermission',
        summary: 'Grant a user a permission directly',
        security: bearer,
        params: IdParams,
        body: PermissionInput,
        response: { 201: ref('Permission'), ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => reply.code(201).send(await userGrants.grantToUser(serviceContext(request), request.params.id, request.body)),
  );

  api.delete(
    '/users/:id/permissions/:permissionId',
    {
      schema: {
        tags: ['users'],
        operationId: 'revokeUserPermission',
        summary: 'Revoke a permission granted directly',
        security: bearer,
        params: UserPermissionParams,
        response: { 204: Type.Null(), ...problems(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await userGrants.revokeFromUser(serviceContext(request), request.params.id, request.params.permissionId);
      return reply.code(204).send(null);
    },
  );
}
