import type { CallOptions } from './call-options.js';
import { paginated, type Paginated } from './pagination.js';
import { path, type Transport } from './transport.js';
import type { Notification, NotificationFilters, NotificationPreferences, Page } from './types.js';

/** Your notifications: /api/v1/notifications. */
export class Notifications {
  /** Which kinds are also sent to you by email. */
  readonly preferences: {
    get(options?: CallOptions): Promise<NotificationPreferences>;
    /** Replaces the list; an empty list sends none. */
    set(preferences: NotificationPreferences, options?: CallOptions): Promise<NotificationPreferences>;
  };

  constructor(private readonly transport: Transport) {
    this.preferences = {
      get: async (options = {}) =>
        (await transport.request<NotificationPreferences>({ method: 'GET', path: '/api/v1/notifications/preferences', signal: options.signal, retry: 'read' }))
          .body,
      set: async (preferences, options = {}) =>
        (
          await transport.request<NotificationPreferences>({
            method: 'PUT',
            path: '/api/v1/notifications/preferences',
            body: preferences,
            signal: options.signal,
            retry: 'read',
          })
        ).body,
    };
  }

  /** Newest first; `{ unread: true }` for the unread ones only. */
  list(filters: NotificationFilters = {}, options: CallOptions = {}): Paginated<Notification> {
    return paginated(
      async (cursor) =>
        (
          await this.transport.request<Page<Notification>>({
            method: 'GET',
            path: '/api/v1/notifications',
            query: { limit: 100, ...filters, cursor },
            signal: options.signal,
            retry: 'read',
          })
        ).body,
    );
  }

  async unreadCount(options: CallOptions = {}): Promise<number> {
    return (
      await this.transport.request<{ count: number }>({ method: 'GET', path: '/api/v1/notifications/unread-count', signal: options.signal, retry: 'read' })
    ).body.count;
  }

  /** Marks one read (idempotent). */
  async markRead(id: string, options: CallOptions = {}): Promise<Notification> {
    return (await this.transport.request<Notification>({ method: 'POST', path: path`/api/v1/notifications/${id}/read`, signal: options.signal, retry: 'read' }))
      .body;
  }

  /** Marks all read; answers how many were unread. */
  async markAllRead(options: CallOptions = {}): Promise<number> {
    return (await this.transport.request<{ marked: number }>({ method: 'POST', path: '/api/v1/notifications/read-all', signal: options.signal, retry: 'read' }))
      .body.marked;
  }
}
