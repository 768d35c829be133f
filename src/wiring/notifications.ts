import type { Config } from '../core/config/index.js';
import type { Database } from '../infra/database/index.js';
import type { Mailer } from '../infra/mail/port.js';
import { moduleLogger, type Logger } from '../infra/telemetry/logger.js';
import { NotificationsService } from '../services/notifications/notifications.service.js';
import type { UnitOfWork } from '../services/shared/unit-of-work.js';

export function createNotifications(deps: { database: Database; work: UnitOfWork; mailer: Mailer; config: Config; logger: Logger }): NotificationsService {
  return new NotificationsService({
    database: deps.database,
    work: deps.work,
    mailer: deps.mailer,
    retentionMs: deps.config.notifications.retentionMs,
    log: moduleLogger(deps.logger, 'notifications'),
  });
}
