import { appError, isAppError } from '../../core/errors.js';
import { canonicalId } from '../../core/ids.js';
import type { Database } from '../../infra/database/index.js';
import { createLogger } from '../../infra/telemetry/logger.js';
import type { QueueEvent } from '../../infra/queue/port.js';
import { can, type SubjectRecord } from '../access/index.js';
import type { Principal } from '../auth/principals.js';
import type { ServiceContext } from '../context.js';
import { RESOURCE_TOPICS, TOPIC, type NotificationView } from '../events/catalog.js';
import { isOneOf } from '../events/subscribe.js';
import type { ResourcesService } from '../resources/index.js';
import { isSignal, type Feed, type FeedSignal, type LiveEvents } from './live.js';
import type { NotificationsService } from '../notifications/notifications.service.js';

export type ResourceChangeKind = 'CREATED' | 'UPDATED' | 'RESTORED' | 'DELETED' | 'SHARED' | 'UNSHARED' | 'RESYNC';

/** One event of a resource, as its subscribers receive it. */
export interface ResourceChange {
  /**
   * The event's id: pass the last one received as `after` when resubscribing. With RESYNC,
   * the newest event of the resource still kept (null when none is): resubscribe after it.
   */
  eventId: string | null;
  /** RESYNC: what happened since `after` cannot be replayed; read the resource again. */
  kind: ResourceChangeKind;
  resourceId: string;
  version: number | null;
  actorId: string | null;
  restoredFrom: number | null;
  at: string;
}

/** One delivery of notificationReceived: a notification, or the word to refetch the list. */
export interface NotificationDelivery {
  resync: boolean;
  notification: NotificationView | null;
}

/** The live feeds of one connection, so it can ask them to re-check access. */
export type FeedGroup = Set<Feed>;

/**
 * How fresh the subscriber's grants must be: as last checked (no argument), read from the
 * database now (`{}`), or by a lookup started after a `revoked` signal dispatched at `after`
 * (performance.now()), which the feeds of one connection may share.
 */
export interface Refresh {
  after?: number;
}

/** The subscriber, signed in (else UNAUTHORIZED). */
export type Caller = (refresh?: Refresh) => Promise<Principal>;

export interface SubscriptionsDeps {
  database: Database;
  live: LiveEvents;
  resources: ResourcesService;
  notifications: NotificationsService;
  /** Most events replayed to a reconnecting subscriber; beyond, it is told to resync. */
  replayLimit: number;
}

/** The access checks of a subscription read the resource as its subscriber; they log nothing and belong to no request. */
const UNLOGGED = createLogger({ level: 'silent' });
const readerContext = (principal: Principal): ServiceContext => ({ principal, traceId: undefined, log: UNLOGGED });

