import { createRequire } from 'node:module';
import type { Redis } from 'ioredis';
import type { Logger } from '../telemetry/logger.js';

export interface RedisClientOptions {
  /** redis:// or rediss:// URL; may hold a password, so it is never logged. */
  url: string;
  keyPrefix: string;
  /** Bound on each command (and on opening a connection, unless connectTimeoutMs is given). */
  timeoutMs: number;
  /** Bound on opening a connection; it opens in the background, so this costs no request. */
  connectTimeoutMs?: number;
  /** Longest wait between reconnection attempts while Redis is down. */
  maxReconnectDelayMs: number;
  /** What the log lines call this connection ("redis cache", "rate-limit store"). */
  label: string;
  /**
   * Send the commands issued in one event-loop tick as one write (ioredis auto-pipelining):
   * under load, N concurrent requests cost one round trip instead of N.
   */
  autoPipelining?: boolean;
}

/**
 * How long disconnect() waits for a socket to close before destroying it. ioredis arms this
 * timer even when the socket is already gone (closing while it waits to reconnect), and the
 * timer then runs out in full, holding the process open after close(); 2000 ms by default.
 */
const DISCONNECT_TIMEOUT_MS = 200;

/**
 * A Redis connection that fails fast: while Redis is unreachable every command rejects at
 * once (no offline queue, one retry) and the caller decides what a failure means. The client
 * keeps reconnecting in the background, so its users heal by themselves. Outages are logged
 * without flooding: one warning when one starts, one line when it ends.
 */
export function createRedisClient(options: RedisClientOptions, logger: Logger): Redis {
  // Loaded on first use: a server without Redis (the embedded start) never pays for it.
  const { Redis } = createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
  const client = new Redis(options.url, {
    keyPrefix: options.keyPrefix,
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: options.connectTimeoutMs ?? options.timeoutMs,
    // A server that accepts the connection but never answers must not hang a request.
    commandTimeout: options.timeoutMs,
    disconnectTimeout: DISCONNECT_TIMEOUT_MS,
    // Never give up (returning null would end the client for good); back off linearly.
    retryStrategy: (attempt) => Math.min(attempt * 200, options.maxReconnectDelayMs),
    enableAutoPipelining: options.autoPipelining ?? false,
  });
  let failing = false;
  // The listener also stops ioredis errors from becoming unhandled 'error' events.
  // Driver errors name host and port at most, never the URL's password.
  client.on('error', (err: Error) => {
    if (failing) {
      logger.debug({ err }, `${options.label} still unreachable`);
    } else {
      failing = true;
      logger.warn({ err }, `${options.label} unreachable; calls fail until it reconnects`);
    }
  });
  client.on('ready', () => {
    if (failing) logger.info(`${options.label} reconnected`);
    failing = false;
  });
  return client;
}

/** Ends a connection: QUIT when it is up, a plain disconnect when it is not. */
export async function closeRedisClient(client: Redis): Promise<void> {
  // quit rejects when the connection is down; disconnect drops it without a round trip.
  await client.quit().then(
    () => undefined,
    () => client.disconnect(),
  );
}
