import { newId } from '../../core/ids.js';
import type { Database } from '../../infra/database/index.js';

export interface DomainEvent {
  /** e.g. `resource.updated` (services/events/catalog.ts) */
  topic: string;
  aggregateType: string;
  aggregateId: string;
  payload: object;
  traceId?: string | undefined;
}

/**
 * Appends an event to the outbox inside the caller's transaction (DESIGN §4): the event
 * exists if and only if the change that caused it committed. A relay publishes it later.
 */
export async function writeOutbox(tx: Database['db'], event: DomainEvent): Promise<void> {
  await tx
    .insertInto('outbox')
    .values({
      id: newId(),
      topic: event.topic,
      aggregate_type: event.aggregateType,
      aggregate_id: event.aggregateId,
      payload: JSON.stringify(event.payload),
      trace_id: event.traceId ?? null,
    })
    .execute();
}

/**
 * Tells the relay that events were committed, so it publishes them now rather than at its
 * next poll. Services call `committed()` after a transaction that wrote to the outbox; a
 * missed call only delays the event until the poll, it never loses one.
 */
export class OutboxSignal {
  #listener: (() => void) | undefined;

  committed(): void {
    this.#listener?.();
  }

  /** The relay listens; one listener per instance. */
  listen(listener: (() => void) | undefined): void {
    this.#listener = listener;
  }
}
