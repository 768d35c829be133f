import type { GraphQLFieldResolver } from 'graphql';
import { appError, isAppError } from '../../core/errors.js';
import type { ServiceContext } from '../../services/context.js';
import type { Caller, FeedGroup, LiveSubscriptions, ResourceChange } from '../../services/realtime/index.js';
import type { ResourcesService } from '../../services/resources/index.js';

/**
 * Subscriptions over WebSocket (graphql-transport-ws, DESIGN §5). Each delivers live events
 * from this instance's feeds, checked against the subscriber's access one by one; `after`
 * resumes from the last event received, replaying what was missed or saying RESYNC.
 */
export const subscriptionTypeDefs = /* GraphQL */ `
  "What happened to a resource."
  enum ResourceChangeKind {
    CREATED
    UPDATED
    RESTORED
    DELETED
    SHARED
    UNSHARED
    "What happened since 'after' cannot be replayed (too old, or too much): read the resource again."
    RESYNC
  }

  "One event of a watched resource."
  type ResourceChange {
    """
    The event's id: pass the last one received as 'after' when resubscribing. With RESYNC,
    the newest event of the resource still kept (resubscribe after it once you have read the
    resource again), or null when none is (resubscribe without 'after').
    """
    eventId: ID
    kind: ResourceChangeKind!
    resourceId: ID!
    "The version the event left the resource at (null for RESYNC)."
    version: Int
    "Who made the change."
    actorId: ID
    "RESTORED: the version whose data was restored."
    restoredFrom: Int
    "When the change was made (ISO 8601)."
    at: String!
    "The resource as it is now, when you may still read it; null once deleted."
    resource: Resource
  }

  "One delivery of notificationReceived."
  type NotificationDelivery {
    "True when what was missed since 'after' cannot be replayed: refetch the notifications list."
    resync: Boolean!
    "The new notification (null with resync)."
    notification: Notification
  }

  type Subscription {
    """
    Your new notifications as they are made, on whichever instance. With 'after' (the id of
    the last notification you received), those made since are delivered first, in order.
    """
    notificationReceived(after: ID): NotificationDelivery!
    """
    Changes of a resource you may read (NOT_FOUND otherwise). Ends with NOT_FOUND when your
    access goes, and completes after DELETED. With 'after' (the last eventId received), the
    events since are replayed first, in order, or RESYNC is sent when they cannot be.
    """
    resourceChanged(id: ID!, after: ID): ResourceChange!
  }
`;

/** What a subscription needs from the WebSocket connection it runs on. */
export interface SubscriptionContext extends ServiceContext {
  /** The connection's live feeds, which it asks to re-check access when grants change. */
  feeds?: FeedGroup;
  /** A caller that is signed in, or UNAUTHORIZED (which closes the socket with 4403). */
  signedIn?: Caller;
}

function connectionOf(context: SubscriptionContext): { feeds: FeedGroup; signedIn: Caller } {
  if (!context.feeds || !context.signedIn) throw appError('INVALID_INPUT', 'Subscriptions are served over WebSocket (graphql-transport-ws) at /graphql.');
  return { feeds: context.feeds, signedIn: context.signedIn };
}

const optionalId = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/**
 * The `resolve` of a subscription field: the event, as the service yields it, is the field's
 * value. A subscription that then reads only the event's own fields has a result every
 * subscriber of that event shares (api/ws/shared-execution.ts).
 */
export const eventAsIs: GraphQLFieldResolver<unknown, unknown> = (event) => event;

export function subscriptionResolvers(live: LiveSubscriptions, resources: ResourcesService) {
  return {
    Subscription: {
      notificationReceived: {
        subscribe: async (_root: unknown, args: { after?: string | null }, context: SubscriptionContext) => {
          const { feeds, signedIn } = connectionOf(context);
          return live.notificationsFor(signedIn, optionalId(args.after), feeds);
        },
        resolve: eventAsIs,
      },
      resourceChanged: {
        subscribe: async (_root: unknown, args: { id: string; after?: string | null }, context: SubscriptionContext) => {
          const { feeds, signedIn } = connectionOf(context);
          return live.resourceChanges(signedIn, args.id, optionalId(args.after), feeds);
        },
        resolve: eventAsIs,
      },
    },
    ResourceChange: {
      resource: async (change: ResourceChange, _args: unknown, context: SubscriptionContext) => {
        if (change.kind === 'DELETED') return null;
        try {
          return await resources.get(context, change.resourceId);
        } catch (err) {
          if (isAppError(err) && err.code === 'NOT_FOUND') return null;
          throw err;
        }
      },
    },
  };
}
