import type { SharesService } from '../../services/shares/shares.service.js';
import type { ResourceSummary } from '../../services/resources/index.js';
import type { ResourceContext } from './resources.js';

/** Sharing resources over GraphQL (DESIGN §5): the same service calls as REST's /resources/{id}/shares. */
export const shareTypeDefs = /* GraphQL */ `
  type Share {
    userId: ID!
    "The user's name as it is now (not the email: an id alone must not reveal a user's address)."
    name: String!
    actions: [String!]!
  }

  extend type Resource {
    "Who it is shared with, oldest share first: for its owner and admins, as GET /resources/{id}/shares; null with a FORBIDDEN error for anyone else, so a list holding resources shared with the caller still answers."
    shares: [Share!]
  }

  extend type Mutation {
    """
    Shares with another user (owner or admin), named by exactly one of userId and email (both
    or neither: INVALID_INPUT; an unknown email: NOT_FOUND): actions among read, update, delete
    (read always comes with them); sharing again adds actions, never takes any away. With
    yourself or the owner: INVALID_INPUT.
    Past resources.maxSharesPerResource users of one resource, resources.maxSharesPerUser
    shares received by one user, or a tenth of that received from one owner: CONFLICT, the
    message naming the limit.
    """
    shareResource(id: ID!, userId: ID, email: String, actions: [String!]!): Share!
    "Stops sharing with a user (owner or admin), or gives back a share made to you (userId: your id)."
    unshareResource(id: ID!, userId: ID!): Boolean!
  }
`;

type Args = Record<string, unknown>;

/** An optional argument as the service takes it: absent when omitted or null, as REST leaves it out. */
const given = (args: Args, name: string): Args => (args[name] === undefined || args[name] === null ? {} : { [name]: args[name] });

export function shareResolvers(shares: SharesService) {
  return {
    Mutation: {
      shareResource: async (_p: unknown, args: Args, ctx: ResourceContext) =>
        shares.share(ctx, args.id as string, { ...given(args, 'userId'), ...given(args, 'email'), actions: args.actions }),
      unshareResource: async (_p: unknown, args: Args, ctx: ResourceContext) => shares.unshare(ctx, args.id as string, args.userId as string).then(() => true),
    },
    Resource: {
      shares: async (r: ResourceSummary, _a: Args, ctx: ResourceContext) => shares.list(ctx, r.id),
    },
  };
}
