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
  /** Closes the WebSocket; iterators still open end. The next subscription opens a new one. */
  close(): Promise<void>;
  /** The connection's state now (see `LiveState`). */
  readonly state: LiveState;
  /**
   * Calls `listener` with each new state (not the current one: read `state` for that).
   * Returns the function that stops it.
   */
  onStateChange(listener: (state: LiveState) => void): () => void;
}

/**
 * The WebSocket as an app would show it:
 * - `idle`: no socket, because no subscription is open (the socket opens with the first one);
 * - `connecting`: the first socket is being opened and acknowledged;
 * - `connected`: the server acknowledged the socket; subscriptions are delivered;
 * - `reconnecting`: the socket dropped (or a server restarts) while subscriptions are open;
 *   they retry with backoff and resume where they were, and the state returns to `connected`.
 */
export type LiveState = 'idle' | 'connecting' | 'connected' | 'reconnecting';

const DEFAULTS: ReconnectOptions = { minDelayMs: 250, maxDelayMs: 10_000, maxAttempts: Infinity };

/** The current state and who wants to hear of its changes. */
class StateTracker {
  current: LiveState = 'idle';
  readonly #listeners = new Set<(state: LiveState) => void>();

  set(next: LiveState): void {
    if (next === this.current) return;
    this.current = next;
    for (const listener of [...this.#listeners]) {
      try {
        listener(next);
      } catch (err) {
        // Thrown inside graphql-ws's event dispatch it would break the connection's bookkeeping:
        // report it as an uncaught error instead, after the others have heard.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  listen(listener: (state: LiveState) => void): () => void {
    // A wrapper, so one function registered twice is two listeners, each removed by its own call.
    const entry = (state: LiveState) => listener(state);
    this.#listeners.add(entry);
    return () => this.#listeners.delete(entry);
  }
}

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
    const open = new Set<LiveIterator<unknown>>();
    const state = new StateTracker();
    const connect = (): WsClient => {
      const ws = createWsClient({
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
      // A connect attempt after a drop is a reconnection until it is acknowledged.
      ws.on('connecting', () => state.set(state.current === 'reconnecting' ? 'reconnecting' : 'connecting'));
      ws.on('connected', () => state.set('connected'));
      // Open subscriptions will retry (or end, which `track` notices); with none the socket is done.
      ws.on('closed', () => {
        if (ws === client) state.set(open.size > 0 ? 'reconnecting' : 'idle');
      });
      return ws;
    };
    let client = connect();
    const track = <T>(iterator: LiveIterator<T>) => {
      open.add(iterator as LiveIterator<unknown>);
      iterator.finally(() => {
        open.delete(iterator as LiveIterator<unknown>);
        // The last subscription gave up (or was closed) while no socket was up: nothing retries.
        if (open.size === 0 && state.current === 'reconnecting') state.set('idle');
      });
      return iterator;
    };
    return {
      live: {
        get state() {
          return state.current;
        },
        onStateChange: (listener) => state.listen(listener),
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
          // The fresh connection first, and a snapshot of what is open: a consumer that
          // subscribes again as soon as its subscription ends gets the new connection, and is
          // not closed (and resubscribed, and closed…) by this same call, forever.
          const closing = client;
          client = connect();
          for (const iterator of [...open]) await iterator.return();
          // A disposed graphql-ws client no longer retries.
          await closing.dispose();
          // Unless a subscription made meanwhile is already on the new connection.
          if (open.size === 0) state.set('idle');
        },
      },
    };
  };
}
