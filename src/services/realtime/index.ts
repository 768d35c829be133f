import type { LiveEvents } from './live.js';
import type { LiveSubscriptions } from './subscriptions.js';

export * from './live.js';
export * from './subscriptions.js';

/** What real-time delivery is made of on one instance (src/wiring/realtime.ts assembles it). */
export interface Realtime {
  /** This instance's live feeds, fed by the queue's broadcast. */
  live: LiveEvents;
  /** resourceChanged and notificationReceived over those feeds. */
  subscriptions: LiveSubscriptions;
}
