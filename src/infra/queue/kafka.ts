import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  Admin,
  ConfigResourceTypes,
  Consumer,
  GenericError,
  IncrementalAlterConfigOperationTypes,
  ListOffsetTimestamps,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  ProduceAcks,
  Producer,
  stringDeserializers,
  stringSerializers,
  UnsupportedApiError,
  type ConsumeOptions,
  type ListConsumerGroupOffsetsGroup,
  type Message,
  type MessagesStream,
} from '@platformatic/kafka';
import { parseKafkaUrl, type HostPort } from '../../core/queue-url.js';
import { backoffDelay } from '../../core/backoff.js';
import type { Logger } from '../telemetry/logger.js';
import { assertTopic, type EventHandler, type Queue, type QueueEvent, type Subscription } from './port.js';

export interface KafkaQueueOptions {
  /** kafka://host:port, several brokers comma-separated: kafka://a:9092,b:9092 (the port defaults to 9092). */
  url: string;
  /** The one Kafka topic holding every event. */
  topic: string;
  /** The Kafka client id of every connection (broker logs and quotas). */
  clientId: string;
  /** How long the topic keeps events (the broker's own retention, not the outbox's). */
  retentionMs: number;
}

/** Headers carrying the event's id, outbox seq and topic, so a consumer reads them without parsing the payload. */
const ID_HEADER = 'pcf-event-id';
const SEQ_HEADER = 'pcf-event-seq';
const TOPIC_HEADER = 'pcf-event-topic';
/** A failed event is offered to its group's handler again after a wait that grows with each failure, from 1 s to 30 s. */
const REDELIVERY_DELAY = { initialMs: 1000, maxMs: 30_000 };
/** A consumer stream that failed (broker gone, rebalance error) is opened again after this long. */
const RESTART_DELAY_MS = 1000;
/** How long a new subscription waits for its starting offsets before giving up. */
const READY_TIMEOUT_MS = 30_000;

/**
 * Every client's connection settings. Each operation is tried four times half a second apart,
 * so a broker that is down makes a call fail within a few seconds instead of hanging; the
 * consumers recover by opening their stream again (see `#subscribe`).
 */
interface ClientSettings {
  clientId: string;
  bootstrapBrokers: HostPort[];
  connectTimeout: number;
  retries: number;
  retryDelay: number;
}

type Stream = MessagesStream<string, string, string, string>;
type KafkaMessage = Message<string, string, string, string>;

/**
 * Where a consumer's stream starts, and starts again after it failed: a group at its
 * committed offsets; a broadcast subscriber, which commits nothing, at `next` (per partition,
 * the offset after the last record it handled, or where it started), which it keeps up to date.
 */
type StartAt = { kind: 'group' } | { kind: 'broadcast'; next: Map<number, bigint> };

/**
 * Kafka through `@platformatic/kafka` (pure JavaScript). Design:
 *
 * - One topic holds every event, created if missing with one partition and `retention.ms`.
 *   One partition gives one total order, as the NATS stream and the in-process queue do
 *   (the relay publishes in outbox order and the contract expects publish order); a group
 *   is then served by one member at a time, the others standing by for a rebalance, which is
 *   plenty for domain events. A topic made beforehand with more partitions is refused: the
 *   events of one resource could arrive out of order, and subscribers drop an event whose
 *   seq is not above the last they saw, so the late one would be lost.
 * - A record is key = event topic, value = the payload as JSON, headers = event id, seq and topic.
 * - `publish` resolves once every in-sync replica has the record (acks = all). There is no
 *   broker-side deduplication by event id (Kafka has nothing like `Nats-Msg-Id`; the
 *   idempotent producer only drops the producer's own resends within one session, not a
 *   second publish by the relay, and this library makes it retry without end unless told
 *   otherwise), so it is not used: consumers deduplicate by the id, as the port requires of
 *   them anyway.
 * - A group is a Kafka consumer group (named `<topic>.<group>`, so deployments sharing a
 *   cluster do not share groups) that commits an event's offset only after its handler
 *   resolved. A failed handler is called again for the same event after a growing wait, which
 *   holds back the events behind it (their order is kept, nothing is skipped). A group that
 *   has never committed starts at the end of the topic, and that position is committed at
 *   once, so events published while none of its subscribers runs still reach it later.
 * - A broadcast subscriber is a consumer group of its own (a random id), starting at the
 *   end of the topic as it was when it subscribed, that never commits: it remembers its
 *   position itself while it runs (a stream it reopens resumes after the last record it
 *   handled) and its group is deleted when it closes.
 */
