/**
 * Live subscriptions: `createClient({ url }).with(live())` gives `pcf.live.resource(id)` and
 * `pcf.live.notifications()`, async iterators over graphql-ws that reconnect and resume after
 * the last event seen, so a dropped connection or a restarted server loses nothing.
 *
 * The only module of the SDK that imports graphql-ws.
 */
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import type { ClientContext } from '../client.js';
import {
  NOTIFICATION_RECEIVED_DOCUMENT,
  RESOURCE_CHANGED_DOCUMENT,
  type NotificationReceivedPayload,
  type ResourceChangedPayload,
} from '../generated/graphql.js';
import { LiveIterator, type ReconnectOptions } from './iterator.js';

export type { NotificationReceivedPayload, ResourceChangedPayload, ResourceChangeKind } from '../generated/graphql.js';
export type { ReconnectOptions } from './iterator.js';

export interface LiveOptions extends Partial<ReconnectOptions> {
  /** The WebSocket URL; default: the client's URL with ws(s):// and /graphql. */
  url?: string;
}

export interface WatchOptions {
  /** Resume after this event (the last eventId you saw), replaying what came since. */
  after?: string;
  /** Ends the iteration (as `break` or `return()` does). */
  signal?: AbortSignal;
}

/** An open subscription: iterate it; `return()` (or `break`) closes it. */
export interface Subscription<T> extends AsyncIterableIterator<T> {
  return(): Promise<IteratorResult<T, undefined>>;
}

export interface Live {
  /**
   * Every change of a resource you may read, in order, from now (or after `after`). A RESYNC
   * event says what happened meanwhile cannot be replayed: read the resource again; the
   * iteration goes on. Ends after DELETED; throws PcfError NOT_FOUND when your access goes.
   */
  resource(id: string, options?: WatchOptions): Subscription<ResourceChangedPayload>;
  /**
   * Your new notifications as they are made. `{ resync: true }` says some could not be
   * replayed after a reconnect: refetch `pcf.notifications.list()`; the iteration goes on.
   */
  notifications(options?: WatchOptions): Subscription<NotificationReceivedPayload>;
  /** Closes the WebSocket; iterators still open end. */
  close(): Promise<void>;
}

const DEFAULTS: ReconnectOptions = { minDelayMs: 250, maxDelayMs: 10_000, maxAttempts: Infinity };

function wsUrlOf(url: string): string {
  return `${url.replace(/^http/, 'ws')}/graphql`;
}

/** The `live` extension: `createClient({ url }).with(live())`. */
export function live(options: LiveOptions = {}): (context: ClientContext) => { live: Live } {
  return (context) => {
    if (!context.WebSocket) throw new TypeError('live() needs a WebSocket: this platform has none, so pass createClient({ WebSocket })');
    const reconnect: ReconnectOptions = {
      minDelayMs: options.minDelayMs ?? DEFAULTS.minDelayMs,
      maxDelayMs: options.maxDelayMs ?? DEFAULTS.maxDelayMs,
      maxAttempts: options.maxAttempts ?? DEFAULTS.maxAttempts,
    };
    const client: WsClient = createWsClient({
      url: options.url ?? wsUrlOf(context.url),
      webSocketImpl: context.WebSocket,
      // Read at every connect, so a reconnect uses the token of whoever is signed in now.
      connectionParams: async () => {
        const token = await context.storage.get();
        return token ? { authorization: `Bearer ${token}` } : {};
      },
      lazy: true,
      lazyCloseTimeout: 0,
      // The iterators reconnect themselves: each must resubscribe with its own `after`,
      // where graphql-ws would repeat the first subscription's variables.
      retryAttempts: 0,
    });
    const open = new Set<LiveIterator<unknown>>();
    const track = <T>(iterator: LiveIterator<T>) => {
      open.add(iterator as LiveIterator<unknown>);
      iterator.finally(() => open.delete(iterator as LiveIterator<unknown>));
      return iterator;
    };
    return {
      live: {
        resource: (id, { after, signal } = {}) =>
          track(
            new LiveIterator<ResourceChangedPayload>(client, reconnect, signal, {
              query: RESOURCE_CHANGED_DOCUMENT,
              field: 'resourceChanged',
              variables: (cursor) => ({ id, after: cursor ?? null }),
              cursor: after,
              // RESYNC names the newest event still kept (or none): resume after it from now on.
              next: (event) => event.eventId,
            }),
          ),
        notifications: ({ after, signal } = {}) =>
          track(
            new LiveIterator<NotificationReceivedPayload>(client, reconnect, signal, {
              query: NOTIFICATION_RECEIVED_DOCUMENT,
              field: 'notificationReceived',
              variables: (cursor) => ({ after: cursor ?? null }),
              cursor: after,
              // After a resync the next notification sets the cursor again; until then a
              // reconnect starts from the present (the app refetches the list anyway).
              next: (delivery) => delivery.notification?.id ?? null,
            }),
          ),
        close: async () => {
          for (const iterator of open) await iterator.return();
          await client.dispose();
        },
      },
    };
  };
}
