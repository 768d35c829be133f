import type { EventHandler, QueueEvent } from '../../infra/queue/port.js';
import type { EventPayloads, Topic } from './catalog.js';

/** A queue event whose topic is one of the catalog's, with that topic's payload. */
export type CatalogEvent<T extends Topic = Topic> = { [K in T]: QueueEvent & { readonly topic: K; readonly payload: EventPayloads[K] } }[T];

/**
 * A queue event read as the catalog types it: a `switch` on its topic then narrows its payload.
 * The queue carries only what the outbox holds, and the outbox only what services wrote as
 * `DomainEvent`s, so this is where that guarantee is taken on trust, once.
 */
export const catalogEvent = (event: QueueEvent): CatalogEvent => event as CatalogEvent;

/** Whether an event is of one of `topics`; its payload is then theirs. */
export function isOneOf<T extends Topic>(event: QueueEvent, topics: readonly T[]): event is CatalogEvent<T> {
  return (topics as readonly string[]).includes(event.topic);
}

type PayloadHandler<T extends Topic> = (payload: EventPayloads[T], event: CatalogEvent<T>) => Promise<void> | void;

/**
 * The consumer side of the catalog: handlers subscribed by topic, each handed the payload
 * its topic carries, and one queue handler (`handle`) that routes every event to them.
 * Events of a topic nobody subscribed to pass by.
 */
export class TopicHandlers {
  readonly #handlers = new Map<string, (event: CatalogEvent) => Promise<void> | void>();

  /** Subscribes `handler` to one topic or several (its payload is then theirs, as a union). */
  subscribe<T extends Topic>(topics: T | readonly T[], handler: PayloadHandler<T>): this {
    for (const topic of typeof topics === 'string' ? [topics] : topics) {
      if (this.#handlers.has(topic)) throw new Error(`a handler of ${topic} is already subscribed`);
      this.#handlers.set(topic, (event) => handler(event.payload as EventPayloads[T], event as CatalogEvent<T>));
    }
    return this;
  }

  /** The queue handler: hands an event to the handler of its topic, if any. */
  readonly handle: EventHandler = async (event) => {
    await this.#handlers.get(event.topic)?.(catalogEvent(event));
  };
}
