import type { QueueEvent } from '../../infra/queue/port.js';
import { NOTIFICATION_KINDS, TOPIC, type NotificationKind } from '../events/catalog.js';
import { catalogEvent } from '../events/subscribe.js';

export { NOTIFICATION_KINDS, type NotificationKind };

export const isNotificationKind = (value: unknown): value is NotificationKind => NOTIFICATION_KINDS.includes(value as NotificationKind);

/** One notification an event gives rise to. `actorId` is resolved to a name when stored. */
export interface Recipient {
  userId: string;
  kind: NotificationKind;
  payload: { actorId?: string } & Record<string, unknown>;
}

const RESOURCE_KINDS: Partial<Record<string, NotificationKind>> = {
  [TOPIC.resourceUpdated]: 'resource.updated',
  [TOPIC.resourceRestored]: 'resource.restored',
  [TOPIC.resourceDeleted]: 'resource.deleted',
  [TOPIC.resourceShared]: 'resource.shared',
  [TOPIC.resourceUnshared]: 'resource.unshared',
};

/**
 * Who is told of an event. An owner hears of changes, shares, unshares and deletions of its
 * resource made by someone else; a user hears that something was shared with it or taken from it,
 * of its roles and direct permissions changing (by someone else), and of every new login
 * to its account, its own included (a login it did not make is the one that matters).
 */
export function recipientsOf(queued: QueueEvent): Recipient[] {
  const event = catalogEvent(queued);
  switch (event.topic) {
    case TOPIC.resourceUpdated:
    case TOPIC.resourceRestored:
    case TOPIC.resourceDeleted:
    case TOPIC.resourceShared:
    case TOPIC.resourceUnshared: {
      const p = event.payload;
      const about = { resourceId: p.id, resourceName: p.name, resourceType: p.type, version: p.version, actorId: p.actorId };
      const told: Recipient[] = [];
      const ownerKind = RESOURCE_KINDS[event.topic];
      if (ownerKind && p.actorId !== p.ownerId) {
        told.push({
          userId: p.ownerId,
          kind: ownerKind,
          payload: { ...about, ...(p.restoredFrom !== undefined ? { restoredFrom: p.restoredFrom } : {}), ...(p.userId ? { userId: p.userId } : {}) },
        });
      }
      if (p.userId && p.userId !== p.actorId && p.userId !== p.ownerId) {
        const shared = event.topic === TOPIC.resourceShared;
        told.push({
          userId: p.userId,
          kind: shared ? 'resource.shared' : 'resource.unshared',
          payload: { ...about, ...(shared ? { actions: p.actions ?? [] } : {}), userId: p.userId },
        });
      }
      return told;
    }
    case TOPIC.roleAssigned:
    case TOPIC.roleUnassigned: {
      const p = event.payload;
      if (p.userId === p.actorId) return [];
      const kind = event.topic === TOPIC.roleAssigned ? 'role.assigned' : 'role.unassigned';
      return [{ userId: p.userId, kind, payload: { roleId: p.roleId, roleName: p.roleName, actorId: p.actorId } }];
    }
    case TOPIC.permissionGranted:
    case TOPIC.permissionRevoked: {
      const p = event.payload;
      if (p.userId === p.actorId) return [];
      const kind = event.topic === TOPIC.permissionGranted ? 'permission.granted' : 'permission.revoked';
      return [{ userId: p.userId, kind, payload: { permissionId: p.permissionId, resourceType: p.resourceType, action: p.action, actorId: p.actorId } }];
    }
    case TOPIC.sessionCreated: {
      const p = event.payload;
      return [{ userId: p.userId, kind: 'login.new', payload: { sessionId: p.sessionId, ip: p.ip, userAgent: p.userAgent } }];
    }
    default:
      return [];
  }
}

/** The subject and text of a notification's email to `recipientId`. */
export function describe(kind: NotificationKind, payload: Record<string, unknown>, recipientId: string): { subject: string; text: string } {
  const who = typeof payload.actorName === 'string' ? payload.actorName : 'Someone';
  // Shares are told to the user concerned and to the owner, when someone else made them.
  const toSharee = payload.userId === recipientId;
  const resource = `"${String(payload.resourceName ?? '')}" (${String(payload.resourceType ?? '')})`;
  switch (kind) {
    case 'resource.updated':
      return { subject: `${who} changed ${resource}`, text: `${who} changed your resource ${resource}; it is now at version ${String(payload.version)}.` };
    case 'resource.restored':
      return { subject: `${who} restored ${resource}`, text: `${who} restored version ${String(payload.restoredFrom)} of your resource ${resource}.` };
    case 'resource.deleted':
      return { subject: `${who} deleted ${resource}`, text: `${who} deleted your resource ${resource}.` };
    case 'resource.shared':
      return toSharee
        ? {
            subject: `${who} shared ${resource} with you`,
            text: `${who} shared the resource ${resource} with you (${(payload.actions as string[]).join(', ')}).`,
          }
        : { subject: `${who} shared ${resource}`, text: `${who} shared your resource ${resource} with another user.` };
    case 'resource.unshared':
      return toSharee
        ? { subject: `${resource} is no longer shared with you`, text: `${who} stopped sharing the resource ${resource} with you.` }
        : { subject: `${who} stopped sharing ${resource}`, text: `${who} stopped sharing your resource ${resource} with another user.` };
    case 'role.assigned':
      return { subject: `You now have the role ${String(payload.roleName)}`, text: `${who} gave you the role "${String(payload.roleName)}".` };
    case 'role.unassigned':
      return { subject: `You no longer have the role ${String(payload.roleName)}`, text: `${who} took the role "${String(payload.roleName)}" from you.` };
    case 'permission.granted':
      return { subject: 'You were given a permission', text: `${who} allowed you to ${String(payload.action)} ${String(payload.resourceType)}.` };
    case 'permission.revoked':
      return {
        subject: 'A permission was taken from you',
        text: `${who} revoked your permission to ${String(payload.action)} ${String(payload.resourceType)}.`,
      };
    case 'login.new':
      return {
        subject: 'New sign-in to your account',
        text: `Your account was signed in to from ${String(payload.ip ?? 'an unknown address')} (${String(payload.userAgent ?? 'unknown client')}). If this was not you, change your password and end your other sessions.`,
      };
  }
}
