import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { ServerInfo } from '../core/package.js';
import type { App } from './app.js';
import { finishDocument, markRoute } from './openapi-contract.js';

/**
 * OpenAPI 3.1 generated from the route schemas, served at /openapi.json, with a reference
 * page at /docs. Registered before any route so every route is collected. The checked-in
 * copy is contract/openapi.json (`npm run contract`; docs/contract.md).
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
          'problem+json with a stable `code`; see the Problem schema. Every route but the health probes is rate limited: responses carry ' +
          '`RateLimit-Policy` and `RateLimit` (IETF draft, structured fields), and a spent budget answers 429 ' +
          '`RATE_LIMITED` with `Retry-After`. GraphQL is served at /graphql (HTTP, and WebSocket with graphql-transport-ws); ' +
          'its schema as SDL at /graphql/schema.graphql while introspection is on.',
      },
      servers: [{ url: '/', description: 'The server that serves this document' }],
      tags: [
        { name: 'meta', description: 'What this API is' },
        { name: 'auth', description: 'Accounts, sign-in and sessions' },
        { name: 'users', description: 'Users, their roles and direct permissions' },
        { name: 'roles', description: 'Roles and their permissions' },
        { name: 'resources', description: 'Versioned JSON resources, their history and shares' },
        { name: 'notifications', description: 'Your notifications and email preferences' },
        { name: 'graphql', description: 'GraphQL over HTTP and the schema' },
        { name: 'operations', description: 'Probes and metrics' },
      ],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'A session token from POST /api/v1/auth/login' },
          metricsToken: { type: 'http', scheme: 'bearer', description: 'The configured `metrics.token`, when one is set' },
        },
      },
    },
    // Route schemas reference shared schemas as `Name#`; documents should use components.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
    transform: markRoute as never,
    transformObject: (documentObject) => finishDocument((documentObject as { openapiObject: Record<string, unknown> }).openapiObject) as never,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: true } });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