class KafkaQueue implements Queue {
  readonly kind = 'kafka';
  readonly #subscriptions = new Set<Subscription>();

  constructor(
    readonly admin: Admin,
    readonly producer: Producer<string, string, string, string>,
    readonly settings: ClientSettings,
    readonly options: KafkaQueueOptions,
    readonly log: Logger,
  ) {}

  async publish(event: QueueEvent): Promise<void> {
    assertTopic(event.topic);
    await this.producer.send({
      messages: [
        {
          topic: this.options.topic,
          key: event.topic,
          value: JSON.stringify(event.payload) ?? 'null',
          headers: { [ID_HEADER]: event.id, [SEQ_HEADER]: String(event.seq), [TOPIC_HEADER]: event.topic },
        },
      ],
      acks: ProduceAcks.ALL,
    });
  }

  async consume(group: string, handler: EventHandler): Promise<Subscription> {
    const groupId = `${this.options.topic}.${group}`;
    await this.#startGroupAtEnd(groupId);
    return this.#subscribe(groupId, { kind: 'group' }, async (message, stopped) => {
      const event = decode(message);
      if (!event) {
        // Not one of ours (another producer wrote to the topic): skipped, or it would block the group forever.
        this.log.error({ group, partition: message.partition, offset: String(message.offset) }, 'undecodable record in the event topic; skipped');
      } else {
        for (let failures = 1; ; failures++) {
          try {
            await handler(event);
            break;
          } catch (err) {
            this.log.warn({ err, group, offset: String(message.offset) }, 'event handler failed; the event will be delivered again');
            await pause(backoffDelay(failures, REDELIVERY_DELAY), stopped);
            // Closing: not committed, so the group gets this event again.
            if (stopped.aborted) return;
          }
        }
      }
      // A failed commit throws out of the stream loop, which reopens the stream at the last
      // committed offset: the event comes again (at least once), it is never skipped.
      await message.commit();
    });
  }

  async broadcast(handler: EventHandler): Promise<Subscription> {
    const groupId = `${this.options.topic}.broadcast.${randomUUID()}`;
    // Recorded before joining, so a stream that fails before its first record reopens here
    // rather than at the end of the topic as it is then, which would skip what came between.
    const next = await this.#endOffsets(await this.#partitions());
    return this.#subscribe(groupId, { kind: 'broadcast', next }, async (message) => {
      const event = decode(message);
      if (!event) return;
      try {
        await handler(event);
      } catch (err) {
        this.log.warn({ err, offset: String(message.offset) }, 'broadcast event handler failed');
      }
    });
  }

  /**
   * Kafka keeps a group's position only once the group commits; a group that never
   * committed would start at the end of the topic each time a subscriber starts, missing what
   * was published in between. So a group without a committed offset gets the current end of
   * the topic committed now: from then on it is where the group starts, as a NATS durable
   * consumer created with `DeliverPolicy.New` does. Best effort: if this fails (another
   * instance is joining the same new group right now, or the broker refuses), the group
   * starts at the end of the topic when it joins.
   */
  async #startGroupAtEnd(groupId: string): Promise<void> {
    const { topic } = this.options;
    try {
      const partitions = await this.#partitions();
      let listed: ListConsumerGroupOffsetsGroup | undefined;
      try {
        [listed] = await this.admin.listConsumerGroupOffsets({ groups: [{ groupId, topics: [{ name: topic, partitionIndexes: partitions }] }] });
      } catch (err) {
        // Brokers with the new group coordinator may answer so for a group that does not exist yet.
        if (!isKafkaError(err, 'GROUP_ID_NOT_FOUND')) throw err;
      }
      const committed = new Map(listed?.topics.find((t) => t.name === topic)?.partitions.map((p) => [p.partitionIndex, p.committedOffset]));
      const missing = partitions.filter((p) => (committed.get(p) ?? -1n) < 0n);
      if (missing.length === 0) return;
      const partitionOffsets = [...(await this.#endOffsets(missing))].map(([partition, offset]) => ({ partition, offset }));
      if (partitionOffsets.length > 0) await this.admin.alterConsumerGroupOffsets({ groupId, topics: [{ name: topic, partitionOffsets }] });
    } catch (err) {
      this.log.debug({ err, groupId }, 'could not record the start of a new consumer group; it starts where it joins');
    }
  }

  /** The event topic's partitions (one, unless someone added some since the queue opened). */
  async #partitions(): Promise<number[]> {
    const metadata = await this.admin.metadata({ topics: [this.options.topic] });
    const count = metadata.topics.get(this.options.topic)?.partitionsCount ?? 0;
    return Array.from({ length: count }, (_, i) => i);
  }

  /** The offset the next record written to each of `partitions` will get. */
  async #endOffsets(partitions: number[]): Promise<Map<number, bigint>> {
    if (partitions.length === 0) return new Map();
    const [ends] = await this.admin.listOffsets({
      topics: [{ name: this.options.topic, partitions: partitions.map((partitionIndex) => ({ partitionIndex, timestamp: ListOffsetTimestamps.LATEST })) }],
    });
    return new Map((ends?.partitions ?? []).map((p) => [p.partitionIndex, p.offset]));
  }

  /**
   * Runs one consumer until the subscription closes: messages go to `each` one at a time,
   * and a stream that fails is opened again after a pause (the consumer stays in its group)
   * where `start` says.
   */
  async #subscribe(groupId: string, start: StartAt, each: (message: KafkaMessage, stopped: AbortSignal) => Promise<void>): Promise<Subscription> {
    const consumer = new Consumer<string, string, string, string>({
      ...this.settings,
      groupId,
      deserializers: stringDeserializers,
      autocommit: false,
      // A dead instance's partitions move to another member after 30 s; heartbeats every
      // second make rebalances (a member joining or leaving) quick.
      sessionTimeout: 30_000,
      heartbeatInterval: 1000,
      // The fetch long-poll: events arrive as soon as they are written, and a closing stream waits at most this long.
      maxWaitTime: 1000,
      // Records fetched ahead of the handler; those not handled when a partition moves are fetched again by its new owner.
      highWaterMark: 256,
    });
    // The consumer emits `error` when it cannot rejoin its group; unheard, that would crash the process.
    consumer.on('error', (err: Error) => this.log.warn({ err, groupId }, 'kafka consumer error'));
    const stop = new AbortController();

    const open = async (): Promise<Stream> => {
      const stream = await consumer.consume(this.#consumeOptions(start));
      try {
        // consume() resolves once the group is joined, before the stream knows where to start
        // (that takes a round trip to the broker, so the event cannot have fired yet): waiting
        // for it means an event published after this resolves is one the subscriber gets.
        await once(stream, 'offsets', { signal: AbortSignal.timeout(READY_TIMEOUT_MS) });
      } catch (err) {
        await stream.close().catch(() => undefined);
        throw err;
      }
      return stream;
    };

    let stream: Stream;
    try {
      stream = await open();
    } catch (err) {
      await forceClose(consumer).catch(() => undefined);
      throw err;
    }

    const loop = (async () => {
      while (!stop.signal.aborted) {
        try {
          for await (const message of stream) {
            // Records already fetched when the subscription closes are left for the group.
            if (stop.signal.aborted) break;
            await each(message, stop.signal);
            if (start.kind === 'broadcast') start.next.set(message.partition, message.offset + 1n);
          }
        } catch (err) {
          if (!stop.signal.aborted) this.log.warn({ err, groupId }, 'kafka consumer stream failed; opening it again');
        }
        while (!stop.signal.aborted) {
          await pause(RESTART_DELAY_MS, stop.signal);
          if (stop.signal.aborted) break;
          try {
            stream = await open();
            break;
          } catch (err) {
            this.log.warn({ err, groupId }, 'kafka consumer stream could not be opened; trying again');
          }
        }
      }
    })().catch((err: unknown) => this.log.error({ err, groupId }, 'queue consumer stopped'));

    const subscription: Subscription = {
      close: async () => {
        if (stop.signal.aborted) return;
        this.#subscriptions.delete(subscription);
        stop.abort();
        await stream.close().catch(() => undefined);
        await loop;
        // Leaves the group, so its partitions move to another member at once.
        await forceClose(consumer).catch((err: unknown) => this.log.warn({ err, groupId }, 'kafka consumer did not close cleanly'));
        if (start.kind === 'broadcast') {
          // It never committed, so the broker would forget it anyway; deleting it is tidier.
          await this.admin
            .deleteGroups({ groups: [groupId] })
            .catch((err: unknown) => this.log.debug({ err, groupId }, 'could not delete a broadcast consumer group'));
        }
      },
    };
    this.#subscriptions.add(subscription);
    return subscription;
  }

  /** A partition missing from a broadcast subscriber's `next` (added to the topic later) is read from its end. */
  #consumeOptions(start: StartAt): ConsumeOptions<string, string, string, string> {
    const base = { topics: [this.options.topic], autocommit: false, fallbackMode: MessagesStreamFallbackModes.LATEST };
    if (start.kind === 'group') return { ...base, mode: MessagesStreamModes.COMMITTED };
    const offsets = [...start.next].map(([partition, offset]) => ({ topic: this.options.topic, partition, offset }));
    return { ...base, mode: MessagesStreamModes.MANUAL, offsets };
  }

  async ping(): Promise<void> {
    // A metadata request that really goes to a broker (not the client's cached copy).
    await this.admin.metadata({ topics: [this.options.topic], forceUpdate: true });
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.#subscriptions].map((s) => s.close()));
    this.#subscriptions.clear();
    await Promise.allSettled([this.producer.close(), this.admin.close()]);
  }
}

