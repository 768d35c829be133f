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
  const { Subscription: _attachedSeparately, ...fromSubscriptions } = subscriptionResolvers(realtime.subscriptions, resources);
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
