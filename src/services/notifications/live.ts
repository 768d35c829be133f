import type { QueueEvent } from '../../infra/queue/port.js';
import { isResourceTopic, TOPIC } from '../events/catalog.js';
import type { NotificationCreatedPayload } from './notifications.service.js';

/** What a feed yields besides events: look again at your access, or you fell behind. */
export type FeedSignal = { signal: 'recheck' } | { signal: 'overflow' };
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

/**
 * This instance's live subscribers, by what they watch: a resource's events, or a user's new
 * notifications. Every instance receives every event (the queue's broadcast) and hands each
 * to its own watchers only; who may see it is decided by the subscriber's side.
 */
export class LiveEvents {
  readonly #byResource = new Map<string, Set<Feed>>();
  readonly #byUser = new Map<string, Set<Feed>>();
  readonly #recent = new Set<string>();

  /** Hands an event from the queue to the feeds watching it. */
  dispatch(event: QueueEvent): void {
    if (this.#recent.has(event.id)) return;
    this.#recent.add(event.id);
    if (this.#recent.size > RECENT_EVENTS) this.#recent.delete(this.#recent.values().next().value!);
    if (event.topic === TOPIC.notificationCreated) {
      const userId = (event.payload as NotificationCreatedPayload).userId;
      for (const feed of this.#byUser.get(userId) ?? []) feed.push(event);
    } else if (isResourceTopic(event.topic)) {
      const resourceId = (event.payload as { id?: string }).id;
      if (resourceId) for (const feed of this.#byResource.get(resourceId) ?? []) feed.push(event);
    }
  }

  watchResource(resourceId: string): Feed {
    return this.#watch(this.#byResource, resourceId);
  }

  watchUser(userId: string): Feed {
    return this.#watch(this.#byUser, userId);
  }

  /** Live feeds on this instance (a gauge). */
  get size(): number {
    let n = 0;
    for (const feeds of this.#byResource.values()) n += feeds.size;
    for (const feeds of this.#byUser.values()) n += feeds.size;
    return n;
  }

  #watch(index: Map<string, Set<Feed>>, key: string): Feed {
    const feed = new Feed(FEED_CAPACITY, (closed) => {
      const feeds = index.get(key);
      feeds?.delete(closed);
      if (feeds?.size === 0) index.delete(key);
    });
    let feeds = index.get(key);
    if (!feeds) index.set(key, (feeds = new Set()));
    feeds.add(feed);
    return feed;
  }
}
