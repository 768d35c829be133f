/**
 * The domain events services write to the outbox, with the change that caused them
 * (DESIGN §4), and that consumers read back from the queue. The topic says what happened;
 * the payload carries what a consumer needs without reading the database again: for a
 * resource, every field a permission condition may test, so each subscriber's access is
 * checked against the event itself.
 *
 * The catalog owns every payload type and imports nothing of the services: producers and
 * consumers both depend on it, never on each other.
 */
export const TOPIC = {
  resourceCreated: 'resource.created',
  resourceUpdated: 'resource.updated',
  resourceRestored: 'resource.restored',
  resourceDeleted: 'resource.deleted',
  resourceShared: 'resource.shared',
  resourceUnshared: 'resource.unshared',
  roleAssigned: 'user.role_assigned',
  roleUnassigned: 'user.role_unassigned',
  permissionGranted: 'user.permission_granted',
  permissionRevoked: 'user.permission_revoked',
  roleChanged: 'role.changed',
  sessionCreated: 'session.created',
  sessionsRevoked: 'session.revoked',
  notificationCreated: 'notification.created',
} as const;

export type Topic = (typeof TOPIC)[keyof typeof TOPIC];

/** A resource as its events carry it: the fields conditions see, and who acted. */
export interface ResourceEventPayload {
  id: string;
  ownerId: string;
  name: string;
  type: string;
  createdAt: string;
  metadata: Record<string, unknown>;
  version: number;
  actorId: string;
  /** resource.restored: the version whose data was restored. */
  restoredFrom?: number;
  /** resource.shared / resource.unshared: the user the resource was shared with or taken from. */
  userId?: string;
  /** resource.shared: what that user may now do. */
  actions?: string[];
  /** resource.deleted: who held shares of it (the shares go with it, yet they may hear how it ended). */
  sharedWith?: string[];
}

/** user.role_assigned / user.role_unassigned */
export interface RoleAssignmentPayload {
  userId: string;
  roleId: string;
  roleName: string;
  actorId: string;
}

/** user.permission_granted / user.permission_revoked (direct permissions, not shares) */
export interface UserPermissionPayload {
  userId: string;
  permissionId: string;
  resourceType: string;
  action: string;
  actorId: string;
}

/** role.changed: a role's permissions or the role itself changed; its holders' access with it. */
export interface RoleChangedPayload {
  roleId: string;
  change: 'updated' | 'deleted' | 'permission_added' | 'permission_removed';
  actorId: string;
}

/** session.created: a successful login. */
export interface SessionCreatedPayload {
  userId: string;
  sessionId: string;
  ip: string | null;
  userAgent: string | null;
}

/**
 * session.revoked: sessions ended before their time (logout, a session revoked, a password or
 * email change, the user deleted). Every instance closes the sockets opened with them at once
 * (api/ws), rather than at its next periodic session check.
 */
export interface SessionsRevokedPayload {
  userId: string;
  sessionIds: string[];
  reason: 'logout' | 'revoked' | 'password_changed' | 'email_changed' | 'user_deleted';
}

/** What a user can be notified of; each can also be sent by email when the user opts in. */
export const NOTIFICATION_KINDS = [
  'resource.updated',
  'resource.restored',
  'resource.deleted',
  'resource.shared',
  'resource.unshared',
  'role.assigned',
  'role.unassigned',
  'permission.granted',
  'permission.revoked',
  'login.new',
] as const;

export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

/** A stored notification, as its user reads it and as `notification.created` carries it. */
export interface NotificationView {
  id: string;
  kind: NotificationKind;
  /** What it is about: ids, names, the actor's id and name; depends on the kind. */
  payload: Record<string, unknown>;
  read: boolean;
  readAt: string | null;
  createdAt: string;
}

/** notification.created: a stored notification, fanned out to its user's live subscribers. */
export interface NotificationCreatedPayload {
  userId: string;
  /** Its place among its user's notifications (commit order): what live subscribers have seen. */
  seq: number;
  notification: NotificationView;
}

/** Each topic's payload: an event with a misspelt topic or the wrong payload does not compile. */
export interface EventPayloads {
  [TOPIC.resourceCreated]: ResourceEventPayload;
  [TOPIC.resourceUpdated]: ResourceEventPayload;
  [TOPIC.resourceRestored]: ResourceEventPayload;
  [TOPIC.resourceDeleted]: ResourceEventPayload;
  [TOPIC.resourceShared]: ResourceEventPayload;
  [TOPIC.resourceUnshared]: ResourceEventPayload;
  [TOPIC.roleAssigned]: RoleAssignmentPayload;
  [TOPIC.roleUnassigned]: RoleAssignmentPayload;
  [TOPIC.permissionGranted]: UserPermissionPayload;
  [TOPIC.permissionRevoked]: UserPermissionPayload;
  [TOPIC.roleChanged]: RoleChangedPayload;
  [TOPIC.sessionCreated]: SessionCreatedPayload;
  [TOPIC.sessionsRevoked]: SessionsRevokedPayload;
  [TOPIC.notificationCreated]: NotificationCreatedPayload;
}

/** An event as a service writes it, with its change (DESIGN §4). */
export type DomainEvent = { [T in Topic]: { topic: T; payload: EventPayloads[T]; traceId?: string | undefined } }[Topic];

/**
 * What an event is about. A resource's events are written under its row lock, and
 * `notification.created` under its user's, so the outbox numbers them (seq) in commit order
 * per aggregate, which replays and subscribers rely on. The other events of a user or a role
 * carry no such promise, and nothing relies on their order.
 */
export function aggregateOf(event: DomainEvent): { type: 'resource' | 'user' | 'role'; id: string } {
  switch (event.topic) {
    case TOPIC.resourceCreated:
    case TOPIC.resourceUpdated:
    case TOPIC.resourceRestored:
    case TOPIC.resourceDeleted:
    case TOPIC.resourceShared:
    case TOPIC.resourceUnshared:
      return { type: 'resource', id: event.payload.id };
    case TOPIC.roleChanged:
      return { type: 'role', id: event.payload.roleId };
    default:
      return { type: 'user', id: event.payload.userId };
  }
}

export const isResourceTopic = (topic: string): boolean => topic.startsWith('resource.');

/** The topics of a resource's events (what a resource's live feed carries). */
export const RESOURCE_TOPICS = [
  TOPIC.resourceCreated,
  TOPIC.resourceUpdated,
  TOPIC.resourceRestored,
  TOPIC.resourceDeleted,
  TOPIC.resourceShared,
  TOPIC.resourceUnshared,
] as const;
