/**
 * The domain events services write to the outbox, with the change that caused them
 * (DESIGN §4), and that consumers read back from the queue. The topic says what happened;
 * the payload carries what a consumer needs without reading the database again: for a
 * resource, every field a permission condition may test, so each subscriber's access is
 * checked against the event itself.
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

export const isResourceTopic = (topic: string): boolean => topic.startsWith('resource.');
