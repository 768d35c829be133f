import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  StorageType,
  type ConsumerMessages,
  type JetStreamClient,
  type JsMsg,
} from '@nats-io/jetstream';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import { backoffDelay } from '../../core/backoff.js';
import { parseNatsUrl } from '../../core/queue-url.js';
import type { Logger } from '../telemetry/logger.js';
import { assertTopic, type EventHandler, type Queue, type QueueEvent, type Subscription } from './port.js';

export interface NatsQueueOptions {
  /** nats://[user:password@ or token@]host:port (several comma-separated for a cluster). */
  url: string;
  /** The JetStream stream, and the subject prefix of its events. */
  stream: string;
  subjectPrefix: string;
  /** How long the stream keeps events (the broker's own retention, not the outbox's). */
  retentionMs: number;
}

/** How long a consumer waits for a handler before the broker redelivers its event. */
const ACK_WAIT_MS = 30_000;
/** A failed event is offered again after a wait that grows with each failure, from 1 s to 30 s. */
const NAK_DELAY = { initialMs: 1000, maxMs: 30_000 };
/**
 * How long one pull request waits. Its idle heartbeats come at half this; two missed ones
 * reset a consumer. Kept short: after a broker restart a recreated ordered consumer can stop
 * pulling until that reset (seen with @nats-io/jetstream 3.4), which then costs seconds.
 */
const PULL_EXPIRES_MS = 5000;
/** A publish unanswered this long fails (the relay retries): after a reconnect, not 5 s. */
const PUBLISH_TIMEOUT_MS = 2000;
/** The broker drops a second publish of the same event id within this window. */
const DUPLICATE_WINDOW_MS = 120_000;

/**
 * NATS JetStream: events are kept in one stream (file storage), published with the event id
 * as `Nats-Msg-Id`, so a relay that publishes twice within two minutes stores one message.
 * A group is a durable pull consumer with explicit acks, shared by every instance; a
 * broadcast subscriber is an ordered consumer of its own, starting at new messages.
 */
export class NatsQueue implements Queue {
  readonly kind = 'nats';
  readonly #subscriptions = new Set<ConsumerMessages>();

  private constructor(
    readonly connection: NatsConnection,
    readonly js: JetStreamClient,
    readonly options: NatsQueueOptions,
    readonly log: Logger,
  ) {}

  /** Connects and makes sure the stream exists with this configuration. */
  static async open(options: NatsQueueOptions, log: Logger): Promise<NatsQueue> {
    const { servers, ...credentials } = parseNatsUrl(options.url);
    const connection = await connect({ servers, ...credentials, name: 'pcf-api', maxReconnectAttempts: -1, reconnectTimeWait: 1000, timeout: 5000 });
    try {
      const manager = await jetstreamManager(connection);
      const config = {
        name: options.stream,
        subjects: [`${options.subjectPrefix}.>`],
        storage: StorageType.File,
        max_age: nanos(options.retentionMs),
        duplicate_window: nanos(Math.min(DUPLICATE_WINDOW_MS, options.retentionMs)),
      };
      try {
        await manager.streams.info(options.stream);
        await manager.streams.update(options.stream, config);
      } catch {
        await manager.streams.add(config);
      }
      return new NatsQueue(connection, jetstream(connection), options, log);
    } catch (err) {
      await connection.close();
      throw err;
    }
  }

  async publish(event: QueueEvent): Promise<void> {
    assertTopic(event.topic);
    // Only the event's own fields, and a payload even when it is undefined, so decode() reads it back.
    const body = { id: event.id, seq: event.seq, topic: event.topic, payload: event.payload ?? null };
    await this.js.publish(`${this.options.subjectPrefix}.${event.topic}`, JSON.stringify(body), { msgID: event.id, timeout: PUBLISH_TIMEOUT_MS });
  }

