import { Type } from '@sinclair/typebox';
import type { Identity } from '../../services/identity.js';
import type { App } from '../app.js';
import { serviceContext } from '../service-context.js';
import { bearer, problems } from './auth.js';
import { PermissionInput, ref } from './identity-schemas.js';

const PreviewBody = Type.Object(
  {
    ...PermissionInput.properties,
    userId: Type.Optional(Type.String({ maxLength: 64, description: 'The user `"${user.id}"` stands for (an existing user); default: you' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20, description: 'The most matches to answer' })),
  },
  { additionalProperties: false },
);

const PreviewAnswer = Type.Object({
  conditions: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], {
    description: 'The conditions as a grant would store them: normalised (UUIDs lowercase, timestamps in ISO form), null when unconditional',
  }),
  matches: Type.Array(ref('ResourceSummary'), {
    description: 'The first resources the permission matches, newest first, among the newest 10,000; always empty for `user` and `role`',
  }),
  more: Type.Boolean({ description: 'True when it matches more resources than `matches` holds' }),
  complete: Type.Boolean({
    description: 'False when there are more than 10,000 resources: only the newest 10,000 were looked at, which bounds what a preview costs',
  }),
});

/** Permissions on their own, under /api/v1/permissions: what one would allow before it is granted. */
export function registerPermissionRoutes(api: App, identity: Identity): void {
  const { roles } = identity;

  api.post(
    '/permissions/preview',
    {
      schema: {
        tags: ['roles'],
        operationId: 'previewPermission',
        summary: 'The resources a permission would match, before it is granted (administrators)',
        description:
          'Validates the permission exactly as granting it does (a problem in the conditions is 400 INVALID_INPUT, its `errors` ' +
          'naming paths under `conditions`, e.g. `conditions/metadata.team/$in`) and answers the first `limit` resources its conditions match ' +
          'for `resourceType` (a type, or `*` for every type), through the same SQL filter a holder’s lists use, with `"${user.id}"` standing for `userId`. ' +
          'Permissions on `user` and `role` match no resources: `matches` is empty. Nothing is stored. Needs the same right as granting ' +
          '(the unconditional right to manage roles): anyone else gets 403.',
        security: bearer,
        body: PreviewBody,
        response: { 200: PreviewAnswer, ...problems(400, 401, 403) },
      },
    },
    async (request) => roles.previewPermission(serviceContext(request), request.body),
  );
}
