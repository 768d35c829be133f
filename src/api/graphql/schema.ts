import { buildSchema, GraphQLScalarType, isObjectType, isScalarType, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import type { ServerInfo } from '../../core/package.js';
import type { Identity } from '../../services/identity.js';
import { identityResolvers, identityTypeDefs } from './identity.js';
import { resourceResolvers, resourceTypeDefs } from './resources.js';
import { shareResolvers, shareTypeDefs } from './shares.js';
import type { NotificationsService } from '../../services/notifications/index.js';
import type { Realtime } from '../../services/realtime/index.js';
import type { ResourcesService } from '../../services/resources/index.js';
import { notificationResolvers, notificationTypeDefs } from './notifications.js';
import { subscriptionResolvers, subscriptionTypeDefs } from './subscriptions.js';

/**
 * The GraphQL schema. Each feature adds its types and operations in a module beside this
 * one; resolvers stay thin: parse arguments, call one service method, return its result.
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
  ${identityTypeDefs}
  ${resourceTypeDefs}
  ${shareTypeDefs}
  ${notificationTypeDefs}
  ${subscriptionTypeDefs}
`;

export function resolvers(info: ServerInfo, identity: Identity, resources: ResourcesService, notifications: NotificationsService, realtime: Realtime) {
  const fromIdentity = identityResolvers(identity);
  const fromResources = resourceResolvers(resources);
  const fromShares = shareResolvers(resources.shares);
  const fromNotifications = notificationResolvers(notifications);
  const fromSubscriptions = subscriptionResolvers(realtime.subscriptions, resources);
  return {
    ...fromIdentity,
    ...fromResources,
    ...fromNotifications,
    ...fromSubscriptions,
    Resource: { ...fromResources.Resource, ...fromShares.Resource },
    Query: { server: () => info, ...fromIdentity.Query, ...fromResources.Query, ...fromNotifications.Query },
    Mutation: { ...fromIdentity.Mutation, ...fromResources.Mutation, ...fromShares.Mutation, ...fromNotifications.Mutation },
  };
}

type FieldResolvers = Record<string, unknown>;

/**
 * The one executable schema both transports run: the type definitions with the resolvers
 * set on their fields (a function is the field's `resolve`; `{ subscribe, resolve }` a
 * subscription field's), and the custom scalars' parsing and serialising. A resolver for a
 * type or field the definitions lack is a programming error, found at start-up.
 */
export function executableSchema(definitions: string, resolverMap: Record<string, FieldResolvers | GraphQLScalarType>): GraphQLSchema {
  const schema = buildSchema(definitions);
  for (const [typeName, value] of Object.entries(resolverMap)) {
    const type = schema.getType(typeName);
    if (value instanceof GraphQLScalarType) {
      if (!isScalarType(type)) throw new Error(`the schema has no scalar ${typeName}`);
      type.serialize = value.serialize;
      type.parseValue = value.parseValue;
      type.parseLiteral = value.parseLiteral;
      continue;
    }
    if (!isObjectType(type)) throw new Error(`the schema has no object type ${typeName}`);
    const fields = type.getFields();
    for (const [fieldName, resolver] of Object.entries(value)) {
      const field = fields[fieldName];
      if (!field) throw new Error(`the schema has no field ${typeName}.${fieldName}`);
      if (typeof resolver === 'function') {
        field.resolve = resolver as GraphQLFieldResolver<unknown, unknown>;
      } else {
        const { subscribe, resolve } = resolver as { subscribe: GraphQLFieldResolver<unknown, unknown>; resolve?: GraphQLFieldResolver<unknown, unknown> };
        field.subscribe = subscribe;
        if (resolve) field.resolve = resolve;
      }
    }
  }
  return schema;
}
