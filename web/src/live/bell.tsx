import { isPcfError } from '@pcf/sdk';
import { useEffect, useState } from 'preact/hooks';
import { pcf } from '../client.js';
import { href } from '../router.js';
import { useSession } from '../session.js';
import { followLive } from './follow.js';
import { announceInbox, onInboxChange } from './inbox.js';
import './live.css';

/**
 * The bell in the top bar: the unread count, kept current by the live notifications
 * subscription (a new one, or a resync after a reconnect, reads the count again). A subscription
 * that ends is opened again (after a growing wait if it failed), unless the session is over.
 */
export function NotificationBell() {
  const session = useSession();
  const [count, setCount] = useState<number | undefined>();

  useEffect(() => {
    let stopped = false;
    const recount = async () => {
      try {
        const unread = await pcf.notifications.unreadCount();
        if (!stopped) setCount(unread);
      } catch {
        // The bell is a hint: a failed count leaves the last one; the page shows errors.
      }
    };
    void recount();
    const offInbox = onInboxChange((change) => {
      if (change === 'read') void recount();
    });

    const controller = new AbortController();
    void followLive({
      subscribe: () => pcf.live.notifications(),
      onEvent: async (delivery) => {
        // Counted again rather than incremented: a notification made while the first count
        // was on its way would otherwise be counted twice, or not at all.
        await recount();
        announceInbox(delivery.resync ? 'resync' : 'received');
      },
      // A new subscription after one ended (a new sign-in, or an error it would not retry):
      // what arrived in between was not delivered, so the count and any open list are read again.
      onRestart: async () => {
        await recount();
        announceInbox('resync');
      },
      isFatal: (error) => isPcfError(error) && error.code === 'UNAUTHORIZED',
      // Refused (the session ended): asking for the account lets the 401 end it everywhere.
      onFatal: () => void session.refresh(),
      signal: controller.signal,
    });
    return () => {
      stopped = true;
      offInbox();
      controller.abort();
    };
  }, []);

  const label = count === undefined ? 'Notifications' : count === 0 ? 'Notifications, none unread' : `Notifications, ${count} unread`;
  return (
    <a class="bell" href={href('/notifications')} aria-label={label} title={label}>
      <svg class="bell-icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
        <path d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1l-2-2Z" />
      </svg>
      {!!count && (
        <span class="badge" data-testid="unread-count" aria-hidden="true">
          {count > 99 ? '99+' : count}
        </span>
      )}
    </a>
  );
}
