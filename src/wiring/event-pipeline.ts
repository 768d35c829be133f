import type { Config, InstanceRole } from '../core/config/index.js';
import { backoffDelay, sleep } from '../core/backoff.js';
import type { Database, Wakeups } from '../infra/database/index.js';
import type { Mailer } from '../infra/mail/port.js';
import type { Queue } from '../infra/queue/index.js';
import type { Logger } from '../infra/telemetry/logger.js';
import type { GrantsStore } from '../services/auth/principals.js';
import { systemContext } from '../services/context.js';
import { TOPIC } from '../services/events/catalog.js';
import { TopicHandlers } from '../services/events/subscribe.js';
import { OutboxRelay } from '../services/events/relay.js';
import type { NotificationsService } from '../services/notifications/index.js';
import type { LiveEvents } from '../services/realtime/index.js';
import type { ResourcesService } from '../services/resources/index.js';
import type { Outbox } from '../services/shared/outbox.js';

/** How often notifications and Idempotency-Keys past their retention are deleted. */
const PRUNE_EVERY_MS = 3_600_000;

export interface EventPipelineDeps {
  config: Config;
  /** The instance's roles: only a `worker` relays, consumes the work-queue groups and prunes. */
  roles: ReadonlySet<InstanceRole>;
  database: Database;
  /** With PostgreSQL: how commits here reach the relay of another process (and how a worker hears of them). */
  wakeups?: Wakeups | undefined;
  /** Connects to the queue the configuration names; rejects while it cannot be reached. */
  openQueue: () => Promise<Queue>;
  outbox: Outbox;
  notifications: NotificationsService;
  /** This instance's live feeds, which every event reaches (the queue's broadcast). */
  live: LiveEvents;
  /** Their cached copies go when another instance's event says they changed. */
  resources: ResourcesService;
  grants: GrantsStore;
  mailer: Mailer;
  log: Logger;
}

/**
 * The flow of domain events in one instance: outbox → relay → queue → consumers. The
 * `notifications` group turns events into notifications (one instance handles each event),
 * the `email` group sends the ones users opted into, and every instance's broadcast
 * subscriber feeds its own live subscribers. The queue and its consumers are set up in the
 * background, with retries: until they are, events simply wait in the outbox.
 *
 * The relay, the two groups and the retention job run only on an instance with the `worker`
 * role. Every instance that serves requests (`api`, `auth`) subscribes to the broadcast: its
 * live feeds and its cached copies follow the changes made anywhere. An instance without the worker signals its commits over
 * `wakeups` instead of nudging a relay of its own; a worker listens for those signals.
 */
export class EventPipeline {
  #queue: Queue | undefined;
  #relay: OutboxRelay | undefined;
  readonly #stopping = new AbortController();
  #pruneTimer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #listening: { close(): Promise<void> } | undefined;

  constructor(readonly deps: EventPipelineDeps) {}

  get queue(): Queue | undefined {
    return this.#queue;
  }

