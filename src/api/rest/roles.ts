import { Type } from '@sinclair/typebox';
import type { Identity } from '../../services/identity.js';
import type { App } from '../app.js';
import { serviceContext } from '../service-context.js';
import { bearer, problems } from './auth.js';
import { IdParams, pageOf, PageQuery, PermissionInput, ref } from './identity-schemas.js';
import { responseHeaders } from '../openapi-contract.js';

/** Roles and their permissions, under /api/v1/roles (DESIGN §5 "Identity"). */
export function registerRoleRoutes(api: App, identity: Identity): void {
  const { roles } = identity;
  const RoleBody = (creating: boolean) => {
    const name = Type.String({
      minLength: 1,
      maxLength: 100,
      description: 'No control characters or bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069)',
    });
    return Type.Object(
      { name: creating ? name : Type.Optional(name), description: Type.Optional(Type.String({ maxLength: 1000 })) },
      { additionalProperties: false },
    );
  };

  api.get(
    '/roles',
    {
      schema: {
        tags: ['roles'],
        operationId: 'listRoles',
        summary: 'The roles you may read, a page at a time',
        security: bearer,
        querystring: PageQuery,
        response: { 200: pageOf('Role'), ...problems(400, 401) },
      },
    },
    async (request) => roles.list(serviceContext(request), request.query),
  );

  api.post(
    '/roles',
    {
      schema: {
        tags: ['roles'],
        operationId: 'createRole',
        ...responseHeaders({ 201: ['Location'] }),
        summary: 'Create a role',
        security: bearer,
        body: RoleBody(true),
        response: { 201: ref('RoleDetail'), ...problems(400, 401, 403, 409) },
      },
    },
    async (request, reply) => {
      const role = await roles.create(serviceContext(request), request.body);
      return reply.code(201).header('location', `/api/v1/roles/${role.id}`).send(role);
    },
  );

  api.get(
    '/roles/:id',
    {
      schema: {
        tags: ['roles'],
        operationId: 'getRole',
        summary: 'A role with its permissions',
        security: bearer,
        params: IdParams,
        response: { 200: ref('RoleDetail'), ...problems(401, 404) },
      },
    },
    async (request) => roles.get(serviceContext(request), request.params.id),
  );

  api.patch(
    '/roles/:id',
    {
      schema: {
        tags: ['roles'],
        operationId: 'updateRole',
        summary: 'Rename or describe a role (built-in roles keep their names)',
        security: bearer,
        params: IdParams,
        body: RoleBody(false),
        response: { 200: ref('RoleDetail'), ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request) => roles.update(serviceContext(request), request.params.id, request.body),
  );

  api.delete(
    '/roles/:id',
    {
      schema: {
        tags: ['roles'],
        operationId: 'deleteRole',
        summary: 'Delete a role (not a built-in one)',
        security: bearer,
        params: IdParams,
        response: { 204: Type.Null(), ...problems(401, 403, 404, 409) },
      },
    },
    async (request, reply) => {
      await roles.delete(serviceContext(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  api.post(
    '/roles/:id/permissions',
    {
      schema: {
        tags: ['roles'],
        operationId: 'addRolePermission',
        summary: 'Add a permission to a role',
        description: 'Conditions are validated when saved: only the fields and operators of the contract are accepted.',
        security: bearer,
        params: IdParams,
        body: PermissionInput,
        response: { 201: ref('Permission'), ...problems(400, 401, 403, 404) },
      },
    },
    async (request, reply) => reply.code(201).send(await roles.addPermission(serviceContext(request), request.params.id, request.body)),
  );

  api.delete(
    '/roles/:id/permissions/:permissionId',
    {
      schema: {
        tags: ['roles'],
        operationId: 'removeRolePermission',
        summary: 'Remove a permission from a role',
        security: bearer,
        params: Type.Object({ id: Type.String({ maxLength: 64 }), permissionId: Type.String({ maxLength: 64 }) }),
        response: { 204: Type.Null(), ...problems(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await roles.removePermission(serviceContext(request), request.params.id, request.params.permissionId);
      return reply.code(204).send(null);
    },
  );
}