/** The time a UUIDv7 was made (its first 48 bits: milliseconds since the epoch). */
const timeOf = (id: string): string => new Date(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toISOString();

/**
 * What subscribers receive of an event: one frozen object for all of them, so that a result
 * that depends on it alone is computed once (api/ws/shared-execution.ts).
 */
const delivered = new WeakMap<QueueEvent, ResourceChange | NotificationDelivery>();

function change(event: QueueEvent): ResourceChange {
  let made = delivered.get(event) as ResourceChange | undefined;
  if (!made) {
    if (!isOneOf(event, RESOURCE_TOPICS)) throw new Error(`not a resource event: ${event.topic}`);
    const p = event.payload;
    const kind = event.topic.slice('resource.'.length).toUpperCase() as ResourceChangeKind;
    made = Object.freeze({
      eventId: event.id,
      kind,
      resourceId: p.id,
      version: p.version ?? null,
      actorId: p.actorId ?? null,
      restoredFrom: p.restoredFrom ?? null,
      at: timeOf(event.id),
    });
    delivered.set(event, made);
  }
  return made;
}

function notificationOf(event: QueueEvent): NotificationDelivery {
  let made = delivered.get(event) as NotificationDelivery | undefined;
  if (!made) {
    if (!isOneOf(event, [TOPIC.notificationCreated])) throw new Error(`not a notification event: ${event.topic}`);
    made = Object.freeze({ resync: false, notification: event.payload.notification });
    delivered.set(event, made);
  }
  return made;
}

const resync = (resourceId: string, newest: string | null): ResourceChange => ({
  eventId: newest,
  kind: 'RESYNC',
  resourceId,
  version: null,
  actorId: null,
  restoredFrom: null,
  at: new Date().toISOString(),
});

/**
 * A subscription's events, whose return() takes effect while it waits for its next live
 * event: a generator's own return() waits for its next yield, which for a quiet resource may
 * never come, keeping the subscription (and its socket's slot) alive after the client left.
 * `end` closes the feed the generator waits on, so it finishes at once.
 */
class SubscriptionStream<T> implements AsyncIterableIterator<T> {
  constructor(
    readonly events: AsyncGenerator<T>,
    readonly end: () => void,
  ) {}

  next(): Promise<IteratorResult<T>> {
    return this.events.next();
  }

  return(value?: unknown): Promise<IteratorResult<T>> {
    this.end();
    return this.events.return(value);
  }

  throw(err?: unknown): Promise<IteratorResult<T>> {
    this.end();
    return this.events.throw(err);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** Access to a watched record went: the subscription ends with the answer a read would get. */
const accessGone = () => appError('NOT_FOUND', 'No such resource (or no longer readable).');

const isDenial = (err: unknown) => isAppError(err) && (err.code === 'NOT_FOUND' || err.code === 'FORBIDDEN');

/** What a resubscribing caller missed: the events after `since` (the seq of its last one), oldest first. */
interface Missed {
  since: number;
  events: QueueEvent[];
}

/**
 * Whether a `revoked` signal concerns the subscriber: a role's narrowing only its holders
 * (as last checked: one who got the role since never had the role's permissions here either).
 */
async function concerns(signal: FeedSignal, caller: Caller): Promise<boolean> {
  if (signal.signal !== 'revoked' || signal.roleId === undefined) return true;
  const roleId = signal.roleId;
  return (await caller()).roles.some((role) => role.id === roleId);
}

export class LiveSubscriptions {
  readonly #d: SubscriptionsDeps;

  constructor(deps: SubscriptionsDeps) {
    this.#d = deps;
  }

  /**
   * A resource's changes, for a caller that may read it (else NOT_FOUND, before anything
   * starts), from the first change committed after it subscribed. Each event is checked
   * against the caller's access and the resource as the event left it; an event it may not
   * read, or a re-check that finds the access gone (its grants changed, or an event took a
   * role or permission from it), ends the subscription with NOT_FOUND. A deletion is
   * delivered, then the subscription completes. With `after`, the events since are replayed
   * first (those the caller may not read now skipped), or RESYNC is sent; a resource deleted
   * meanwhile replays up to its deletion.
   *
   * Nothing is registered until the subscriber asks for its first event, so a subscription
   * given up before it starts holds nothing.
   */
  async resourceChanges(caller: Caller, rawId: string, rawAfter: string | undefined, group: FeedGroup): Promise<AsyncIterableIterator<ResourceChange>> {
    const principal = await caller();
    const subscriberId = principal.user.id;
    const after = rawAfter === undefined ? undefined : (canonicalId(rawAfter) ?? '');
    const id = canonicalId(rawId) ?? '';
    const readable = async (event: QueueEvent) => {
      if (!isOneOf(event, RESOURCE_TOPICS)) return false;
      const p = event.payload;
      // Its shares are deleted with it: a holder may still hear how it ended.
      if (event.topic === TOPIC.resourceDeleted && p.sharedWith?.includes(subscriberId)) return true;
      // A share taken from the subscriber: its grants changed this very moment.
      const principal = await caller(event.topic === TOPIC.resourceUnshared && p.userId === subscriberId ? {} : undefined);
      return can(principal.ability, 'read', 'resource', p as unknown as SubjectRecord);
    };
    let deletedSince: Missed | undefined;
    try {
      await this.#d.resources.get(readerContext(principal), rawId);
    } catch (err) {
      // Gone since the subscriber last heard of it: it may still learn how it ended.
      if (!isDenial(err) || after === undefined || !id) throw err;
      const missed = await this.#missedEvents(id, after);
      const last = missed?.events.at(-1);
      if (last?.topic !== TOPIC.resourceDeleted || !(await readable(last))) throw err;
      deletedSince = missed;
    }
    const { live, resources } = this.#d;
    const missedEvents = (since: string) => this.#missedEvents(id, since);
    const deletionOf = () => this.#deletionOf(id);
    const newestEvent = () => this.#newestEvent(id);

    let feed: Feed | undefined;
    async function* changes(): AsyncGenerator<ResourceChange> {
      feed = deletedSince ? undefined : live.watchResource(id, subscriberId);
      if (feed) group.add(feed);
      try {
        // Watching started before the subscriber's position is read, so nothing falls
        // between the two; what the feed then brings at or before that position (events
        // still on their way when it subscribed) it has already, or reads with the resource.
        const replay = deletedSince ?? (after === undefined ? undefined : await missedEvents(after));
        let through: number;
        if (replay) {
          through = replay.since;
          for (const event of replay.events) {
            through = event.seq;
            if (!(await readable(event))) continue;
            yield change(event);
            if (event.topic === TOPIC.resourceDeleted) return;
          }
        } else {
          const newest = await newestEvent();
          through = newest?.seq ?? 0;
          // Deleted since its access was checked: the deletion is already behind the position.
          if (newest?.topic === TOPIC.resourceDeleted) {
            if (!(await readable(newest))) throw accessGone();
            yield change(newest);
            return;
          }
          if (after !== undefined) yield resync(id, newest?.id ?? null);
        }
        if (!feed) return;
        for await (const item of feed) {
          if (isSignal(item)) {
            if (item.signal === 'overflow') {
              yield resync(id, (await newestEvent())?.id ?? null);
              return;
            }
            if (!(await concerns(item, caller))) continue;
            // 'recheck': the connection has just refreshed its caller; 'revoked': refresh it now.
            if (item.signal === 'revoked') await caller({ after: item.at });
            try {
              await resources.get(readerContext(await caller()), id);
            } catch (err) {
              // Only a refusal means the access went; a database hiccup does not. A resource
              // deleted a moment ago (its deletion still on its way here) ends with DELETED.
              if (!isDenial(err)) continue;
              const deleted = await deletionOf();
              if (deleted && (await readable(deleted))) {
                yield change(deleted);
                return;
              }
              throw accessGone();
            }
            continue;
          }
          if (item.seq <= through) continue;
          through = item.seq;
          if (!(await readable(item))) throw accessGone();
          yield change(item);
          if (item.topic === TOPIC.resourceDeleted) return;
        }
      } finally {
        if (feed) {
          feed.close();
          group.delete(feed);
        }
      }
    }
    return new SubscriptionStream(changes(), () => feed?.close());
  }

  /** The caller's new notifications, after a replay of those since `after` (or a resync). */
  async notificationsFor(caller: Caller, rawAfter: string | undefined, group: FeedGroup): Promise<AsyncIterableIterator<NotificationDelivery>> {
    const userId = (await caller()).user.id;
    const { live, notifications, replayLimit } = this.#d;

    let feed: Feed | undefined;
    async function* deliveries(): AsyncGenerator<NotificationDelivery> {
      feed = live.watchUser(userId);
      group.add(feed);
      try {
        // As for resources: watching starts first, and the feed's notifications up to the
        // starting point are the replay's, or older than the subscription.
        const start = await notifications.startingPoint(userId, rawAfter, replayLimit);
        let through = start.through;
        if (!start.complete) yield { resync: true, notification: null };
        for (const notification of start.items) yield { resync: false, notification };
        for await (const item of feed) {
          if (isSignal(item)) {
            if (item.signal !== 'overflow') continue;
            // A notification is its user's whatever its grants: only falling behind matters.
            yield { resync: true, notification: null };
            return;
          }
          if (!isOneOf(item, [TOPIC.notificationCreated])) continue;
          const { seq } = item.payload;
          if (seq <= through) continue;
          through = seq;
          yield notificationOf(item);
        }
      } finally {
        feed.close();
        group.delete(feed);
      }
    }
    return new SubscriptionStream(deliveries(), () => feed?.close());
  }

  /** A resource's deletion event, while the outbox keeps it. */
  async #deletionOf(resourceId: string): Promise<QueueEvent | undefined> {
    const row = await this.#events(resourceId).where('topic', '=', TOPIC.resourceDeleted).executeTakeFirst();
    return row && event(row);
  }

  /**
   * A resource's events after event `after`, from the outbox (kept for its retention), in
   * commit order; undefined when that cannot be told: `after` is not one of them any more
   * (or never was), or more than the replay limit follow it.
   */
  async #missedEvents(resourceId: string, after: string): Promise<Missed | undefined> {
    const db = this.#d.database.db;
    const known = after
      ? await db.selectFrom('outbox').select('seq').where('id', '=', after).where('aggregate_id', '=', resourceId).executeTakeFirst()
      : undefined;
    if (!known) return undefined;
    const rows = await this.#events(resourceId)
      .where('seq', '>', known.seq)
      .orderBy('seq')
      .limit(this.#d.replayLimit + 1)
      .execute();
    if (rows.length > this.#d.replayLimit) return undefined;
    return { since: Number(known.seq), events: rows.map(event) };
  }

  /** The newest event of a resource the outbox still keeps: where a subscription starts, what a RESYNC names. */
  async #newestEvent(resourceId: string): Promise<QueueEvent | undefined> {
    const row = await this.#events(resourceId).orderBy('seq', 'desc').limit(1).executeTakeFirst();
    return row && event(row);
  }

  #events(resourceId: string) {
    return this.#d.database.db
      .selectFrom('outbox')
      .select(['id', 'seq', 'topic', 'payload'])
      .where('aggregate_id', '=', resourceId)
      .where('topic', 'like', 'resource.%');
  }
}

/** An outbox row as the queue carries it (seq is a bigint, read as a string). */
const event = (row: { id: string; seq: string; topic: string; payload: unknown }): QueueEvent => ({ ...row, seq: Number(row.seq) });
