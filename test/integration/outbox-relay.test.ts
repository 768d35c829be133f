import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { createDatabase, type Database } from '../../src/infra/database/index.js';
import { MemoryQueue } from '../../src/infra/queue/memory.js';
import type { Queue, QueueEvent } from '../../src/infra/queue/port.js';
import { createLogger } from '../../src/infra/telemetry/logger.js';
import { BUSY, OutboxRelay, type RelayOptions } from '../../src/services/events/relay.js';
import { TOPIC, type ResourceEventPayload } from '../../src/services/events/catalog.js';
import { Outbox } from '../../src/services/shared/outbox.js';
import { newId } from '../../src/core/ids.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../support/databases.js';

/**
 * The outbox relay against a real database (PGlite, and PostgreSQL when configured): what a
 * transaction commits is published in order and marked, what it rolls back never is, a
 * queue failing half-way loses nothing, concurrent relays publish each row once.
 */
const silent = createLogger({ level: 'silent' });
const OPTIONS: RelayOptions = { pollIntervalMs: 50, batchSize: 10, retentionMs: 3_600_000, maxBackoffMs: 200 };

const outbox = new Outbox();

/** The event of a new resource, its `version` standing for the event's place in a test. */
const resourceEvent = (version: number): ResourceEventPayload => {
  const id = newId();
  return { id, ownerId: newId(), name: 'Doc', type: 'doc', createdAt: new Date().toISOString(), metadata: {}, version, actorId: newId() };
};

/** A queue that records what it was given, and can be told to fail after n more events. */
class RecordingQueue extends MemoryQueue {
  readonly published: QueueEvent[] = [];
  failAfter = Infinity;
  override async publish(event: QueueEvent): Promise<void> {
    if (this.failAfter-- <= 0) throw new Error('broker unreachable');
    this.published.push(event);
    await super.publish(event);
  }
}