  get #worker(): boolean {
    return this.deps.roles.has('worker');
  }

  /** Starts in the background; `started` resolves once events flow. */
  start(): void {
    // Signalled at once, queue or not: the worker relays what is committed here.
    const wakeups = this.deps.wakeups;
    if (!this.#worker && wakeups && !this.#stopping.signal.aborted) this.deps.outbox.listen(() => wakeups.signal());
    this.#running ??= this.#start().catch((err: unknown) => {
      if (!this.#stopping.signal.aborted) this.deps.log.error({ err }, 'event pipeline failed to start');
    });
  }

  /** Resolves when the pipeline runs (or gave up because the instance is stopping). */
  get started(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  /** Readiness: the pipeline runs and its queue answers. */
  async ping(): Promise<void> {
    if (!this.#queue) throw new Error('the event pipeline is not running yet');
    await this.#queue.ping();
  }

  async #start(): Promise<void> {
    const { config, log } = this.deps;
    const signal = this.#stopping.signal;
    for (let attempt = 1; !signal.aborted; attempt++) {
      let queue: Queue | undefined;
      try {
        queue = await this.deps.openQueue();
        await this.#subscribe(queue);
      } catch (err) {
        // Half set up (the broker went away between two calls): closed, and all tried again.
        await queue?.close().catch(() => undefined);
        if (signal.aborted) return;
        const delayMs = backoffDelay(attempt, { initialMs: 500, maxMs: config.events.maxBackoffMs });
        if (attempt === 1) log.warn({ err: { message: (err as Error).message }, delayMs }, 'message queue unreachable; events wait in the outbox');
        else log.debug({ err: { message: (err as Error).message }, attempt, delayMs }, 'message queue still unreachable');
        await sleep(delayMs, signal);
        continue;
      }
      if (signal.aborted) {
        await queue.close();
        return;
      }
      this.#queue = queue;
      if (this.#worker) this.#startWork(queue);
      log.info({ queue: queue.kind, attempt, relay: this.#worker }, 'event pipeline running');
      return;
    }
  }

  /** The worker's part: the relay (nudged by commits here and, with PostgreSQL, signalled by those elsewhere) and the retention job. */
  #startWork(queue: Queue): void {
    const { config, log, wakeups } = this.deps;
    const relay = new OutboxRelay(
      this.deps.database,
      queue,
      {
        pollIntervalMs: config.events.pollIntervalMs,
        batchSize: config.events.batchSize,
        retentionMs: config.events.retentionMs,
        maxBackoffMs: config.events.maxBackoffMs,
      },
      log,
    );
    this.#relay = relay;
    this.deps.outbox.listen(() => relay.nudge());
    this.#listening = wakeups?.listen(() => relay.nudge());
    relay.start();
    this.#startPruning();
  }

  /** The consumers, subscribed before the relay publishes anything, so no event passes them by. The queue's close() ends them. */
  async #subscribe(queue: Queue): Promise<void> {
    const { notifications: service, live, log } = this.deps;
    // Consumers act for no request: their changes carry no caller.
    const ctx = systemContext(log);
    if (this.#worker) {
      await queue.consume('notifications', async (event) => {
        await service.record(ctx, event);
      });
    }
    // A worker alone serves no requests: it has no live feeds and reads through no cached copies.
    if (this.deps.roles.has('api') || this.deps.roles.has('auth')) {
      const forgetCopies = this.#forgetCopies();
      await queue.broadcast(async (event) => {
        // Another instance's change: this one's cached copies of what changed go first, so that
        // what its subscribers (and its requests) read next is what the event says. Its own
        // changes refreshed its caches when they were made.
        if (!this.deps.outbox.isOwn(event.id)) {
          await forgetCopies.handle(event).catch((err: unknown) => log.warn({ err, topic: event.topic }, 'cached copies of a change could not be dropped'));
        }
        live.dispatch(event);
      });
    }
    if (this.#worker && this.deps.mailer.kind !== 'disabled') {
      await queue.consume('email', async (event) => {
        await service.deliverEmail(ctx, event);
      });
    }
  }

  /** What drops this instance's cached copies of what another instance's event changed (resource.created: nothing of it is cached yet). */
  #forgetCopies(): TopicHandlers {
    const { grants, resources } = this.deps;
    return (
      new TopicHandlers()
        .subscribe([TOPIC.roleAssigned, TOPIC.roleUnassigned, TOPIC.permissionGranted, TOPIC.permissionRevoked], ({ userId }) =>
          grants.changedElsewhere([userId]),
        )
        // A share is a permission of the user it names.
        .subscribe([TOPIC.resourceShared, TOPIC.resourceUnshared], async ({ id, userId }) => {
          if (userId) await grants.changedElsewhere([userId]);
          await resources.changedElsewhere(id);
        })
        // Its shares went with it.
        .subscribe(TOPIC.resourceDeleted, async ({ id, sharedWith }) => {
          if (sharedWith?.length) await grants.changedElsewhere(sharedWith);
          await resources.changedElsewhere(id);
        })
        .subscribe([TOPIC.resourceUpdated, TOPIC.resourceRestored], ({ id }) => resources.changedElsewhere(id))
    );
  }

  /** The retention job: notifications past `notifications.retentionMs`, Idempotency-Keys past 24 h (the relay prunes the outbox). */
  #startPruning(): void {
    const { notifications, resources, log } = this.deps;
    const prune = () =>
      Promise.all([
        notifications
          .prune()
          .then((n) => n > 0 && log.info({ pruned: n }, 'notifications past their retention deleted'))
          .catch((err: unknown) => log.warn({ err }, 'notifications could not be pruned')),
        resources
          .purgeExpiredIdempotencyKeys()
          .then((n) => n > 0 && log.info({ purged: n }, 'expired idempotency keys deleted'))
          .catch((err: unknown) => log.warn({ err }, 'expired idempotency keys could not be deleted')),
      ]);
    void prune();
    this.#pruneTimer = setInterval(prune, PRUNE_EVERY_MS);
    this.#pruneTimer.unref();
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
    await this.#listening?.close();
    await this.#relay?.stop();
    await this.#queue?.close();
  }
}
