import type { SharesService } from '../../services/shares/shares.service.js';
import type { ResourceSummary } from '../../services/resources/index.js';
import type { ResourceContext } from './resources.js';

/** Sharing resources over GraphQL (DESIGN §5): the same service calls as REST's /resources/{id}/shares. */
export const shareTypeDefs = /* GraphQL */ `
  type Share {
    userId: ID!
    actions: [String!]!
  }

  extend type Resource {
    "Who it is shared with, oldest share first: for its owner and admins, as GET /resources/{id}/shares; null with a FORBIDDEN error for anyone else, so a list holding resources shared with the caller still answers."
    shares: [Share!]
  }

  extend type Mutation {
    """
    Shares with another user (owner or admin): actions among read, update, delete (read always
    comes with them); sharing again adds actions, never takes any away. With yourself or the
    owner: INVALID_INPUT.
    Past resources.maxSharesPerResource users of one resource, resources.maxSharesPerUser
    shares received by one user, or a tenth of that received from one owner: CONFLICT, the
    message naming the limit.
    """
    shareResource(id: ID!, userId: ID!, actions: [String!]!): Share!
    "Stops sharing with a user (owner or admin), or gives back a share made to you (userId: your id)."
    unshareResource(id: ID!, userId: ID!): Boolean!
  }
`;

type Args = Record<string, unknown>;

export function shareResolvers(shares: SharesService) {
  return {
    Mutation: {
      shareResource: async (_p: unknown, args: Args, ctx: ResourceContext) =>
        shares.share(ctx, args.id as string, { userId: args.userId, actions: args.actions }),
      unshareResource: async (_p: unknown, args: Args, ctx: ResourceContext) => shares.unshare(ctx, args.id as string, args.userId as string).then(() => true),
    },
    Resource: {
      shares: async (r: ResourceSummary, _a: Args, ctx: ResourceContext) => shares.list(ctx, r.id),
    },
  };
}