for (const kind of DATABASE_KINDS) {
  describe(`outbox relay (${kind})`, () => {
    let testDb: TestDatabase;
    let database: Database;
    before(async () => {
      testDb = await createTestDatabase(kind);
      database = createDatabase(testDb.options, silent);
    });
    after(async () => {
      await database.close();
      await testDb.drop();
    });

    /** Commits `n` events of `n` resources in one transaction, as a service does with its change; `version` numbers them. */
    async function commitEvents(n: number, topic: typeof TOPIC.resourceUpdated | typeof TOPIC.resourceDeleted = TOPIC.resourceUpdated): Promise<string[]> {
      const ids: string[] = [];
      await database.db.transaction().execute(async (tx) => {
        for (let i = 0; i < n; i++) {
          const payload = resourceEvent(i);
          await outbox.write(tx, { topic, payload });
          ids.push(payload.id);
        }
      });
      return ids;
    }

    const pending = async () =>
      Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL`.execute(database.db)).rows[0]!.n);

    it('publishes committed events in order, marks them, and publishes nothing twice', async () => {
      const queue = new RecordingQueue();
      const relay = new OutboxRelay(database, queue, OPTIONS, silent);
      const aggregates = await commitEvents(15);
      assert.equal(await relay.publishPending(), 10, 'one batch');
      assert.equal(await relay.publishPending(), 5);
      assert.equal(await relay.publishPending(), 0);
      assert.deepEqual(
        queue.published.map((e) => (e.payload as ResourceEventPayload).version),
        [...Array(15).keys()],
      );
      const ids = queue.published.map((e) => e.id);
      assert.deepEqual(ids, [...ids].sort(), 'in id (time) order');
      assert.equal(new Set(ids).size, 15);
      assert.equal(await pending(), 0);
      assert.equal(aggregates.length, 15);
      await queue.close();
    });

    it('publishes nothing for a transaction that rolled back', async () => {
      const queue = new RecordingQueue();
      const relay = new OutboxRelay(database, queue, OPTIONS, silent);
      await assert.rejects(
        database.db.transaction().execute(async (tx) => {
          await outbox.write(tx, { topic: TOPIC.resourceCreated, payload: resourceEvent(0) });
          throw new Error('the change failed');
        }),
        /the change failed/,
      );
      assert.equal(await relay.publishPending(), 0);
      assert.deepEqual(queue.published, []);
      await queue.close();
    });

    it('keeps what a failing queue did not take, and publishes it once the queue is back', async () => {
      const queue = new RecordingQueue();
      const relay = new OutboxRelay(database, queue, OPTIONS, silent);
      await commitEvents(5);
      queue.failAfter = 2;
      await assert.rejects(relay.publishPending(), /broker unreachable/);
      assert.equal(queue.published.length, 2);
      assert.equal(await pending(), 3, 'the two published are marked, committed; three wait');
      queue.failAfter = Infinity;
      assert.equal(await relay.publishPending(), 3);
      assert.equal(new Set(queue.published.map((e) => e.id)).size, 5);
      await queue.close();
    });

    it("runs in the background: a nudge publishes a committed event to the queue's consumers at once", async () => {
      const queue: Queue = new MemoryQueue();
      const relay = new OutboxRelay(database, queue, { ...OPTIONS, pollIntervalMs: 60_000 }, silent);
      const received: QueueEvent[] = [];
      await queue.consume('test', async (e) => void received.push(e));
      relay.start();
      try {
        const [aggregate] = await commitEvents(1, 'resource.deleted');
        relay.nudge();
        const deadline = Date.now() + 5000;
        while (received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        assert.equal(received.length, 1, 'delivered without waiting for the (one minute) poll');
        assert.equal(received[0]!.topic, 'resource.deleted');
        assert.equal((received[0]!.payload as ResourceEventPayload).version, 0);
        assert.ok(aggregate);
      } finally {
        await relay.stop();
      }
      await queue.close();
    });

    it('deletes published rows past the retention, never pending ones', async () => {
      const queue = new RecordingQueue();
      const relay = new OutboxRelay(database, queue, { ...OPTIONS, retentionMs: 1000 }, silent);
      await commitEvents(2);
      await relay.publishPending();
      await commitEvents(1);
      await sql`UPDATE outbox SET published_at = now() - interval '1 hour' WHERE published_at IS NOT NULL`.execute(database.db);
      // The pending row waited past the retention too (a broker down for days): only being unpublished keeps it.
      await sql`UPDATE outbox SET created_at = now() - interval '2 days'`.execute(database.db);
      assert.ok((await relay.prune()) >= 2);
      const rows = (await sql<{ n: number }>`SELECT count(*)::int AS n FROM outbox`.execute(database.db)).rows[0]!.n;
      assert.equal(rows, 1, 'only the pending row is left');
      await relay.publishPending();
      await queue.close();
    });

    if (kind === 'postgres') {
      it('lets several relays run side by side: one publishes at a time, in commit order, no row twice', async () => {
        const queue = new RecordingQueue();
        const aggregates = await commitEvents(60);
        const relays = [0, 1, 2].map(() => new OutboxRelay(database, queue, OPTIONS, silent));
        const counts = await Promise.all(
          relays.map(async (relay) => {
            let total = 0;
            for (;;) {
              const n = await relay.publishPending();
              if (n === 0) return total;
              if (n === BUSY) {
                await new Promise((resolve) => setTimeout(resolve, 2));
                continue;
              }
              total += n;
            }
          }),
        );
        assert.equal(
          counts.reduce((a, b) => a + b, 0),
          60,
        );
        assert.equal(new Set(queue.published.map((e) => e.id)).size, 60);
        assert.equal(queue.published.length, 60, 'no row published twice');
        const published = await database.db
          .selectFrom('outbox')
          .select(['id', 'aggregate_id'])
          .where(
            'id',
            'in',
            queue.published.map((e) => e.id),
          )
          .execute();
        const aggregateOf = new Map(published.map((r) => [r.id, r.aggregate_id]));
        assert.deepEqual(
          queue.published.map((e) => aggregateOf.get(e.id)),
          aggregates,
          'published in the order they were written',
        );
        await queue.close();
      });
    }
  });
}
