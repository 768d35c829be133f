import { sql } from 'kysely';
import { backoffDelay, sleep } from '../../core/backoff.js';
import type { Database } from '../../infra/database/index.js';
import type { Queue } from '../../infra/queue/port.js';
import type { Logger } from '../../infra/telemetry/logger.js';

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
 * in id (time) order, and marks them published. Rows are taken with `FOR UPDATE SKIP
 * LOCKED`, so several instances relay side by side without publishing a row twice at the
 * same time; a crash between publishing and marking publishes it again, which consumers
 * absorb by deduplicating on the event id. While the queue is unreachable the rows wait in
 * the outbox and the relay retries with backoff: nothing is lost.
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

  /** Publishes what is pending, once; resolves with how many rows it published. */
  async publishPending(): Promise<number> {
    let failure: unknown;
    const count = await this.database.db.transaction().execute(async (tx) => {
      const rows = await tx
        .selectFrom('outbox')
        .select(['id', 'topic', 'payload'])
        .where('published_at', 'is', null)
        .orderBy('id')
        .limit(this.options.batchSize)
        .forUpdate()
        .skipLocked()
        .execute();
      const published: string[] = [];
      try {
        for (const row of rows) {
          await this.queue.publish({ id: row.id, topic: row.topic, payload: row.payload });
          published.push(row.id);
        }
      } catch (err) {
        // What went out is marked (and committed) even when the queue failed half-way;
        // the rest stays for the next attempt.
        failure = err;
      }
      if (published.length > 0) await tx.updateTable('outbox').set({ published_at: sql`now()` }).where('id', 'in', published).execute();
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
    for (let failures = 0; !signal.aborted; ) {
      try {
        const count = await this.publishPending();
        if (failures > 0) this.log.info({ failures }, 'outbox relay publishing again');
        failures = 0;
        if (Date.now() - this.#lastPrune > Math.min(this.options.retentionMs, 60_000)) {
          this.#lastPrune = Date.now();
          const pruned = await this.prune();
          if (pruned > 0) this.log.debug({ pruned }, 'published outbox rows pruned');
        }
        // A full batch means more are waiting: go on at once.
        if (count < this.options.batchSize) await this.#idle(this.options.pollIntervalMs);
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
