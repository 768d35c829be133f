import { sql } from 'kysely';
import { backoffDelay, sleep } from '../../core/backoff.js';
import type { Database } from '../../infra/database/index.js';
import type { Queue } from '../../infra/queue/port.js';
import type { Logger } from '../../infra/telemetry/logger.js';

/** Under concurrent writes, how long a pass waits for more rows to publish together. */
const COALESCE_MS = 10;
/** The advisory lock the publishing relay holds (an arbitrary number of ours). */
const RELAY_LOCK = 7_203_310_061;
/** publishPending's answer while another relay publishes. */
export const BUSY = -1;
/** How soon a relay looks again after finding another one publishing. */
const BUSY_RETRY_MS = 20;

export interface RelayOptions {
  /** How often the outbox is looked at when nothing nudges the relay. */
  pollIntervalMs: number;
  /** Rows published per transaction. */
  batchSize: number;
  /** Published rows are deleted after this long. */
  retentionMs: number;
  /** Longest wait between attempts while the queue is unreachable. */
  maxBackoffMs: number;
}

/**
 * The transactional outbox's relay: it publishes the rows services wrote with their changes,
 * in the order they were written, and marks them published. Every worker runs one; one
 * publishes at a time (an advisory lock), so batches never interleave. A crash between
 * publishing and marking publishes a row again, which consumers absorb by deduplicating on
 * the event id. While the queue is unreachable the rows wait in the outbox and the relay
 * retries with backoff: nothing is lost.
 */
export class OutboxRelay {
  #stopping = new AbortController();
  #running: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  /** A nudge that came during a pass: the next idle wait is skipped, so it is not lost. */
  #nudged = false;
  #lastPrune = 0;

  constructor(
    readonly database: Database,
    readonly queue: Queue,
    readonly options: RelayOptions,
    readonly log: Logger,
  ) {}

  /** Starts relaying in the background. */
  start(): void {
    this.#running ??= this.#loop().catch((err: unknown) => this.log.error({ err }, 'outbox relay stopped'));
  }

  /** Asks for a pass now (a change was just committed), instead of at the next poll. */
  nudge(): void {
    this.#nudged = true;
    this.#wake?.();
  }

  /**
   * Publishes what is pending, once; resolves with how many rows it published, or `BUSY`
   * when another instance's relay is publishing (it will take these rows too).
   */
  async publishPending(): Promise<number> {
    let failure: unknown;
    const count = await this.database.db.transaction().execute(async (tx) => {
      // One relay publishes at a time, across instances: two publishing side by side could
      // send a resource's later event before its earlier one, and a subscriber resuming
      // after the later one would never get the earlier. Released at commit.
      // Marking rows published need not wait for the disk either (set in the same round trip,
      // for this transaction): if a crash loses the mark, the rows are published again, which
      // consumers absorb (see above). The flush it skips would hold this connection, and the
      // pool, for a disk write per batch.
      const { rows: lock } = await sql<{ taken: boolean }>`
        SELECT pg_try_advisory_xact_lock(${RELAY_LOCK}) AS taken, set_config('synchronous_commit', 'off', true)`.execute(tx);
      if (!lock[0]?.taken) return BUSY;
      const rows = await tx
        .selectFrom('outbox')
        .select(['id', 'seq', 'topic', 'payload'])
        .where('published_at', 'is', null)
        // Commit order for each aggregate (ids come from clocks, before their commits).
        .orderBy('seq')
        .limit(this.options.batchSize)
        .forUpdate()
        .skipLocked()
        .execute();
      const published: string[] = [];
      try {
        for (const row of rows) {
          await this.queue.publish({ id: row.id, seq: Number(row.seq), topic: row.topic, payload: row.payload });
          published.push(row.id);
        }
      } catch (err) {
        // What went out is marked (and committed) even when the queue failed half-way;
        // the rest stays for the next attempt.
        failure = err;
      }
      if (published.length > 0)
        await tx
          .updateTable('outbox')
          .set({ published_at: sql`now()` })
          .where('id', 'in', published)
          .execute();
      return published.length;
    });
    if (failure !== undefined) throw failure;
    return count;
  }

  /** Deletes published rows older than the retention; resolves with how many. */
  async prune(): Promise<number> {
    const cutoff = new Date(Date.now() - this.options.retentionMs);
    const result = await this.database.db.deleteFrom('outbox').where('published_at', '<', cutoff).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async #loop(): Promise<void> {
    const signal = this.#stopping.signal;
    let busy = 0;
    for (let failures = 0; !signal.aborted;) {
      try {
        const count = await this.publishPending();
        if (failures > 0) this.log.info({ failures }, 'outbox relay publishing again');
        failures = 0;
        if (Date.now() - this.#lastPrune > Math.min(this.options.retentionMs, 60_000)) {
          this.#lastPrune = Date.now();
          const pruned = await this.prune();
          if (pruned > 0) this.log.debug({ pruned }, 'published outbox rows pruned');
        }
        // A full batch means more are waiting: go on at once. Several rows in one pass mean
        // writes are coming in concurrently: the next pass waits a moment to take more at once
        // (one transaction per batch, not per write). A lone write is published at once.
        if (count >= this.options.batchSize) continue;
        // Another instance is publishing: look again shortly, so rows committed here after
        // it took its batch do not wait for the next poll.
        if (count === BUSY) {
          busy++;
          await sleep(Math.min(BUSY_RETRY_MS * 2 ** (busy - 1), this.options.pollIntervalMs), signal);
          continue;
        }
        busy = 0;
        if (count > 1) await sleep(COALESCE_MS, signal);
        await this.#idle(this.options.pollIntervalMs);
      } catch (err) {
        if (signal.aborted) return;
        failures++;
        const delayMs = backoffDelay(failures, { initialMs: this.options.pollIntervalMs, maxMs: this.options.maxBackoffMs });
        if (failures === 1) this.log.warn({ err, delayMs }, 'outbox relay cannot publish; events wait in the outbox');
        else this.log.debug({ err, failures, delayMs }, 'outbox relay still cannot publish');
        await sleep(delayMs, signal);
      }
    }
  }

  #idle(ms: number): Promise<void> {
    if (this.#nudged) {
      this.#nudged = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        this.#nudged = false;
        this.#stopping.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
      this.#stopping.signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Stops after the pass under way. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#running;
  }
}
