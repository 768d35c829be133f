import { Type } from '@sinclair/typebox';
import type { SharesService } from '../../services/shares/shares.service.js';
import type { App } from '../app.js';
import { bearer, problems } from './auth.js';
import { serviceChecks } from '../openapi-contract.js';
import { serviceContext } from '../service-context.js';
import { Id, IdParams } from './resources.js';

const ShareSchema = Type.Object({
  userId: Id,
  name: Type.String({ description: "The user's name as it is now (not the email: an id alone must not reveal a user's address)" }),
  actions: Type.Array(Type.String()),
});

/** Sharing a resource with other users, under /api/v1/resources/{id}/shares (DESIGN §5 "Resources"). */
export function registerShareRoutes(api: App, shares: SharesService): void {
  api.post(
    '/resources/:id/shares',
    {
      schema: {
        tags: ['resources'],
        operationId: 'shareResource',
        summary: 'Share with a user (owner or admin), named by id or by email; sharing again adds actions',
        description:
          'Gives another user these actions (read, update, delete; read always comes with them) on this resource alone. ' +
          'The user is named by exactly one of `userId` and `email` (trimmed and compared case-insensitively, as at sign-in): ' +
          'both or neither is 400. An unknown userId is 400, an unknown email 404. ' +
          'Sharing with yourself or with the owner is 400. Past resources.maxSharesPerResource users of one resource, or ' +
          'resources.maxSharesPerUser shares received by one user, or a tenth of that received from one owner, a new share is 409 CONFLICT, the detail naming the limit.',
        security: bearer,
        params: IdParams,
        body: Type.Object(
          {
            userId: Type.Optional(Type.String({ maxLength: 64, description: 'The id of the user to share with; or give `email`' })),
            email: Type.Optional(Type.String({ maxLength: 320, description: 'The email of the user to share with; or give `userId`' })),
            actions: Type.Array(Type.String({ maxLength: 16 }), { minItems: 1, maxItems: 3 }),
          },
          // Stated in the document; the service checks it, so the problem names the field.
          { additionalProperties: false, ...serviceChecks({ oneOf: [{ required: ['userId'] }, { required: ['email'] }] }) },
        ),
        response: { 201: ShareSchema, ...problems(400, 401, 403, 404, 409) },
      },
    },
    async (request, reply) => reply.code(201).send(await shares.share(serviceContext(request), request.params.id, request.body)),
  );

  api.get(
    '/resources/:id/shares',
    {
      schema: {
        tags: ['resources'],
        operationId: 'listResourceShares',
        summary: 'Who the resource is shared with (owner or admin), with each user’s name',
        security: bearer,
        params: IdParams,
        response: { 200: Type.Object({ items: Type.Array(ShareSchema) }), ...problems(401, 403, 404) },
      },
    },
    async (request) => ({ items: await shares.list(serviceContext(request), request.params.id) }),
  );

  api.delete(
    '/resources/:id/shares/:userId',
    {
      schema: {
        tags: ['resources'],
        operationId: 'unshareResource',
        summary: 'Stop sharing with a user (owner or admin), or give back a share made to you (userId = your id)',
        security: bearer,
        params: Type.Object({ id: Type.String({ maxLength: 64 }), userId: Type.String({ maxLength: 64 }) }),
        response: { 204: Type.Null(), ...problems(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await shares.unshare(serviceContext(request), request.params.id, request.params.userId);
      return reply.code(204).send(null);
    },
  );
}