/**
 * Connects, and makes sure the topic exists (created with one partition, the broker's
 * default replication factor and `retention.ms`; an existing topic gets its `retention.ms`
 * updated, and is refused if it has several partitions). Rejects, with every client closed,
 * if no broker answers within a few seconds.
 */
export async function openKafkaQueue(options: KafkaQueueOptions, log: Logger): Promise<Queue> {
  const bootstrapBrokers = parseKafkaUrl(options.url);
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(options.topic)) throw new TypeError(`invalid Kafka topic name "${options.topic}"`);
  if (!/^\S{1,200}$/.test(options.clientId)) throw new TypeError('invalid Kafka client id');
  if (!Number.isSafeInteger(options.retentionMs) || options.retentionMs < 1) throw new TypeError('invalid Kafka retention');
  const settings: ClientSettings = { clientId: options.clientId, bootstrapBrokers, connectTimeout: 5000, retries: 3, retryDelay: 500 };
  const admin = new Admin(settings);
  const producer = new Producer<string, string, string, string>({ ...settings, serializers: stringSerializers, acks: ProduceAcks.ALL });
  const quiet = (err: Error) => log.warn({ err }, 'kafka client error');
  admin.on('error', quiet);
  producer.on('error', quiet);
  try {
    await ensureTopic(admin, options, log);
    return new KafkaQueue(admin, producer, settings, options, log);
  } catch (err) {
    await Promise.allSettled([producer.close(), admin.close()]);
    const where = bootstrapBrokers.map((b) => `${b.host.includes(':') ? `[${b.host}]` : b.host}:${b.port}`).join(',');
    const hint = speaksTooOldProtocol(err) ? `: ${TOO_OLD_BROKER}` : '';
    throw new Error(`Kafka at ${where}: cannot set up topic "${options.topic}": ${explain(err)}${hint}`, { cause: err });
  }
}

