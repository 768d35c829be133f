import { LRUCache } from 'lru-cache';
import { newId } from '../../core/ids.js';
import type { Database } from '../../infra/database/index.js';
import { aggregateOf, type DomainEvent } from '../events/catalog.js';

/** Rows per INSERT: well under PostgreSQL's 65,535 parameters. */
const ROWS_PER_INSERT = 1000;
/** Ids of the events this instance wrote that it remembers (their echo comes back in milliseconds). */
const OWN_EVENTS = 10_000;

/**
 * One instance's side of the transactional outbox (DESIGN §4). Services write their events
 * through it in the transaction of their change, so an event exists if and only if its change
 * committed, and tell it after the commit, so the relay publishes at once rather than at its
 * next poll (a missed call only delays an event until the poll, it never loses one). It
 * remembers the events this instance wrote: when one comes back through the queue, the
 * instance knows its own write already refreshed its caches.
 */
export class Outbox {
  #listener: (() => void) | undefined;
  readonly #own = new LRUCache<string, true>({ max: OWN_EVENTS });

  /** A new event id, remembered as this instance's (for an event written without `write`). */
  newEventId(): string {
    const id = newId();
    this.#own.set(id, true);
    return id;
  }

  /** Whether this instance wrote the event (as far as it remembers). */
  isOwn(eventId: string): boolean {
    return this.#own.has(eventId);
  }

  /** Appends events to the outbox inside the caller's transaction. */
  async write(tx: Database['db'], eventOrEvents: DomainEvent | readonly DomainEvent[]): Promise<void> {
    const events: readonly DomainEvent[] = Array.isArray(eventOrEvents) ? eventOrEvents : [eventOrEvents as DomainEvent];
    for (let i = 0; i < events.length; i += ROWS_PER_INSERT) {
      const rows = events.slice(i, i + ROWS_PER_INSERT).map((event) => {
        const aggregate = aggregateOf(event);
        return {
          id: this.newEventId(),
          topic: event.topic,
          aggregate_type: aggregate.type,
          aggregate_id: aggregate.id,
          payload: JSON.stringify(event.payload),
          trace_id: event.traceId ?? null,
        };
      });
      await tx.insertInto('outbox').values(rows).execute();
    }
  }

  /** Events were committed: the relay publishes them now. */
  committed(): void {
    this.#listener?.();
  }

  /** The relay listens; one listener per instance. */
  listen(listener: (() => void) | undefined): void {
    this.#listener = listener;
  }
}
