import type { Config } from '../../core/config/index.js';
import type { Database } from '../../infra/database/index.js';
import type { Mailer } from '../../infra/mail/port.js';
import { moduleLogger, type Logger } from '../../infra/telemetry/logger.js';
import type { ResourcesService } from '../resources/index.js';
import type { Outbox } from '../shared/outbox.js';
import { LiveEvents } from './live.js';
import { NotificationsService } from './notifications.service.js';
import { LiveSubscriptions } from './subscriptions.js';

export * from './kinds.js';
export * from './live.js';
export * from './notifications.service.js';
export * from './subscriptions.js';

export interface Notifications {
  service: NotificationsService;
  /** This instance's live subscribers, fed by the queue's broadcast. */
  live: LiveEvents;
  subscriptions: LiveSubscriptions;
}

/** Most events replayed to a reconnecting subscriber before it is told to resync instead. */
const REPLAY_LIMIT = 1000;

export function createNotifications(deps: { database: Database; outbox: Outbox; mailer: Mailer; resources: ResourcesService; live: LiveEvents; config: Config; logger: Logger }): Notifications {
  const service = new NotificationsService({
    database: deps.database,
    outbox: deps.outbox,
    mailer: deps.mailer,
    retentionMs: deps.config.notifications.retentionMs,
    log: moduleLogger(deps.logger, 'notifications'),
  });
  const subscriptions = new LiveSubscriptions({ database: deps.database, live: deps.live, resources: deps.resources, notifications: service, replayLimit: REPLAY_LIMIT });
  return { service, live: deps.live, subscriptions };
}
