import type { Notification } from '@pcf/sdk';
import { describeUserAgent } from '../pages/auth/format.js';

/** What a notification says, and the console route it is about (if any). No DOM: unit-tested. */
export interface Described {
  text: string;
  route?: string;
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

export function describeNotification(notification: Pick<Notification, 'kind' | 'payload'>): Described {
  const p = notification.payload;
  const actor = text(p.actorName) ?? 'Someone';
  const name = text(p.resourceName) ? `“${text(p.resourceName)}”` : 'a document';
  const resourceRoute = text(p.resourceId) ? `/resources/${encodeURIComponent(text(p.resourceId)!)}` : undefined;
  const actions = Array.isArray(p.actions) ? (p.actions as unknown[]).filter((a): a is string => typeof a === 'string') : [];
  switch (notification.kind) {
    case 'resource.shared':
      return { text: `${actor} shared ${name} with you${actions.length ? ` (${actions.join(', ')})` : ''}`, route: resourceRoute };
    case 'resource.unshared':
      return { text: `${actor} stopped sharing ${name} with you` };
    case 'resource.updated':
      return { text: `${actor} updated ${name}`, route: resourceRoute };
    case 'resource.restored':
      return {
        text: `${actor} restored ${name}${typeof p.restoredFrom === 'number' ? ` to version ${p.restoredFrom}` : ''}`,
        route: resourceRoute,
      };
    case 'resource.deleted':
      return { text: `${actor} deleted ${name}` };
    case 'role.assigned':
      return { text: `${actor} gave you the role ${text(p.roleName) ?? '(unnamed)'}`, route: '/account' };
    case 'role.unassigned':
      return { text: `${actor} took away your role ${text(p.roleName) ?? '(unnamed)'}`, route: '/account' };
    case 'permission.granted':
      return { text: `${actor} allowed you to ${text(p.action) ?? 'act on'} ${text(p.resourceType) ?? 'resources'}`, route: '/account' };
    case 'permission.revoked':
      return { text: `${actor} no longer allows you to ${text(p.action) ?? 'act on'} ${text(p.resourceType) ?? 'resources'}`, route: '/account' };
    case 'login.new': {
      const where = [describeUserAgent(text(p.userAgent) ?? null), text(p.ip)].filter(Boolean).join(', ');
      return { text: `New sign-in to your account: ${where}`, route: '/account/sessions' };
    }
    default:
      return { text: `Notification: ${String(notification.kind)}` };
  }
}
