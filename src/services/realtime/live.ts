import type { QueueEvent } from '../../infra/queue/port.js';
import { TOPIC, type RoleChangedPayload, type SessionsRevokedPayload } from '../events/catalog.js';
import { catalogEvent } from '../events/subscribe.js';

/**
 * What a feed yields besides events:
 * - `recheck`: the connection has just refreshed its caller and the grants changed: check access again;
 * - `revoked`: an event says the subscriber's grants may have shrunk (a role or a permission
 *   taken, or a role it may hold lost a permission): refresh the caller from the database, then
 *   check access again, before any later event. `at` is when it was dispatched
 *   (performance.now()), so one refresh started after it can serve every feed of a connection;
 *   `roleId`, when set, concerns only the holders of that role;
 * - `overflow`: the subscriber fell too far behind.
 */
export type FeedSignal = { signal: 'recheck' } | { signal: 'revoked'; at: number; roleId?: string } | { signal: 'overflow' };
export type FeedItem = QueueEvent | FeedSignal;

export const isSignal = (item: FeedItem): item is FeedSignal => 'signal' in item;

/**
 * One subscriber's queue of live events: pushed synchronously by the dispatcher, pulled by
 * the subscriber at its own pace. A subscriber that falls more than `capacity` items behind
 * (a stalled socket) gets an overflow signal and nothing more, so it never holds memory or
 * other subscribers back.
 */
export class Feed implements AsyncIterableIterator<FeedItem> {
  readonly #items: FeedItem[] = [];
  #waiting: ((result: IteratorResult<FeedItem>) => void) | undefined;
  #done = false;

  constructor(
    readonly capacity: number,
    readonly onClose: (feed: Feed) => void,
  ) {}

  push(item: FeedItem): void {
    if (this.#done) return;
    if (this.#waiting) {
      const resolve = this.#waiting;
      this.#waiting = undefined;
      resolve({ value: item, done: false });
      return;
    }
    if (this.#items.length >= this.capacity) {
      this.#items.length = 0;
      this.#items.push({ signal: 'overflow' });
      this.#done = true;
      this.onClose(this);
      return;
    }
    this.#items.push(item);
  }

  next(): Promise<IteratorResult<FeedItem>> {
    const item = this.#items.shift();
    if (item) return Promise.resolve({ value: item, done: false });
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.#waiting = resolve));
  }

  return(): Promise<IteratorResult<FeedItem>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  close(): void {
    if (this.#done && !this.#waiting) return;
    this.#done = true;
    this.#items.length = 0;
    this.onClose(this);
    const resolve = this.#waiting;
    this.#waiting = undefined;
    resolve?.({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** Ids of recently dispatched events: a redelivered one is dropped, not sent twice. */
const RECENT_EVENTS = 10_000;
const FEED_CAPACITY = 1_000;

/** role.changed: the changes after which a holder of the role may read less than before. */
const NARROWING_ROLE_CHANGES = new Set<RoleChangedPayload['change']>(['permission_removed', 'deleted']);

/**
 * This instance's live subscribers, by what they watch (a resource's events, or a user's new
 * notifications) and by who they are. Every instance receives every event (the queue's
 * broadcast) and hands each to its own watchers only; who may see it is decided by the
 * subscriber's side. Events that take access away reach the feeds of the users they concern
 * as `revoked` signals, in the order of the stream, so a subscriber re-checks its access
 * before it is handed any later event.
 */
export class LiveEvents {
  readonly #byResource = new Map<string, Set<Feed>>();
  readonly #byUser = new Map<string, Set<Feed>>();
  readonly #bySubscriber = new Map<string, Set<Feed>>();
  readonly #recent = new Set<string>();
  readonly #sessionListeners = new Set<(revoked: SessionsRevokedPayload) => void>();

  /**
   * Calls `listener` with every `session.revoked` event, whichever instance revoked the
   * sessions, before any later event reaches a feed: the connections opened with them close
   * before they could be handed what followed. Returns the unsubscribe.
   */
  onSessionsRevoked(listener: (revoked: SessionsRevokedPayload) => void): () => void {
    this.#sessionListeners.add(listener);
    return () => this.#sessionListeners.delete(listener);
  }

  /** Hands an event from the queue to the feeds watching it. */
  dispatch(queued: QueueEvent): void {
    const event = catalogEvent(queued);
    if (this.#recent.has(event.id)) return;
    this.#recent.add(event.id);
    if (this.#recent.size > RECENT_EVENTS) this.#recent.delete(this.#recent.values().next().value!);
    switch (event.topic) {
      case TOPIC.sessionsRevoked:
        for (const listener of this.#sessionListeners) listener(event.payload);
        return;
      case TOPIC.notificationCreated:
        this.#push(this.#byUser.get(event.payload.userId), event);
        return;
      case TOPIC.roleUnassigned:
      case TOPIC.permissionRevoked: {
        const userId = event.payload.userId;
        this.#push(this.#bySubscriber.get(userId), { signal: 'revoked', at: performance.now() });
        return;
      }
      case TOPIC.roleChanged: {
        const { roleId, change } = event.payload;
        if (!NARROWING_ROLE_CHANGES.has(change)) return;
        // Who holds the role is not in the event (it may be everyone): each feed's subscriber
        // knows its own roles, and only holders refresh.
        const signal: FeedSignal = { signal: 'revoked', at: performance.now(), roleId };
        for (const feeds of this.#bySubscriber.values()) this.#push(feeds, signal);
        return;
      }
      case TOPIC.resourceCreated:
      case TOPIC.resourceUpdated:
      case TOPIC.resourceRestored:
      case TOPIC.resourceDeleted:
      case TOPIC.resourceShared:
      case TOPIC.resourceUnshared:
        this.#push(this.#byResource.get(event.payload.id), event);
    }
  }

  /** A feed of the events of a resource, for a subscriber. */
  watchResource(resourceId: string, subscriberId: string): Feed {
    return this.#watch(this.#byResource, resourceId, subscriberId);
  }

  /** A feed of a user's new notifications. */
  watchUser(userId: string): Feed {
    return this.#watch(this.#byUser, userId, userId);
  }

  /** Live feeds on this instance (a gauge). */
  get size(): number {
    let n = 0;
    for (const feeds of this.#bySubscriber.values()) n += feeds.size;
    return n;
  }

  #push(feeds: Set<Feed> | undefined, item: FeedItem): void {
    if (feeds) for (const feed of feeds) feed.push(item);
  }

  #watch(index: Map<string, Set<Feed>>, key: string, subscriberId: string): Feed {
    const feed = new Feed(FEED_CAPACITY, (closed) => {
      remove(index, key, closed);
      remove(this.#bySubscriber, subscriberId, closed);
    });
    add(index, key, feed);
    add(this.#bySubscriber, subscriberId, feed);
    return feed;
  }
}

function add(index: Map<string, Set<Feed>>, key: string, feed: Feed): void {
  let feeds = index.get(key);
  if (!feeds) index.set(key, (feeds = new Set()));
  feeds.add(feed);
}

function remove(index: Map<string, Set<Feed>>, key: string, feed: Feed): void {
  const feeds = index.get(key);
  feeds?.delete(feed);
  if (feeds?.size === 0) index.delete(key);
}
