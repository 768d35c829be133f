import type { Config } from '../core/config/index.js';
import type { Database } from '../infra/database/index.js';
import type { Mailer } from '../infra/mail/port.js';
import { moduleLogger, type Logger } from '../infra/telemetry/logger.js';
import { NotificationsService } from '../services/notifications/notifications.service.js';
import type { Outbox } from '../services/shared/outbox.js';

export function createNotifications(deps: { database: Database; outbox: Outbox; mailer: Mailer; config: Config; logger: Logger }): NotificationsService {
  return new NotificationsService({
    database: deps.database,
    outbox: deps.outbox,
    mailer: deps.mailer,
    retentionMs: deps.config.notifications.retentionMs,
    log: moduleLogger(deps.logger, 'notifications'),
  });
}
