import DataLoader from 'dataloader';
import type { ServiceContext } from '../../services/context.js';
import type { Identity } from '../../services/identity.js';
import type { Precondition, ResourceSummary, ResourcesService } from '../../services/resources/index.js';
import { encodeCursor, encodeVersionCursor } from '../../services/shared/pagination.js';
import type { UserView } from '../../services/shared/views.js';
import { JSONScalar } from './json-scalars.js';

/** Versioned resources over GraphQL (DESIGN §5): the same service calls as REST. */
export const resourceTypeDefs = /* GraphQL */ `
  scalar JSON

  type Resource {
    id: ID!
    ownerId: ID!
    "The owner, when you may read that user; null otherwise."
    owner: User
    name: String!
    type: String!
    metadata: JSONObject!
    "The current version of the data: new data appends version n+1."
    version: Int!
    "Bumped by every change of the record (name, metadata, data, owner); updateResource's expectedRevision is compared with it (REST's ETag)."
    revision: Int!
    "The current version's data."
    data: JSON
    createdAt: String!
    updatedAt: String!
    "The history, newest first."
    versions(first: Int = 20, after: String): ResourceVersionConnection!
  }

  type ResourceVersion {
    version: Int!
    "Present when asked for one version (resourceVersion); null in a history list."
    data: JSON
    createdBy: ID
    createdAt: String!
  }

  type ResourceVersionEdge {
    cursor: String!
    node: ResourceVersion!
  }

  type ResourceVersionConnection {
    edges: [ResourceVersionEdge!]!
    pageInfo: PageInfo!
  }

  type ResourceEdge {
    cursor: String!
    node: Resource!
  }

  type ResourceConnection {
    edges: [ResourceEdge!]!
    pageInfo: PageInfo!
    "How many resources you may read that match the filters."
    totalCount: Int!
  }

  input CreateResourceInput {
    name: String!
    type: String!
    metadata: JSONObject
    "Any JSON; required."
    data: JSON
  }

  input UpdateResourceInput {
    name: String
    metadata: JSONObject
    "New data appends a version."
    data: JSON
  }

  extend type Query {
    resource(id: ID!): Resource
    "Resources you may read. type: at most 64 characters; q: name contains, case-insensitively, at most 255 characters (1 cost point more per 32)."
    resources(first: Int = 20, after: String, type: String, ownerId: ID, q: String): ResourceConnection!
    resourceVersion(id: ID!, version: Int!): ResourceVersion
  }

  extend type Mutation {
    "Creates a resource (version 1). A retry with the same idempotencyKey and input returns the first result."
    createResource(input: CreateResourceInput!, idempotencyKey: String): Resource!
    """
    Changes it. With expectedRevision, a resource changed in any way since (name, metadata, data or owner) is a CONFLICT.
    New data past resources.maxVersions, or bytes past the owner's storage quota, are UNPROCESSABLE_ENTITY.
    """
    updateResource(
      id: ID!
      input: UpdateResourceInput!
      "The revision you last read; a resource changed since is a CONFLICT."
      expectedRevision: Int
      expectedVersion: Int
        @deprecated(reason: "Compares the data's version only, so a concurrent change of name or metadata goes unnoticed; use expectedRevision.")
    ): Resource!
    deleteResource(id: ID!): Boolean!
    restoreResourceVersion(id: ID!, version: Int!, idempotencyKey: String): Resource!
  }
`;

/** What resource resolvers get: the operation's ServiceContext (handed straight to the services) and its loaders. */
export interface ResourceContext extends ServiceContext {
  readonly resourceLoaders: ResourceLoaders;
}

export interface ResourceLoaders {
  owners: DataLoader<string, UserView | null>;
  data: DataLoader<ResourceSummary, unknown>;
}

