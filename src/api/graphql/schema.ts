import type { ServerInfo } from '../../core/package.js';

/**
 * The GraphQL schema. Later features add their types and operations next to their services;
 * resolvers stay thin: parse arguments, call one service method, return its result.
 */
export const typeDefs = /* GraphQL */ `
  "What this server is."
  type ServerInfo {
    name: String!
    version: String!
    profile: String!
  }

  type Query {
    "The server's name, version and profile."
    server: ServerInfo!
  }
`;

export function resolvers(info: ServerInfo) {
  return {
    Query: {
      server: () => info,
    },
  };
}
