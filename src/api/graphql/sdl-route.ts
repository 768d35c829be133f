import { printSchema, type GraphQLSchema } from 'graphql';
import type { App } from '../app.js';

export const SDL_CONTENT_TYPE = 'application/graphql; charset=utf-8';

/**
 * GET /graphql/schema.graphql: the schema as SDL, for code generators. Registered only where
 * introspection is on: turning it off (production) is a security setting, and the SDL is the
 * same map of the schema. Outside the GraphQL route plugin, so its refusals (429, 503) are
 * problem+json like any REST route's.
 */
export function registerSdlRoute(app: App, schema: GraphQLSchema): void {
  const sdl = printSchema(schema);
  app.get(
    '/graphql/schema.graphql',
    {
      schema: {
        operationId: 'getGraphqlSchema',
        tags: ['graphql'],
        summary: 'The GraphQL schema as SDL',
        description:
          'The schema GraphQL serves, in the GraphQL schema definition language (printSchema). Served only while ' +
          'introspection is on (`graphql.introspection`; off in the production profile, where this path answers 404).',
        security: [],
        response: { 200: { description: 'The SDL', content: { 'application/graphql': { schema: { type: 'string' } } } } },
      },
    },
    async (_request, reply) => reply.type(SDL_CONTENT_TYPE).send(sdl),
  );
}