async function ensureTopic(admin: Admin, options: KafkaQueueOptions, log: Logger): Promise<void> {
  const retention = { name: 'retention.ms', value: String(options.retentionMs) };
  const existing = await admin.listTopics();
  if (!existing.includes(options.topic)) {
    try {
      await admin.createTopics({ topics: [options.topic], partitions: 1, replicas: -1, configs: [retention] });
    } catch (err) {
      // Another instance created it in the meantime.
      if (!isKafkaError(err, 'TOPIC_ALREADY_EXISTS')) throw err;
    }
  } else {
    try {
      await admin.incrementalAlterConfigs({
        resources: [
          {
            resourceType: ConfigResourceTypes.TOPIC,
            resourceName: options.topic,
            configs: [{ ...retention, configOperation: IncrementalAlterConfigOperationTypes.SET }],
          },
        ],
      });
    } catch (err) {
      // Often not allowed to the application's principal; the topic works with the retention it has.
      log.warn({ err, topic: options.topic }, 'could not update the retention of the Kafka topic');
    }
  }
  // Metadata for the topic: fails (after the client's retries) until it has a leader.
  const metadata = await admin.metadata({ topics: [options.topic], forceUpdate: true });
  const partitions = metadata.topics.get(options.topic)?.partitionsCount ?? 0;
  // Records are spread over partitions by key, and order holds within a partition only;
  // subscribers drop an event whose seq is not above the last they saw, so one that arrives
  // late is lost for good.
  if (partitions > 1) {
    throw new Error(
      `the Kafka topic "${options.topic}" has ${partitions} partitions, so events could arrive out of order: use a topic with one partition (name a new topic in PCF_QUEUE_NAME, which is created with one, or recreate this one with one)`,
    );
  }
}

