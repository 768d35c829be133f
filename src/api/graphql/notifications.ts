import type { NotificationsService } from '../../services/notifications/index.js';
import { encodeCursor } from '../../services/shared/pagination.js';
import type { ServiceContext } from '../../services/context.js';

/** The caller's notifications over GraphQL (DESIGN §5 "Notifications"): the same service calls as REST. */
export const notificationTypeDefs = /* GraphQL */ `
  "Something that happened that concerns you: a change to your resource, a share, a role or permission, a login."
  type Notification {
    "Its id; also what notificationReceived's 'after' takes."
    id: ID!
    """
    What happened: resource.updated, resource.restored, resource.deleted, resource.shared,
    resource.unshared, role.assigned, role.unassigned, permission.granted,
    permission.revoked or login.new.
    """
    kind: String!
    """
    What it is about; depends on the kind: resource kinds carry resourceId, resourceName,
    resourceType, version (and restoredFrom, userId, actions where they apply); role kinds
    roleId and roleName; permission kinds permissionId, resourceType and action; login.new
    sessionId, ip and userAgent. Who acted is actorId with actorName.
    """
    payload: JSONObject!
    "Whether it was marked read."
    read: Boolean!
    "When it was first marked read (ISO 8601); null while unread."
    readAt: String
    "When it was made (ISO 8601)."
    createdAt: String!
  }

  "A notification in a list, with the cursor to continue after it."
  type NotificationEdge {
    "Pass as 'after' to get the notifications older than this one."
    cursor: String!
    "The notification."
    node: Notification!
  }

  "A page of your notifications, newest first."
  type NotificationConnection {
    "The notifications of this page."
    edges: [NotificationEdge!]!
    "Whether there is another page, and the cursor to ask for it."
    pageInfo: PageInfo!
    "How many of your notifications are unread (all of them, not only this page)."
    unreadCount: Int!
  }

  "Your notification settings."
  type NotificationPreferences {
    "The kinds of notification also sent to you by email."
    email: [String!]!
  }

  extend type Query {
    "Your notifications, newest first; with unread: true, only those not yet marked read."
    notifications(
      "Only the notifications not yet marked read."
      unread: Boolean = false
      "The page size, 1 to 100."
      first: Int = 20
      "The endCursor of the previous page."
      after: String
    ): NotificationConnection!
    "Which kinds of notification are also sent to you by email."
    notificationPreferences: NotificationPreferences!
  }

  extend type Mutation {
    "Marks one of your notifications read (idempotent); someone else's or an unknown id is NOT_FOUND."
    markNotificationRead(id: ID!): Notification!
    "Marks all your unread notifications read; returns how many were marked."
    markAllNotificationsRead: Int!
    "Replaces the kinds of notification sent to you by email (an empty list sends none); an unknown kind is INVALID_INPUT."
    setNotificationPreferences(email: [String!]!): NotificationPreferences!
  }
`;

/** Notification resolvers need the operation's ServiceContext alone. */
export type NotificationContext = ServiceContext;

type Args = Record<string, unknown>;
type Resolver = (parent: unknown, args: Args, context: NotificationContext) => unknown;
const optional = <T>(value: unknown) => (value === null || value === undefined ? undefined : (value as T));

export function notificationResolvers(service: NotificationsService) {
  const query: Record<string, Resolver> = {
    notifications: async (_p, args, ctx) => {
      const context = ctx;
      const page = await service.list(context, { unread: args.unread === true, limit: args.first as number, cursor: optional<string>(args.after) });
      return {
        edges: page.items.map((node) => ({ cursor: encodeCursor(node.id), node })),
        pageInfo: { hasNextPage: page.nextCursor !== null, endCursor: page.nextCursor },
        unreadCount: () => service.unreadCount(context),
      };
    },
    notificationPreferences: async (_p, _args, ctx) => service.preferences(ctx),
  };
  const mutation: Record<string, Resolver> = {
    markNotificationRead: async (_p, args, ctx) => service.markRead(ctx, args.id as string),
    markAllNotificationsRead: async (_p, _args, ctx) => service.markAllRead(ctx),
    setNotificationPreferences: async (_p, args, ctx) => service.setPreferences(ctx, { email: args.email }),
  };
  return {
    Query: query,
    Mutation: mutation,
    // Counted only when asked for, through a resolver (graphql-jit does not call function-valued properties).
    NotificationConnection: { unreadCount: (c: { unreadCount: () => Promise<number> }) => c.unreadCount() },
  };
}
