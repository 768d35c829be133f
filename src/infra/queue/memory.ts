import { backoffDelay } from '../../core/backoff.js';
import { assertTopic, type EventHandler, type Queue, type QueueEvent, type Subscription } from './port.js';

export interface MemoryQueueOptions {
  /**
   * How long a failed event waits before its group sees it again, by the number of times it
   * failed so far (1 after the first failure).
   */
  redeliveryDelay?: (failures: number) => number;
}

/**
 * 100 ms after the first failure, doubling to 30 s, with jitter: a handler whose dependency
 * is down (an SMTP server) is not called ten times a second for as long as it stays down,
 * and many events failing together do not come back together.
 */
function defaultRedeliveryDelay(failures: number): number {
  return backoffDelay(failures, { initialMs: 100, maxMs: 30_000 });
}

/**
 * The embedded queue: events go straight to the handlers of this process. A group's
 * handlers take turns; a failed event is retried, each time after a longer wait, until a
 * handler resolves for it. Closing waits for the handlers under way. An event is published
 * (and its outbox row marked) as soon as its handlers start, so a process killed while they
 * run loses what they had not done yet; events not yet published stay in the outbox and are
 * published again.
 */
export class MemoryQueue implements Queue {
  readonly kind = 'memory';
  readonly #groups = new Map<string, { handlers: EventHandler[]; next: number }>();
  readonly #broadcast = new Set<EventHandler>();
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Handlers running now: closing waits for them, so a graceful stop loses no event. */
  readonly #inFlight = new Set<Promise<unknown>>();
  #closed = false;
  readonly #redeliveryDelay: (failures: number) => number;

  constructor(options: MemoryQueueOptions = {}) {
    this.#redeliveryDelay = options.redeliveryDelay ?? defaultRedeliveryDelay;
  }

  async publish(event: QueueEvent): Promise<void> {
    assertTopic(event.topic);
    if (this.#closed) throw new Error('queue closed');
    const frozen = Object.freeze({ ...event });
    for (const group of this.#groups.keys()) this.#deliver(group, frozen);
    for (const handler of this.#broadcast) this.#track(handler(frozen)).catch(() => undefined);
  }

  #track<T>(running: Promise<T>): Promise<T> {
    this.#inFlight.add(running);
    void running.finally(() => this.#inFlight.delete(running)).catch(() => undefined);
    return running;
  }

  /** Hands `event` to the next handler of group `name`; `failures` is how often it failed before. */
  #deliver(name: string, event: QueueEvent, failures = 0): void {
    const group = this.#groups.get(name);
    if (!group || group.handlers.length === 0 || this.#closed) return;
    const handler = group.handlers[group.next++ % group.handlers.length]!;
    this.#track(handler(event)).catch(() => {
      if (this.#closed) return;
      const timer = setTimeout(
        () => {
          this.#timers.delete(timer);
          this.#deliver(name, event, failures + 1);
        },
        this.#redeliveryDelay(failures + 1),
      );
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
    // One event at a time, in publish order, as a broker's consumer delivers them: a handler
    // that awaits must not let the next event overtake the one it is on.
    let previous: Promise<unknown> = Promise.resolve();
    const own: EventHandler = (event) => (previous = previous.then(() => handler(event)).catch(() => undefined));
    this.#broadcast.add(own);
    return { close: async () => void this.#broadcast.delete(own) };
  }

  async ping(): Promise<void> {
    if (this.#closed) throw new Error('queue closed');
  }

  /**
   * Stops taking events and waits (at most `drainMs`) for the handlers under way. An event
   * whose handler failed and was waiting to be retried is dropped: in-process, nothing
   * outlives the process (see docs/queue.md).
   */
  async close(drainMs = 5000): Promise<void> {
    this.#closed = true;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, drainMs)));
    await Promise.race([Promise.allSettled([...this.#inFlight]), deadline]);
    clearTimeout(timer);
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#groups.clear();
    this.#broadcast.clear();
  }
}
