import DataLoader from 'dataloader';
import type { ServiceContext } from '../../services/context.js';
import type { Identity } from '../../services/identity.js';
import { encodeCursor, type Page } from '../../services/shared/pagination.js';
import type { PermissionView, RoleView, UserView } from '../../services/shared/views.js';
import { JSONObjectScalar } from './json-scalars.js';

/** Identity and access over GraphQL (DESIGN §5): the same service calls as REST. */
export const identityTypeDefs = /* GraphQL */ `
  scalar JSONObject

  type PageInfo {
    hasNextPage: Boolean!
    endCursor: String
  }

  type User {
    id: ID!
    email: String!
    name: String!
    createdAt: String!
    updatedAt: String!
    "The user's roles: all of your own; another user's where you may read the role."
    roles: [Role!]!
  }

  type Role {
    id: ID!
    name: String!
    description: String!
    "admin and member are built in: they cannot be renamed or deleted."
    builtin: Boolean!
    createdAt: String!
    updatedAt: String!
    permissions: [Permission!]!
  }

  type RoleRef {
    id: ID!
    name: String!
  }

  type Permission {
    id: ID!
    "A resource type, * for every resource type, or user / role."
    resourceType: String!
    "create, read, update, delete or manage (every action)."
    action: String!
    "MongoDB-style conditions over the record; \\"\${user.id}\\" stands for the caller. Null when unconditional."
    conditions: JSONObject
  }

  type Session {
    id: ID!
    createdAt: String!
    lastSeenAt: String!
    expiresAt: String!
    userAgent: String
    ip: String
    "The session this request was made with."
    current: Boolean!
  }

  type Me {
    user: User!
    roles: [RoleRef!]!
    permissions: [Permission!]!
    "What your resources hold, against your storage quota."
    usage: Usage!
  }

  type Usage {
    "Bytes your resources hold: every version's data plus metadata and name, plus 256 per resource and per version. (Float: GraphQL's Int stops at 2^31 - 1; always a whole number.)"
    storageBytes: Float!
    "quotas.storageBytesPerUser, in bytes; null when unlimited."
    storageQuotaBytes: Float
  }

  type AuthPayload {
    "Send as Authorization: Bearer <token>."
    token: String!
    expiresAt: String!
    user: User!
  }

  type Invitation {
    id: ID!
    email: String!
    "Shown once; pass it on to be used as register's invitation."
    token: String!
    expiresAt: String!
  }

  type UserEdge {
    cursor: String!
    node: User!
  }

  type UserConnection {
    edges: [UserEdge!]!
    pageInfo: PageInfo!
    "How many users you may read in all."
    totalCount: Int!
  }

  type RoleEdge {
    cursor: String!
    node: Role!
  }

  type RoleConnection {
    edges: [RoleEdge!]!
    pageInfo: PageInfo!
    totalCount: Int!
  }

  input RegisterInput {
    email: String!
    name: String!
    password: String!
    "Required when registration is invite-only."
    invitation: String
  }

  input CreateUserInput {
    email: String!
    name: String!
    password: String!
  }

  input UpdateUserInput {
    name: String
    "A new email ends the user's other sessions (all of them when an administrator changes another user's)."
    email: String
    "Your current password: required to change your own email; wrong guesses count like failed logins."
    currentPassword: String
  }

  input CreateRoleInput {
    name: String!
    description: String
  }

  input UpdateRoleInput {
    name: String
    description: String
  }

  input PermissionInput {
    resourceType: String!
    action: String!
    conditions: JSONObject
  }

  extend type Query {
    "The caller: its user, roles and permissions."
    me: Me!
    "The caller's active sessions."
    sessions: [Session!]!
    user(id: ID!): User
    users(first: Int = 20, after: String): UserConnection!
    role(id: ID!): Role
    roles(first: Int = 20, after: String): RoleConnection!
  }

  type Mutation {
    register(input: RegisterInput!): User!
    login(email: String!, password: String!): AuthPayload!
    "Revokes the calling session."
    logout: Boolean!
    "Changes the caller's password and signs out its other sessions."
    changePassword(currentPassword: String!, newPassword: String!): Boolean!
    revokeSession(id: ID!): Boolean!
    "An invitation to register; needs permission to create that user (a conditional grant is checked against the email now, and against the name when it is accepted)."
    createInvitation(email: String!): Invitation!
    createUser(input: CreateUserInput!): User!
    "Changes a user's name or email; changing your own email needs currentPassword."
    updateUser(id: ID!, input: UpdateUserInput!): User!
    "Deletes a user; one who owns resources needs transferTo, who receives them (shares it had received on them are removed)."
    deleteUser(id: ID!, transferTo: ID): Boolean!
    createRole(input: CreateRoleInput!): Role!
    updateRole(id: ID!, input: UpdateRoleInput!): Role!
    deleteRole(id: ID!): Boolean!
    assignRole(userId: ID!, roleId: ID!): Boolean!
    unassignRole(userId: ID!, roleId: ID!): Boolean!
    addRolePermission(roleId: ID!, input: PermissionInput!): Permission!
    removeRolePermission(roleId: ID!, permissionId: ID!): Boolean!
    grantUserPermission(userId: ID!, input: PermissionInput!): Permission!
    revokeUserPermission(userId: ID!, permissionId: ID!): Boolean!
  }
`;

