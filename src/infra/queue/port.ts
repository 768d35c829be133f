/**
 * The message queue between the outbox relay and the consumers of domain events (DESIGN
 * §1: in-process when embedded, NATS JetStream or Kafka in a cluster).
 *
 * Delivery is at least once: a handler may see an event again (after a crash, a redelivery,
 * a relay that published twice), so consumers deduplicate by the event's id, which is the
 * outbox row's id.
 */
export interface QueueEvent {
  /** The outbox row's id (UUIDv7): unique, time-ordered, the key consumers deduplicate by. */
  readonly id: string;
  /**
   * Its place in the outbox (the row's seq). Events of one aggregate are written under that
   * aggregate's lock, so for them a larger seq was committed later: subscribers tell by it
   * what they have already seen.
   */
  readonly seq: number;
  /** e.g. `resource.updated`; one segment per dot, letters, digits, `-` and `_`. */
  readonly topic: string;
  readonly payload: unknown;
}

/** Handles one event; a rejection asks for it again later (redelivery). */
export type EventHandler = (event: QueueEvent) => Promise<void>;

export interface Subscription {
  /** Stops delivering; events not yet handled stay in the queue (for a group). */
  close(): Promise<void>;
}

export interface Queue {
  readonly kind: 'memory' | 'nats' | 'kafka';
  /** Resolves once the broker holds the event durably; rejects while it is unreachable. */
  publish(event: QueueEvent): Promise<void>;
  /**
   * A work queue: each event published after the group first subscribed goes to one
   * subscriber of `group`, whichever instance it runs on, and comes back to the group until
   * a handler resolves for it. With a broker, the group's position outlives its subscribers.
   */
  consume(group: string, handler: EventHandler): Promise<Subscription>;
  /** A fan-out: every broadcast subscriber, on every instance, sees the events published after it starts. */
  broadcast(handler: EventHandler): Promise<Subscription>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

const TOPIC = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** Refuses a topic a broker could not route (NATS subjects split on dots, `*` and `>` are wildcards). */
export function assertTopic(topic: string): void {
  if (!TOPIC.test(topic) || topic.length > 200) throw new TypeError(`invalid event topic "${topic}"`);
}
