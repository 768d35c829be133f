import { assertTopic, type EventHandler, type Queue, type QueueEvent, type Subscription } from './port.js';

/** How long a failed event waits before its group sees it again. */
const REDELIVERY_DELAY_MS = 100;

/**
 * The embedded queue: events go straight to the handlers of this process. A group's
 * handlers take turns; a failed event is retried until a handler resolves for it. Nothing
 * survives a restart, which is what the outbox is for: events are written to the database
 * with their change and published again if the process stops before they were.
 */
export class MemoryQueue implements Queue {
  readonly kind = 'memory';
  readonly #groups = new Map<string, { handlers: EventHandler[]; next: number }>();
  readonly #broadcast = new Set<EventHandler>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #closed = false;

  async publish(event: QueueEvent): Promise<void> {
    assertTopic(event.topic);
    if (this.#closed) throw new Error('queue closed');
    const frozen = Object.freeze({ ...event });
    for (const group of this.#groups.keys()) this.#deliver(group, frozen);
    for (const handler of this.#broadcast) handler(frozen).catch(() => undefined);
  }

  #deliver(name: string, event: QueueEvent): void {
    const group = this.#groups.get(name);
    if (!group || group.handlers.length === 0 || this.#closed) return;
    const handler = group.handlers[group.next++ % group.handlers.length]!;
    handler(event).catch(() => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        this.#deliver(name, event);
      }, REDELIVERY_DELAY_MS);
      this.#timers.add(timer);
    });
  }

  async consume(group: string, handler: EventHandler): Promise<Subscription> {
    let entry = this.#groups.get(group);
    if (!entry) this.#groups.set(group, (entry = { handlers: [], next: 0 }));
    entry.handlers.push(handler);
    return {
      close: async () => {
        entry.handlers = entry.handlers.filter((h) => h !== handler);
      },
    };
  }

  async broadcast(handler: EventHandler): Promise<Subscription> {
    const own: EventHandler = (event) => handler(event);
    this.#broadcast.add(own);
    return { close: async () => void this.#broadcast.delete(own) };
  }

  async ping(): Promise<void> {
    if (this.#closed) throw new Error('queue closed');
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#groups.clear();
    this.#broadcast.clear();
  }
}