/** What identity resolvers need from the GraphQL context. */
/** What identity resolvers get: the operation's ServiceContext (handed straight to the services) and its loaders. */
export interface IdentityContext extends ServiceContext {
  readonly loaders: IdentityLoaders;
}

export interface IdentityLoaders {
  permissionsOfRole: DataLoader<string, PermissionView[]>;
}

/** The one context a resolver hands its service call. */

/**
 * The roles of users as the caller may see them, batched per operation: the loader is the
 * operation's own, since what it returns depends on the caller.
 */
const roleLoaders = new WeakMap<IdentityContext, DataLoader<string, RoleView[]>>();
function rolesOfUser(identity: Identity, ctx: IdentityContext): DataLoader<string, RoleView[]> {
  let loader = roleLoaders.get(ctx);
  if (!loader) {
    loader = new DataLoader(
      async (ids) => {
        const byUser = await identity.userGrants.rolesOfUsers(ctx, ids);
        return ids.map((id) => byUser.get(id) ?? []);
      },
      { cache: false },
    );
    roleLoaders.set(ctx, loader);
  }
  return loader;
}

/**
 * Batch loaders: a page of users with their roles and the roles' permissions costs three
 * queries, whatever the page size. They batch but do not memoise (`cache: false`), so one
 * set can serve every operation of a long-lived WebSocket without handing out stale rows.
 */
export function identityLoaders(identity: Identity): IdentityLoaders {
  return {
    permissionsOfRole: new DataLoader(
      async (ids) => {
        const byRole = await identity.roles.permissionsOfRoles(ids);
        return ids.map((id) => byRole.get(id) ?? []);
      },
      { cache: false },
    ),
  };
}

function connection<T extends { id: string }>(page: Page<T>, total: () => Promise<number>) {
  return {
    edges: page.items.map((node) => ({ cursor: encodeCursor(node.id), node })),
    pageInfo: { hasNextPage: page.nextCursor !== null, endCursor: page.nextCursor },
    // Counted only when asked for.
    totalCount: total,
  };
}

type Args = Record<string, unknown>;
type Resolver<A = Args> = (parent: unknown, args: A, context: IdentityContext) => unknown;
const done = <T>(work: Promise<T>) => work.then(() => true);
const page = (args: Args) => ({ limit: args.first as number | undefined, cursor: (args.after as string | null | undefined) ?? undefined });