/** Batch loaders: a page of resources with owners and data costs one query for each. */
export function resourceLoaders(identity: Identity, resources: ResourcesService, ctx: ServiceContext): ResourceLoaders {
  return {
    owners: new DataLoader(
      async (ids) => {
        const users = await identity.users.readableByIds(ctx, ids);
        const byId = new Map(users.map((u) => [u.id, u]));
        return ids.map((id) => byId.get(id) ?? null);
      },
      { cache: false },
    ),
    data: new DataLoader(
      async (items) => {
        const byId = await resources.currentData(ctx, items);
        return items.map((r) => byId.get(r.id) ?? null);
      },
      { cache: false },
    ),
  };
}

type Args = Record<string, unknown>;
type Resolver = (parent: unknown, args: Args, context: ResourceContext) => unknown;
const optional = <T>(value: unknown) => (value === null || value === undefined ? undefined : (value as T));
const withoutUndefined = (input: Args): Args => Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));

function preconditionOf(args: Args): Precondition {
  const revision = optional<number>(args.expectedRevision);
  return { revisions: revision === undefined ? undefined : [revision], version: optional<number>(args.expectedVersion) };
}

export function resourceResolvers(resources: ResourcesService) {
  const write = (idempotencyKey?: unknown) => ({ idempotencyKey: optional<string>(idempotencyKey) });
  const query: Record<string, Resolver> = {
    resource: async (_p, args, ctx) => resources.get(ctx, args.id as string),
    resources: async (_p, args, ctx) => {
      const context = ctx;
      const filters = { type: optional<string>(args.type), ownerId: optional<string>(args.ownerId), q: optional<string>(args.q) };
      const page = await resources.list(context, { ...filters, limit: args.first as number, cursor: optional<string>(args.after) });
      return {
        edges: page.items.map((node) => ({ cursor: encodeCursor(node.id), node })),
        pageInfo: { hasNextPage: page.nextCursor !== null, endCursor: page.nextCursor },
        totalCount: () => resources.count(context, filters),
      };
    },
    resourceVersion: async (_p, args, ctx) => resources.version(ctx, args.id as string, args.version as number),
  };
  const mutation: Record<string, Resolver> = {
    createResource: async (_p, args, ctx) => resources.create(ctx, withoutUndefined({ ...(args.input as Args) }), write(args.idempotencyKey)),
    // A stale expectedRevision is a CONFLICT in GraphQL (no If-Match/412): graphql/errors.ts says so.
    updateResource: async (_p, args, ctx) => resources.update(ctx, args.id as string, withoutUndefined({ ...(args.input as Args) }), preconditionOf(args)),
    deleteResource: async (_p, args, ctx) => resources.delete(ctx, args.id as string).then(() => true),
    restoreResourceVersion: async (_p, args, ctx) => resources.restore(ctx, args.id as string, args.version as number, write(args.idempotencyKey)),
  };
  return {
    JSON: JSONScalar,
    Query: query,
    Mutation: mutation,
    // graphql-jit (the pipeline compiles an operation run often) does not call a function-valued
    // property the way graphql-js's default resolver does: count through a resolver.
    ResourceConnection: { totalCount: (c: { totalCount: () => Promise<number> }) => c.totalCount() },
    Resource: {
      owner: (r: ResourceSummary, _a: Args, ctx: ResourceContext) => ctx.resourceLoaders.owners.load(r.ownerId),
      data: (r: ResourceSummary & { data?: unknown }, _a: Args, ctx: ResourceContext) => ('data' in r ? r.data : ctx.resourceLoaders.data.load(r)),
      versions: async (r: ResourceSummary, args: Args, ctx: ResourceContext) => {
        const page = await resources.versions(ctx, r.id, { limit: args.first as number, cursor: optional<string>(args.after) });
        return {
          edges: page.items.map((node) => ({ cursor: encodeVersionCursor(node.version), node })),
          pageInfo: { hasNextPage: page.nextCursor !== null, endCursor: page.nextCursor },
        };
      },
    },
  };
}