/** The library nests its errors (`metadata failed 4 times.` → `Cannot connect to any broker.` → …): the chain of distinct messages. */
function explain(err: unknown): string {
  const messages: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; depth++) {
    const message = e.message.replace(/\.$/, '');
    if (!messages.includes(message)) messages.push(message);
    e = e instanceof AggregateError ? e.errors[0] : e.cause;
  }
  return messages.join(': ');
}

function decode(message: KafkaMessage): QueueEvent | undefined {
  const id = message.headers.get(ID_HEADER);
  const seq = Number(message.headers.get(SEQ_HEADER));
  const topic = message.headers.get(TOPIC_HEADER);
  if (!id || !topic || !Number.isSafeInteger(seq) || message.value === undefined) return undefined;
  try {
    return { id, seq, topic, payload: JSON.parse(message.value) as unknown };
  } catch {
    return undefined;
  }
}

/**
 * What an operator needs to hear when the broker answers in an older protocol: the library's
 * own message ("The version of API is not supported") reads like a bug in the client.
 */
const TOO_OLD_BROKER = 'the broker does not serve the protocol versions this client needs (those of Apache Kafka 3.5 to 4.1)';

/**
 * Whether the broker refused the protocol versions the client speaks: it answered ApiVersions
 * v3 with UNSUPPORTED_VERSION (brokers older than Kafka 2.4, librdkafka's mock cluster), or it
 * announced no version of some call that the client implements.
 */
function speaksTooOldProtocol(err: unknown): boolean {
  if (isKafkaError(err, 'UNSUPPORTED_VERSION')) return true;
  return err instanceof Error && GenericError.isGenericError(err) && (err as GenericError).findBy('code', UnsupportedApiError.code) !== null;
}

/** Whether a library error is, or wraps, the Kafka protocol error `id` (e.g. `TOPIC_ALREADY_EXISTS`). */
function isKafkaError(err: unknown, id: string): boolean {
  if (!(err instanceof Error) || !GenericError.isGenericError(err)) return false;
  // GenericError and MultipleErrors both have findBy (the latter searches its nested errors).
  const found: unknown = (err as GenericError).findBy('apiId', id);
  return found !== null;
}

/**
 * `consumer.close(true)`: closes its streams and leaves the group. With the force flag the
 * typings pick the callback overload (typed `void`), so it is promisified here.
 */
function forceClose(consumer: Consumer<string, string, string, string>): Promise<void> {
  return new Promise((resolve, reject) => consumer.close(true, (err) => (err ? reject(err) : resolve())));
}

/** Waits `ms`, or less if `signal` aborts first; never rejects. */
async function pause(ms: number, signal: AbortSignal): Promise<void> {
  await sleep(ms, undefined, { signal }).catch(() => undefined);
}
