import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { ServerInfo } from '../core/package.js';
import type { App } from './app.js';

/**
 * OpenAPI 3.1 generated from the route schemas, served at /openapi.json, with a reference
 * page at /docs. Registered before any route so every route is collected.
 */
export async function registerOpenApi(app: App, server: ServerInfo): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: server.name,
        version: server.version,
        description:
          'Identities, access control, versioned resources and real-time notifications. Errors are RFC 9457 ' +
          'problem+json with a stable `code`; see the Problem schema. Every route is rate limited: responses carry ' +
          '`RateLimit-Policy` and `RateLimit` (IETF draft, structured fields), and a spent budget answers 429 ' +
          '`RATE_LIMITED` with `Retry-After`.',
      },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A session token from POST /api/v1/auth/login' } },
      },
    },
    // Route schemas reference shared schemas as `Name#`; documents should use components.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
