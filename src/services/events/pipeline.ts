import type { Config } from '../../core/config/index.js';
import { backoffDelay, sleep } from '../../core/backoff.js';
import type { Database } from '../../infra/database/index.js';
import type { Mailer } from '../../infra/mail/port.js';
import { openQueue, type Queue } from '../../infra/queue/index.js';
import type { Logger } from '../../infra/telemetry/logger.js';
import type { Notifications } from '../notifications/index.js';
import type { OutboxSignal } from '../shared/outbox.js';
import { OutboxRelay } from './relay.js';

/** How often notifications past their retention are deleted. */
const PRUNE_EVERY_MS = 3_600_000;

/**
 * The flow of domain events in one instance: outbox → relay → queue → consumers. The
 * `notifications` group turns events into notifications (one instance handles each event),
 * the `email` group sends the ones users opted into, and every instance's broadcast
 * subscriber feeds its own live subscribers. The queue is opened in the background, with
 * retries: until it is, events simply wait in the outbox.
 */
export class EventPipeline {
  #queue: Queue | undefined;
  #relay: OutboxRelay | undefined;
  readonly #stopping = new AbortController();
  #pruneTimer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(
    readonly deps: { config: Config; database: Database; outbox: OutboxSignal; notifications: Notifications; mailer: Mailer; log: Logger },
  ) {}

  get queue(): Queue | undefined {
    return this.#queue;
  }

  /** Starts in the background; `started` resolves once events flow. */
  start(): void {
    this.#running ??= this.#start().catch((err: unknown) => {
      if (!this.#stopping.signal.aborted) this.deps.log.error({ err }, 'event pipeline failed to start');
    });
  }

  /** Resolves when the pipeline runs (or gave up because the instance is stopping). */
  get started(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  /** Readiness: the queue answers. */
  async ping(): Promise<void> {
    if (!this.#queue) throw new Error('the message queue is not connected yet');
    await this.#queue.ping();
  }

  async #start(): Promise<void> {
    const { config, log } = this.deps;
    const signal = this.#stopping.signal;
    for (let attempt = 1; !this.#queue; attempt++) {
      try {
        this.#queue = await openQueue({ url: config.queue.url, name: config.queue.name, retentionMs: config.queue.retentionMs }, log);
      } catch (err) {
        if (signal.aborted) return;
        const delayMs = backoffDelay(attempt, { initialMs: 500, maxMs: config.events.maxBackoffMs });
        if (attempt === 1) log.warn({ err: { message: (err as Error).message }, delayMs }, 'message queue unreachable; events wait in the outbox');
        await sleep(delayMs, signal);
        if (signal.aborted) return;
      }
    }
    if (signal.aborted) return;
    const { service, live } = this.deps.notifications;
    // Consumers subscribe before the relay publishes anything, so no event passes them by.
    // The queue's close() ends these subscriptions.
    await this.#queue.consume('notifications', async (event) => {
      await service.record(event);
    });
    await this.#queue.broadcast(async (event) => live.dispatch(event));
    if (signal.aborted) return;
    if (this.deps.mailer.kind !== 'disabled') {
      await this.#queue.consume('email', async (event) => {
        await service.deliverEmail(event);
      });
    }
    if (signal.aborted) return;
    this.#relay = new OutboxRelay(
      this.deps.database,
      this.#queue,
      { pollIntervalMs: config.events.pollIntervalMs, batchSize: config.events.batchSize, retentionMs: config.events.retentionMs, maxBackoffMs: config.events.maxBackoffMs },
      log,
    );
    this.deps.outbox.listen(() => this.#relay?.nudge());
    this.#relay.start();
    const prune = () =>
      service
        .prune()
        .then((n) => n > 0 && log.info({ pruned: n }, 'notifications past their retention deleted'))
        .catch((err: unknown) => log.warn({ err }, 'notifications could not be pruned'));
    void prune();
    this.#pruneTimer = setInterval(prune, PRUNE_EVERY_MS);
    this.#pruneTimer.unref();
    log.info({ queue: this.#queue.kind }, 'event pipeline running');
  }

  /**
   * Stops relaying (what is not published stays in the outbox for the next instance), then
   * closes the queue, which lets the handlers under way finish and ends the subscriptions.
   */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#running;
    clearInterval(this.#pruneTimer);
    this.deps.outbox.listen(undefined);
    await this.#relay?.stop();
    await this.#queue?.close();
  }
}
