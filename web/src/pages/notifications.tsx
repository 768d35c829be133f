import type { Notification } from '@pcf/sdk';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import type { PageProps } from '../app.js';
import { pcf } from '../client.js';
import { describeNotification } from '../live/describe.js';
import { announceInbox, onInboxChange } from '../live/inbox.js';
import { href } from '../router.js';
import { formatDateTime } from './auth/format.js';
import { Empty, ErrorMessage, Loading } from '../ui/feedback.js';
import { Page } from '../ui/page.js';
import './notifications.css';

const PAGE_SIZE = 20;

export function NotificationsPage({ route }: PageProps) {
  const unreadOnly = route.query.get('filter') === 'unread';
  const [items, setItems] = useState<Notification[] | undefined>();
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const list = useRef<HTMLUListElement>(null);

  const firstPage = useCallback(async () => {
    try {
      const page = await pcf.notifications.list({ limit: PAGE_SIZE, ...(unreadOnly ? { unread: true } : {}) }).page();
      setItems(page.items);
      setNextCursor(page.nextCursor);
      setError(undefined);
    } catch (err) {
      setError(err);
    }
  }, [unreadOnly]);

  useEffect(() => {
    setItems(undefined);
    void firstPage();
    // New ones arrive at the top while the page is open (the bell holds the subscription).
    return onInboxChange((change) => {
      if (change !== 'read') void firstPage();
    });
  }, [firstPage]);

  const more = async () => {
    if (!nextCursor) return;
    setBusy(true);
    try {
      const count = items?.length ?? 0;
      const page = await pcf.notifications.list({ limit: PAGE_SIZE, ...(unreadOnly ? { unread: true } : {}) }).page(nextCursor);
      setItems((current) => [...(current ?? []), ...page.items]);
      setNextCursor(page.nextCursor);
      // The first new item takes the focus: the button the person pressed may be gone.
      requestAnimationFrame(() => list.current?.querySelectorAll<HTMLElement>('li')[count]?.focus());
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const markRead = async (notification: Notification) => {
    try {
      const updated = await pcf.notifications.markRead(notification.id);
      setItems((current) => (unreadOnly ? current?.filter((n) => n.id !== updated.id) : current?.map((n) => (n.id === updated.id ? updated : n))));
      announceInbox('read');
    } catch (err) {
      setError(err);
    }
  };

  const markAll = async () => {
    setBusy(true);
    try {
      await pcf.notifications.markAllRead();
      announceInbox('read');
      await firstPage();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const anyUnread = items?.some((n) => !n.read);
  return (
    <Page
      title="Notifications"
      actions={
        <button type="button" onClick={markAll} disabled={busy || !anyUnread}>
          Mark all as read
        </button>
      }
    >
      <nav class="tabs" aria-label="Which notifications">
        <a href={href('/notifications')} aria-current={unreadOnly ? undefined : 'page'}>
          All
        </a>
        <a href={href('/notifications', { filter: 'unread' })} aria-current={unreadOnly ? 'page' : undefined}>
          Unread
        </a>
      </nav>
      {error !== undefined && <ErrorMessage error={error} />}
      {items === undefined ? (
        error === undefined && <Loading label="Loading notifications…" />
      ) : items.length === 0 ? (
        <Empty>
          {unreadOnly ? 'Nothing unread. You are up to date.' : 'No notifications yet. When someone shares a document with you, you will see it here.'}
        </Empty>
      ) : (
        <ul class="notifications" ref={list} aria-label="Notifications">
          {items.map((notification) => (
            <NotificationItem key={notification.id} notification={notification} onRead={markRead} />
          ))}
        </ul>
      )}
      {nextCursor && items && (
        <div class="row">
          <button type="button" onClick={more} disabled={busy}>
            Show more
          </button>
        </div>
      )}
    </Page>
  );
}

function NotificationItem({ notification, onRead }: { notification: Notification; onRead: (n: Notification) => Promise<void> }) {
  const { text, route } = describeNotification(notification);
  return (
    <li class={notification.read ? 'notification' : 'notification unread'} tabIndex={-1}>
      {!notification.read && <span class="unread-mark">Unread</span>}
      <span class="notification-text">
        {route ? (
          <a href={href(route)} onClick={() => !notification.read && void onRead(notification)}>
            {text}
          </a>
        ) : (
          text
        )}
      </span>
      <time class="notification-time" dateTime={notification.createdAt}>
        {formatDateTime(notification.createdAt)}
      </time>
      {!notification.read && (
        <button type="button" class="link" onClick={() => onRead(notification)} aria-label={`Mark read: ${text}`}>
          Mark read
        </button>
      )}
    </li>
  );
}
