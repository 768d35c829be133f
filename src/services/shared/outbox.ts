import { newId } from '../../core/ids.js';
import type { Database } from '../../infra/database/index.js';

export interface DomainEvent {
  /** e.g. `resource.updated` */
  topic: string;
  aggregateType: string;
  aggregateId: string;
  payload: Record<string, unknown>;
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
