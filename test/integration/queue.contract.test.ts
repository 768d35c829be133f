import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { newId } from '../../src/core/ids.js';
import { MemoryQueue } from '../../src/infra/queue/memory.js';
import { NatsQueue } from '../../src/infra/queue/nats.js';
import type { Queue, QueueEvent } from '../../src/infra/queue/port.js';
import { createLogger } from '../../src/infra/telemetry/logger.js';

/**
 * The queue port's contract, run against every adapter this machine can reach: in-process
 * always, NATS JetStream when PCF_TEST_NATS_URL is set (CI sets it). Kafka has no adapter yet.
 */
const NATS_URL = process.env.PCF_TEST_NATS_URL;
const silent = createLogger({ level: 'silent' });

interface Adapter {
  name: string;
  skip: string | false;
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

const event = (topic = 'resource.updated'): QueueEvent => ({ id: newId(), topic, payload: { n: Math.random() } });

/** Resolves when `check` holds, polling; fails after 5 s. */
async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

for (const adapter of [memoryAdapter(), natsAdapter()]) {
  describe(`queue contract (${adapter.name})`, { skip: adapter.skip, timeout: 60_000 }, () => {
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

    it('hands every broadcast subscriber every event published after it started, with its payload', async () => {
      const [a, b] = [await adapter.open(), await adapter.open()];
      const got: Record<string, QueueEvent[]> = { a: [], b: [] };
      const subs = [await a.broadcast(async (e) => void got.a!.push(e)), await b.broadcast(async (e) => void got.b!.push(e))];
      const events = [event('resource.created'), event('resource.deleted'), event('role.changed')];
      for (const e of events) await b.publish(e);
      await until('both subscribers to see 3 events', () => got.a!.length >= 3 && got.b!.length >= 3);
      for (const side of ['a', 'b']) assert.deepEqual(got[side]!.map((e) => e.id), events.map((e) => e.id), `${side} in publish order`);
      assert.deepEqual(got.a![0], events[0]);
      await Promise.all(subs.map((s) => s.close()));
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
        await assert.rejects(queue.publish({ id: newId(), topic, payload: null }), TypeError, topic);
      }
    });
  });
}

describe('queue contract: NATS JetStream durability and deduplication', { skip: NATS_URL ? false : 'needs PCF_TEST_NATS_URL', timeout: 60_000 }, () => {
  const adapter = natsAdapter();
  after(() => adapter.cleanup());

  it('stores an event published twice with the same id once', async () => {
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
  });

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
    assert.deepEqual(later, missed.map((e) => e.id));
    await resumed.close();
  });
});
