import type { Database } from '../infra/database/index.js';
import type { NotificationsService } from '../services/notifications/index.js';
import { LiveEvents, LiveSubscriptions, type Realtime } from '../services/realtime/index.js';
import type { ResourcesService } from '../services/resources/index.js';

/** Most events replayed to a reconnecting subscriber before it is told to resync instead. */
const REPLAY_LIMIT = 1000;

export function createRealtime(deps: { database: Database; resources: ResourcesService; notifications: NotificationsService }): Realtime {
  const live = new LiveEvents();
  const subscriptions = new LiveSubscriptions({
    database: deps.database,
    live,
    resources: deps.resources,
    notifications: deps.notifications,
    replayLimit: REPLAY_LIMIT,
  });
  return { live, subscriptions };
}
