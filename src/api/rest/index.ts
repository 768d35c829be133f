import { Type } from '@sinclair/typebox';
import type { InstanceRole } from '../../core/config/index.js';
import type { RegistrationMode } from '../../services/auth/auth.service.js';
import type { ServerInfo } from '../../core/package.js';
import type { Identity } from '../../services/identity.js';
import type { NotificationsService } from '../../services/notifications/index.js';
import type { ResourcesService } from '../../services/resources/index.js';
import { problemRef } from '../schemas.js';
import type { App } from '../app.js';
import { registerAuthRoutes } from './auth.js';
import { IDENTITY_SCHEMAS } from './identity-schemas.js';
import { NOTIFICATION_SCHEMAS, registerNotificationRoutes } from './notifications.js';
import { registerPermissionRoutes } from './permissions.js';
import { registerResourceRoutes, RESOURCE_SCHEMAS } from './resources.js';
import { registerRoleRoutes } from './roles.js';
import { registerShareRoutes } from './shares.js';
import { registerUserRoutes } from './users.js';

/**
 * The REST API under /api/v1. Each feature adds a module beside this one (`users.ts`,
 * `resources.ts`, …) and registers it here: /api/v1/auth/* on instances with the `auth`
 * role, the rest on those with `api` (api/instance-roles.ts draws the same line by path).
 */
export async function registerRestApi(
  app: App,
  roles: ReadonlySet<InstanceRole>,
  server: ServerInfo,
  identity: Identity,
  resources: ResourcesService,
  notifications: NotificationsService,
  registration: RegistrationMode,
): Promise<void> {
  for (const schema of [...IDENTITY_SCHEMAS, ...RESOURCE_SCHEMAS, ...NOTIFICATION_SCHEMAS]) app.addSchema(schema);
  await app.register(
    async (api) => {
      api.get(
        '/',
        {
          schema: {
            tags: ['meta'],
            operationId: 'getApiIndex',
            security: [],
            summary: 'What this API is and where its descriptions live',
            response: {
              200: Type.Object({
                name: Type.String(),
                version: Type.String(),
                openapi: Type.String(),
                docs: Type.String(),
                graphql: Type.String(),
                registration: Type.Union([Type.Literal('open'), Type.Literal('invite'), Type.Literal('closed')], {
                  description:
                    'Who may register (auth.registration): anyone (open), holders of an invitation (invite), or nobody (closed). Lets a sign-in page offer registration only where it can succeed.',
                }),
              }),
              503: problemRef,
            },
          },
        },
        async () => ({ name: server.name, version: server.version, openapi: '/openapi.json', docs: '/docs', graphql: '/graphql', registration }),
      );
      if (roles.has('auth')) registerAuthRoutes(api, identity);
      if (roles.has('api')) {
        registerUserRoutes(api, identity);
        registerRoleRoutes(api, identity);
        registerPermissionRoutes(api, identity);
        registerResourceRoutes(api, resources);
        registerShareRoutes(api, resources.shares);
        registerNotificationRoutes(api, notifications);
      }
    },
    { prefix: '/api/v1' },
  );
}
