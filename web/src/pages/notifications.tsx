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

interface Listing {
  items: Notification[];
  nextCursor: string | null;
}

export function NotificationsPage({ route }: PageProps) {
  const unreadOnly = route.query.get('filter') === 'unread';
  const [listing, setListing] = useState<Listing>();
  const items = listing?.items;
  const nextCursor = listing?.nextCursor ?? null;
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const list = useRef<HTMLUListElement>(null);
  /**
   * Bumped whenever the list starts over (another filter, "Mark all as read", a resync): an
   * answer asked for before belongs to another list and is dropped.
   */
  const generation = useRef(0);

  const listPage = (cursor?: string) => pcf.notifications.list({ limit: PAGE_SIZE, ...(unreadOnly ? { unread: true } : {}) }).page(cursor);

  /** The list from its first page, dropping whatever was shown. */
  const firstPage = useCallback(async () => {
    const asked = (generation.current += 1);
    try {
      const page = await pcf.notifications.list({ limit: PAGE_SIZE, ...(unreadOnly ? { unread: true } : {}) }).page();
      if (asked !== generation.current) return;
      setListing({ items: page.items, nextCursor: page.nextCursor });
      setError(undefined);
    } catch (err) {
      if (asked === generation.current) setError(err);
    }
  }, [unreadOnly]);

  /** New ones at the top; what is shown (older pages too) stays, each once. */
  const newOnTop = async () => {
    const asked = generation.current;
    try {
      const page = await listPage();
      if (asked !== generation.current) return;
      // The cursor held goes on after the oldest one shown: it stays.
      setListing((current) =>
        current
          ? { items: withoutRepeats([...page.items, ...current.items]), nextCursor: current.nextCursor }
          : { items: page.items, nextCursor: page.nextCursor },
      );
      setError(undefined);
    } catch (err) {
      if (asked === generation.current) setError(err);
    }
  };
  const onReceived = useRef(newOnTop);
  onReceived.current = newOnTop;

  useEffect(() => {
    setListing(undefined);
    setError(undefined);
    void firstPage();
    // New ones arrive at the top while the page is open (the bell holds the subscription); after
    // a resync (some may have been missed) the list is read again from the start.
    const off = onInboxChange((change) => {
      if (change === 'received') void onReceived.current();
      else if (change === 'resync') void firstPage();
    });
    return () => {
      off();
      // Answers still on their way are for a list no longer shown.
      generation.current += 1;
    };
  }, [firstPage]);

  const more = async () => {
    if (!nextCursor) return;
    const asked = generation.current;
    setBusy(true);
    try {
      const count = items?.length ?? 0;
      const page = await listPage(nextCursor);
      if (asked !== generation.current) return;
      setListing((current) => ({ items: withoutRepeats([...(current?.items ?? []), ...page.items]), nextCursor: page.nextCursor }));
      // The first new item takes the focus: the button the person pressed may be gone.
      requestAnimationFrame(() => list.current?.querySelectorAll<HTMLElement>('li')[count]?.focus());
    } catch (err) {
      if (asked === generation.current) setError(err);
    } finally {
      setBusy(false);
    }
  };

  const markRead = async (notification: Notification) => {
    const asked = generation.current;
    try {
      const updated = await pcf.notifications.markRead(notification.id);
      announceInbox('read');
      if (asked !== generation.current) return;
      setListing(
        (current) =>
          current && {
            ...current,
            items: unreadOnly ? current.items.filter((n) => n.id !== updated.id) : current.items.map((n) => (n.id === updated.id ? updated : n)),
          },
      );
    } catch (err) {
      if (asked === generation.current) setError(err);
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

/** Each notification once, where it first appears (a live one may also come on a later page). */
export function withoutRepeats(items: readonly Notification[]): Notification[] {
  const seen = new Set<string>();
  return items.filter((n) => !seen.has(n.id) && (seen.add(n.id), true));
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
