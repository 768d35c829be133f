import type { Database } from '../../infra/database/index.js';
import type { NotificationsService } from '../notifications/index.js';
import type { ResourcesService } from '../resources/index.js';
import { LiveEvents } from './live.js';
import { LiveSubscriptions } from './subscriptions.js';

export * from './live.js';
export * from './subscriptions.js';

/** What real-time delivery is made of on one instance. */
export interface Realtime {
  /** This instance's live feeds, fed by the queue's broadcast. */
  live: LiveEvents;
  /** resourceChanged and notificationReceived over those feeds. */
  subscriptions: LiveSubscriptions;
}

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