export function identityResolvers(identity: Identity) {
  const { auth, users, roles, userGrants } = identity;
  const query: Record<string, Resolver> = {
    me: async (_p, _a, ctx) => auth.me(ctx),
    sessions: async (_p, _a, ctx) => auth.sessions(ctx),
    user: async (_p, args, ctx) => users.get(ctx, args.id as string),
    users: async (_p, args, ctx) => {
      const context = ctx;
      return connection(await users.list(context, page(args)), () => users.count(context));
    },
    role: async (_p, args, ctx) => roles.get(ctx, args.id as string),
    roles: async (_p, args, ctx) => {
      const context = ctx;
      return connection(await roles.list(context, page(args)), () => roles.count(context));
    },
  };
  const mutation: Record<string, Resolver> = {
    register: async (_p, args, ctx) => {
      const input = args.input as Args;
      return auth.register(ctx, { email: input.email, name: input.name, password: input.password, invitation: input.invitation ?? undefined });
    },
    login: async (_p, args, ctx) => auth.login(ctx, { email: args.email, password: args.password }),
    logout: async (_p, _a, ctx) => done(auth.logout(ctx)),
    changePassword: async (_p, args, ctx) => done(auth.changePassword(ctx, { currentPassword: args.currentPassword, newPassword: args.newPassword })),
    revokeSession: async (_p, args, ctx) => done(auth.revokeSession(ctx, args.id as string)),
    createInvitation: async (_p, args, ctx) => auth.invite(ctx, { email: args.email }),
    createUser: async (_p, args, ctx) => users.create(ctx, { ...(args.input as Args) }),
    updateUser: async (_p, args, ctx) => users.update(ctx, args.id as string, withoutUndefined(args.input as Args)),
    deleteUser: async (_p, args, ctx) => done(users.delete(ctx, args.id as string, (args.transferTo as string | null | undefined) ?? undefined)),
    createRole: async (_p, args, ctx) => roles.create(ctx, withoutUndefined(args.input as Args)),
    updateRole: async (_p, args, ctx) => roles.update(ctx, args.id as string, withoutUndefined(args.input as Args)),
    deleteRole: async (_p, args, ctx) => done(roles.delete(ctx, args.id as string)),
    assignRole: async (_p, args, ctx) => done(userGrants.assign(ctx, args.userId as string, args.roleId as string)),
    unassignRole: async (_p, args, ctx) => done(userGrants.unassign(ctx, args.userId as string, args.roleId as string)),
    addRolePermission: async (_p, args, ctx) => roles.addPermission(ctx, args.roleId as string, withoutUndefined(args.input as Args)),
    removeRolePermission: async (_p, args, ctx) => done(roles.removePermission(ctx, args.roleId as string, args.permissionId as string)),
    grantUserPermission: async (_p, args, ctx) => userGrants.grantToUser(ctx, args.userId as string, withoutUndefined(args.input as Args)),
    revokeUserPermission: async (_p, args, ctx) => done(userGrants.revokeFromUser(ctx, args.userId as string, args.permissionId as string)),
  };
  return {
    JSONObject: JSONObjectScalar,
    Query: query,
    Mutation: mutation,
    // graphql-jit (the pipeline compiles an operation run often) does not call a function-valued
    // property the way graphql-js's default resolver does: count through a resolver.
    UserConnection: { totalCount: (c: { totalCount: () => Promise<number> }) => c.totalCount() },
    RoleConnection: { totalCount: (c: { totalCount: () => Promise<number> }) => c.totalCount() },
    User: {
      // Which of them the caller sees is the grants service's rule.
      roles: (user: UserView, _a: Args, ctx: IdentityContext) => rolesOfUser(identity, ctx).load(user.id),
    },
    Role: {
      permissions: (role: RoleView & { permissions?: PermissionView[] }, _a: Args, ctx: IdentityContext) =>
        role.permissions ?? ctx.loaders.permissionsOfRole.load(role.id),
    },
  };
}

/** GraphQL passes omitted optional fields as absent but a plain copy keeps services' field checks simple. */
function withoutUndefined(input: Args): Args {
  return Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
}
