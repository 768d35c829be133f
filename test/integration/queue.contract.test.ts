import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Admin } from '@platformatic/kafka';
import { newId } from '../../src/core/ids.js';
import { openKafkaQueue, type KafkaQueueOptions } from '../../src/infra/queue/kafka.js';
import { MemoryQueue } from '../../src/infra/queue/memory.js';
import { NatsQueue } from '../../src/infra/queue/nats.js';
import type { EventHandler, Queue, QueueEvent } from '../../src/infra/queue/port.js';
import { createLogger } from '../../src/infra/telemetry/logger.js';

/**
 * The queue port's contract, run against every adapter this machine can reach: in-process
 * always, NATS JetStream when PCF_TEST_NATS_URL is set (CI sets it), Kafka when
 * PCF_TEST_KAFKA_BROKERS is set (host:port, several comma-separated, a Kafka 3.5 to 4.1
 * broker). CI has no such broker, so there the Kafka suites are skipped: the only Kafka
 * protocol implementation it can have, librdkafka's mock cluster in kcat, serves none of the
 * protocol versions the client speaks for most calls, down to the first handshake
 * (kafka-queue.test.ts runs against it and shows which). Each Kafka run uses a topic of its own
 * and deletes it, with its consumer groups, afterwards.
 */
const NATS_URL = process.env.PCF_TEST_NATS_URL;
const KAFKA_BROKERS = process.env.PCF_TEST_KAFKA_BROKERS?.replace(/^kafka:\/\//, '');
const silent = createLogger({ level: 'silent' });

interface Adapter {
  name: string;
  skip: string | false;
  /** Whether the broker drops a second publish of the same event id (NATS does, Kafka does not). */
  dedupes: boolean;
  /** A queue; a second call gives another instance on the same broker. */
  open(): Promise<Queue>;
  cleanup(): Promise<void>;
}

function memoryAdapter(): Adapter {
  // One process: the "instances" share the one in-process queue.
  let queue: MemoryQueue | undefined;
  return {
    name: 'in-process',
    skip: false,
    dedupes: false,
    open: async () => (queue ??= new MemoryQueue()),
    cleanup: async () => queue?.close(),
  };
}

function natsAdapter(): Adapter {
  const suffix = randomBytes(4).toString('hex');
  const options = { url: NATS_URL ?? '', stream: `PCF_TEST_${suffix}`, subjectPrefix: `pcftest.${suffix}`, retentionMs: 3_600_000 };
  const opened: NatsQueue[] = [];
  return {
    name: 'NATS JetStream',
    skip: NATS_URL ? false : 'needs PCF_TEST_NATS_URL',
    dedupes: true,
    open: async () => {
      const queue = await NatsQueue.open(options, silent);
      opened.push(queue);
      return queue;
    },
    cleanup: async () => {
      const [first] = opened;
      if (first) await (await jetstreamManager(first.connection)).streams.delete(options.stream).catch(() => undefined);
      await Promise.allSettled(opened.map((q) => q.close()));
    },
  };
}

function kafkaAdapter(): Adapter {
  const options: KafkaQueueOptions = {
    url: `kafka://${KAFKA_BROKERS ?? ''}`,
    topic: `pcf-test-${randomBytes(4).toString('hex')}`,
    clientId: 'pcf-test',
    retentionMs: 3_600_000,
  };
  const opened: Queue[] = [];
  return {
    name: 'Kafka',
    skip: KAFKA_BROKERS ? false : "needs PCF_TEST_KAFKA_BROKERS (a Kafka 3.5+ broker; kcat's mock cluster cannot serve this client, see kafka-queue.test.ts)",
    dedupes: false,
    open: async () => {
      const queue = await openKafkaQueue(options, silent);
      opened.push(queue);
      return queue;
    },
    cleanup: async () => {
      await Promise.allSettled(opened.map((q) => q.close()));
      if (opened.length === 0) return;
      const admin = new Admin({ clientId: 'pcf-test-cleanup', bootstrapBrokers: (KAFKA_BROKERS ?? '').split(',') });
      try {
        // The groups are named after the topic (`<topic>.<group>`).
        const all = await admin.listGroups().catch(() => new Map<string, unknown>());
        const groups = [...all.keys()].filter((id) => id.startsWith(`${options.topic}.`));
        if (groups.length > 0) await admin.deleteGroups({ groups }).catch(() => undefined);
        await admin.deleteTopics({ topics: [options.topic] }).catch(() => undefined);
      } finally {
        await admin.close();
      }
    },
  };
}

let lastSeq = 0;
const event = (topic = 'resource.updated'): QueueEvent => ({ id: newId(), seq: ++lastSeq, topic, payload: { n: Math.random() } });

/** Resolves when `check` holds, polling; fails after 5 s. */
async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// Two minutes a suite: on Kafka each new consumer group waits for the broker's initial
// rebalance delay (3 s by default) before its first subscriber gets a partition.
for (const adapter of [memoryAdapter(), natsAdapter(), kafkaAdapter()]) {
  describe(`queue contract (${adapter.name})`, { skip: adapter.skip, timeout: 120_000 }, () => {
    after(() => adapter.cleanup());

    it('delivers each published event once to a group, whichever instance consumes it', async () => {
      const [a, b] = [await adapter.open(), await adapter.open()];
      const seen: string[] = [];
      const group = `group-${randomBytes(3).toString('hex')}`;
      const subs = [await a.consume(group, async (e) => void seen.push(`a:${e.id}`)), await b.consume(group, async (e) => void seen.push(`b:${e.id}`))];
      const events = Array.from({ length: 20 }, () => event());
      for (const e of events) await a.publish(e);
      await until('20 deliveries', () => seen.length >= 20);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(seen.length, 20, 'no event twice');
      assert.deepEqual(new Set(seen.map((s) => s.slice(2))), new Set(events.map((e) => e.id)));
      await Promise.all(subs.map((s) => s.close()));
    });

    it('hands every broadcast subscriber every event published after it started, with its seq and payload', async () => {
      const [a, b] = [await adapter.open(), await adapter.open()];
      const got: Record<string, QueueEvent[]> = { a: [], b: [] };
      const subs = [await a.broadcast(async (e) => void got.a!.push(e)), await b.broadcast(async (e) => void got.b!.push(e))];
      const events = [event('resource.created'), event('resource.deleted'), event('role.changed')];
      for (const e of events) await b.publish(e);
      await until('both subscribers to see 3 events', () => got.a!.length >= 3 && got.b!.length >= 3);
      for (const side of ['a', 'b'])
        assert.deepEqual(
          got[side]!.map((e) => e.id),
          events.map((e) => e.id),
          `${side} in publish order`,
        );
      assert.deepEqual(got.a![0], events[0]);
      await Promise.all(subs.map((s) => s.close()));
    });

    it('hands a broadcast subscriber one event at a time, in publish order, even when its handler awaits', async () => {
      const queue = await adapter.open();
      const handled: string[] = [];
      let running = 0;
      let most = 0;
      const sub = await queue.broadcast(async (e) => {
        most = Math.max(most, ++running);
        // The first events take longest: a queue that does not wait would finish them last.
        await new Promise((resolve) => setTimeout(resolve, 5 * (6 - handled.length - running)));
        handled.push(e.id);
        running--;
      });
      const events = Array.from({ length: 5 }, () => event());
      for (const e of events) await queue.publish(e);
      await until('5 events handled', () => handled.length >= 5);
      assert.deepEqual(
        handled,
        events.map((e) => e.id),
        'in publish order',
      );
      assert.equal(most, 1, 'never two at once');
      await sub.close();
    });

    it('delivers an event again until its handler succeeds', async () => {
      const queue = await adapter.open();
      let attempts = 0;
      const group = `retry-${randomBytes(3).toString('hex')}`;
      const failing = event();
      const sub = await queue.consume(group, async (e) => {
        if (e.id !== failing.id) return;
        attempts++;
        if (attempts < 3) throw new Error('not yet');
      });
      await queue.publish(failing);
      await until('the third attempt', () => attempts >= 3);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(attempts, 3, 'not after it succeeded');
      await sub.close();
    });

    it('refuses a topic the broker could not route', async () => {
      const queue = await adapter.open();
      for (const topic of ['', 'a..b', 'a.*', 'a.>', 'with space']) {
        await assert.rejects(queue.publish({ id: newId(), seq: ++lastSeq, topic, payload: null }), TypeError, topic);
      }
    });
  });
}

for (const adapter of [natsAdapter(), kafkaAdapter()]) {
  describe(`queue contract: ${adapter.name} durability and deduplication`, { skip: adapter.skip, timeout: 120_000 }, () => {
    after(() => adapter.cleanup());

    it(
      'stores an event published twice with the same id once',
      { skip: adapter.dedupes ? false : 'this broker does not deduplicate: consumers do, by event id' },
      async () => {
        const queue = await adapter.open();
        const seen: string[] = [];
        const sub = await queue.consume('dedupe', async (e) => void seen.push(e.id));
        const twice = event();
        await queue.publish(twice);
        await queue.publish(twice);
        const other = event();
        await queue.publish(other);
        await until('two events', () => seen.length >= 2);
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.deepEqual(seen, [twice.id, other.id]);
        await sub.close();
      },
    );

    it('keeps the place of a group while none of its subscribers runs: events published meanwhile arrive later', async () => {
      const queue = await adapter.open();
      const first: string[] = [];
      const sub = await queue.consume('restart', async (e) => void first.push(e.id));
      const before = event();
      await queue.publish(before);
      await until('the first event', () => first.length >= 1);
      await sub.close();
      const missed = [event(), event()];
      for (const e of missed) await queue.publish(e);
      // Another instance takes the group over, as after a restart.
      const other = await adapter.open();
      const later: string[] = [];
      const resumed = await other.consume('restart', async (e) => void later.push(e.id));
      await until('the two events published while nobody consumed', () => later.length >= 2);
      assert.deepEqual(
        later,
        missed.map((e) => e.id),
      );
      await resumed.close();
    });

    it('starts a new group at its first subscription, even if that subscriber saw no event', async () => {
      const queue = await adapter.open();
      const group = `fresh-${randomBytes(3).toString('hex')}`;
      await (await queue.consume(group, async () => undefined)).close();
      const meanwhile = event();
      await queue.publish(meanwhile);
      const seen: string[] = [];
      const sub = await queue.consume(group, async (e) => void seen.push(e.id));
      await until('the event published between the two subscriptions', () => seen.length >= 1);
      assert.deepEqual(seen, [meanwhile.id]);
      await sub.close();
    });
  });
}

describe('in-process queue: redelivery backoff', () => {
  it('waits longer before each new attempt at a failing event, counting each event on its own', async () => {
    const asked: number[] = [];
    const queue = new MemoryQueue({ redeliveryDelay: (failures) => (asked.push(failures), 1) });
    const failures = new Map<string, number>();
    const sub = await queue.consume('backoff', async (e) => {
      const count = (failures.get(e.id) ?? 0) + 1;
      failures.set(e.id, count);
      if (count <= 3) throw new Error('not yet');
    });
    await queue.publish(event());
    await queue.publish(event());
    await until('both events to succeed', () => [...failures.values()].filter((n) => n === 4).length === 2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Each event: a first, second and third failure; none asked for after it succeeded.
    assert.deepEqual(
      asked.sort((a, b) => a - b),
      [1, 1, 2, 2, 3, 3],
    );
    await sub.close();
    await queue.close();
  });

  it('by default, tries a handler that keeps failing a few times a second at most, not every 100 ms', async () => {
    const queue = new MemoryQueue();
    let attempts = 0;
    const sub = await queue.consume('always-failing', async () => {
      attempts++;
      throw new Error('SMTP server down');
    });
    await queue.publish(event());
    await new Promise((resolve) => setTimeout(resolve, 1500));
    // Waits of 100, 200, 400, 800 ms (jitter takes up to half of each off) allow at most
    // five attempts in 1.5 s; a fixed 100 ms would have made about fifteen.
    assert.ok(attempts >= 2 && attempts <= 6, `${attempts} attempts in 1.5 s`);
    await sub.close();
    await queue.close();
  });
});

describe(
  'queue contract: NATS JetStream with foreign messages on its subjects',
  { skip: NATS_URL ? false : 'needs PCF_TEST_NATS_URL', timeout: 60_000 },
  () => {
    const adapter = natsAdapter();
    after(() => adapter.cleanup());

    it('skips messages that are not events, and a handler that throws, and goes on delivering to a group and a broadcast subscriber', async () => {
      const queue = (await adapter.open()) as NatsQueue;
      const grouped: string[] = [];
      const broadcast: string[] = [];
      const boom = event();
      // Throws at once rather than rejecting: the subscription must survive that too.
      const throwing: EventHandler = (e) => {
        if (e.id === boom.id) throw new Error('boom');
        broadcast.push(e.id);
        return Promise.resolve();
      };
      const subs = [await queue.consume('foreign', async (e) => void grouped.push(e.id)), await queue.broadcast(throwing)];
      const subject = `${queue.options.subjectPrefix}.resource.updated`;
      const js = jetstream(queue.connection);
      for (const body of ['not json', 'null', '[]', '"text"', '{"id":"x","seq":"1","topic":"t","payload":null}', '{"id":"x","seq":1,"topic":"t"}'])
        await js.publish(subject, body);
      await queue.publish(boom);
      const later = event();
      await queue.publish(later);
      await until('the group and the broadcast subscriber to get the last event', () => grouped.includes(later.id) && broadcast.includes(later.id));
      assert.deepEqual(grouped, [boom.id, later.id]);
      assert.deepEqual(broadcast, [later.id]);
      // The group acked the foreign messages: nothing is left waiting to come back.
      const info = await (await jetstreamManager(queue.connection)).consumers.info(queue.options.stream, 'foreign');
      assert.equal(info.num_ack_pending, 0);
      assert.equal(info.num_pending, 0);
      await Promise.all(subs.map((s) => s.close()));
    });
  },
);