  async consume(group: string, handler: EventHandler): Promise<Subscription> {
    const manager = await jetstreamManager(this.connection);
    try {
      await manager.consumers.info(this.options.stream, group);
    } catch {
      await manager.consumers.add(this.options.stream, {
        durable_name: group,
        ack_policy: AckPolicy.Explicit,
        // A group starts with the events published after it was first created, as in the
        // in-process queue; from then on the broker remembers where it is.
        deliver_policy: DeliverPolicy.New,
        ack_wait: nanos(ACK_WAIT_MS),
        filter_subject: `${this.options.subjectPrefix}.>`,
      });
    }
    const consumer = await this.js.consumers.get(this.options.stream, group);
    return this.#run(await consumer.consume({ expires: PULL_EXPIRES_MS }), async (message) => {
      const event = decode(message);
      if (!event) {
        // Acked: left alone, it would come back after every ack wait, for ever.
        this.log.error({ group, seq: message.seq, subject: message.subject }, 'undecodable message on the event stream; skipped');
        message.ack();
        return;
      }
      try {
        await handler(event);
        message.ack();
      } catch (err) {
        this.log.warn({ err, group, seq: message.seq }, 'event handler failed; the event will be delivered again');
        message.nak(backoffDelay(message.info.deliveryCount, NAK_DELAY));
      }
    });
  }

  async broadcast(handler: EventHandler): Promise<Subscription> {
    // Starts after the stream's last message, as an explicit sequence: an ordered consumer
    // that is reset (broker restart, missed heartbeats) resumes after the last message it
    // saw, or, having seen none, at this sequence. With DeliverPolicy.New it would restart
    // at sequence 1 and replay the whole stream to the instance's live subscribers.
    const { state } = await (await jetstreamManager(this.connection)).streams.info(this.options.stream);
    const consumer = await this.js.consumers.get(this.options.stream, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: state.last_seq + 1,
      // One subject as a string: a list needs NATS 2.10, Debian's server is 2.9.
      filter_subjects: `${this.options.subjectPrefix}.>`,
    });
    return this.#run(await consumer.consume({ expires: PULL_EXPIRES_MS }), async (message) => {
      const event = decode(message);
      if (!event) {
        this.log.error({ seq: message.seq, subject: message.subject }, 'undecodable message on the event stream; skipped');
        return;
      }
      try {
        await handler(event);
      } catch (err) {
        this.log.warn({ err, seq: message.seq }, 'broadcast event handler failed');
      }
    });
  }

  /**
   * Feeds a consumer's messages to `each`, one at a time, until the subscription closes. A
   * message `each` fails on (an ack on a dropped connection) is logged: ending the loop would
   * stop this subscriber for good.
   */
  #run(messages: ConsumerMessages, each: (message: JsMsg) => Promise<void>): Subscription {
    this.#subscriptions.add(messages);
    const loop = (async () => {
      for await (const message of messages) {
        await each(message).catch((err: unknown) => this.log.error({ err, seq: message.seq }, 'queue consumer failed on a message'));
      }
    })().catch((err: unknown) => this.log.error({ err }, 'queue consumer stopped'));
    return {
      close: async () => {
        this.#subscriptions.delete(messages);
        await messages.close();
        await loop;
      },
    };
  }

  async ping(): Promise<void> {
    await this.connection.flush();
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#subscriptions].map((m) => m.close()));
    this.#subscriptions.clear();
    await this.connection.drain().catch(() => this.connection.close());
  }
}

/** The event a message holds, or undefined if it is not one (another publisher wrote on the stream's subjects). */
function decode(message: JsMsg): QueueEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(message.string());
  } catch {
    return undefined;
  }
  return isEvent(value) ? value : undefined;
}

function isEvent(value: unknown): value is QueueEvent {
  if (typeof value !== 'object' || value === null || !('payload' in value)) return false;
  const { id, seq, topic } = value as Record<string, unknown>;
  return typeof id === 'string' && typeof topic === 'string' && Number.isSafeInteger(seq);
}
