import { Type, type TSchema } from '@sinclair/typebox';
import { NOTIFICATION_KINDS, type NotificationsService } from '../../services/notifications/index.js';
import type { App } from '../app.js';
import { serviceContext } from '../service-context.js';
import { bearer, problems } from './auth.js';
import { IdParams, ref } from './identity-schemas.js';
import { serviceChecks } from '../openapi-contract.js';

const Id = Type.String({ format: 'uuid' });
const Timestamp = Type.String({ format: 'date-time' });
const Kind = Type.Union(
  NOTIFICATION_KINDS.map((k) => Type.Literal(k)),
  { description: 'What happened: a change to a resource of yours or shared with you, your roles or direct permissions, or a new login' },
);
const KIND_LIST = NOTIFICATION_KINDS.join(', ');

export const NotificationSchema = Type.Object(
  {
    id: Id,
    kind: Kind,
    payload: Type.Record(Type.String(), Type.Unknown(), {
      description:
        'What it is about; depends on the kind: resource kinds carry resourceId, resourceName, resourceType, version (and restoredFrom, userId, actions where they apply); role kinds roleId and roleName; permission kinds permissionId, resourceType and action; login.new sessionId, ip and userAgent. Who acted is actorId with actorName.',
    }),
    read: Type.Boolean({ description: 'Whether it was marked read' }),
    readAt: Type.Union([Timestamp, Type.Null()], { description: 'When it was first marked read; null while unread' }),
    createdAt: Timestamp,
  },
  { $id: 'Notification', title: 'Notification', additionalProperties: false },
);

export const NotificationPreferencesSchema = Type.Object(
  { email: Type.Array(Kind, { description: 'The kinds also sent to you by email' }) },
  { $id: 'NotificationPreferences', title: 'NotificationPreferences', additionalProperties: false },
);

export const NOTIFICATION_SCHEMAS: TSchema[] = [NotificationSchema, NotificationPreferencesSchema];

/** The caller's notifications under /api/v1/notifications (DESIGN §5 "Notifications"). */
export function registerNotificationRoutes(api: App, notifications: NotificationsService): void {
  api.get(
    '/notifications',
    {
      schema: {
        tags: ['notifications'],
        operationId: 'listNotifications',
        summary: 'Your notifications, newest first, a page at a time',
        description:
          'Made from events about your resources, shares, roles, permissions and logins, within about a second of the change; kept for the configured retention.',
        security: bearer,
        querystring: Type.Object(
          {
            unread: Type.Optional(Type.Boolean({ default: false, description: 'Only the ones not yet marked read' })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
            cursor: Type.Optional(Type.String({ maxLength: 64 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(ref('Notification')),
            nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as `cursor` for the next page; null on the last page' }),
          }),
          ...problems(400, 401),
        },
      },
    },
    async (request) => notifications.list(serviceContext(request), request.query),
  );

  // Static paths are registered before the `/:id` routes; find-my-way prefers them anyway,
  // but reading the routes in this order says so.
  api.get(
    '/notifications/unread-count',
    {
      schema: {
        tags: ['notifications'],
        operationId: 'countUnreadNotifications',
        summary: 'How many of your notifications are unread',
        security: bearer,
        response: { 200: Type.Object({ count: Type.Integer({ minimum: 0 }) }), ...problems(401) },
      },
    },
    async (request) => ({ count: await notifications.unreadCount(serviceContext(request)) }),
  );

  api.post(
    '/notifications/read-all',
    {
      schema: {
        tags: ['notifications'],
        operationId: 'markAllNotificationsRead',
        summary: 'Mark all your unread notifications read',
        security: bearer,
        response: { 200: Type.Object({ marked: Type.Integer({ minimum: 0, description: 'How many were unread and are now read' }) }), ...problems(401) },
      },
    },
    async (request) => ({ marked: await notifications.markAllRead(serviceContext(request)) }),
  );

  api.get(
    '/notifications/preferences',
    {
      schema: {
        tags: ['notifications'],
        operationId: 'getNotificationPreferences',
        summary: 'Which kinds of notification are also sent to you by email',
        security: bearer,
        response: { 200: ref('NotificationPreferences'), ...problems(401) },
      },
    },
    async (request) => notifications.preferences(serviceContext(request)),
  );

  api.put(
    '/notifications/preferences',
    {
      schema: {
        tags: ['notifications'],
        operationId: 'setNotificationPreferences',
        summary: 'Choose which kinds of notification are also sent to you by email',
        description: `Replaces the list; an empty list sends none. Kinds: ${KIND_LIST}. An unknown kind is 400 with an error on \`email\`.`,
        security: bearer,
        body: Type.Object(
          {
            email: Type.Array(Type.String({ maxLength: 64, ...serviceChecks({ enum: [...NOTIFICATION_KINDS] }) }), {
              maxItems: NOTIFICATION_KINDS.length * 2,
              description: `Notification kinds, among: ${KIND_LIST}`,
            }),
          },
          { additionalProperties: false },
        ),
        response: { 200: ref('NotificationPreferences'), ...problems(400, 401) },
      },
    },
    async (request) => notifications.setPreferences(serviceContext(request), request.body),
  );

  api.post(
    '/notifications/:id/read',
    {
      schema: {
        tags: ['notifications'],
        operationId: 'markNotificationRead',
        summary: 'Mark one of your notifications read (idempotent)',
        description: 'Someone else’s notification, or an unknown id, is 404.',
        security: bearer,
        params: IdParams,
        response: { 200: ref('Notification'), ...problems(401, 404) },
      },
    },
    async (request) => notifications.markRead(serviceContext(request), request.params.id),
  );
}
