/**
 * Redis for the `pcf-redis` server: a reachability probe before it starts, and removal of
 * the keys it wrote (under its own key prefix) after it stops. Every key PCF writes carries
 * a TTL anyway (sessions and grants ≤ auth.cacheTtlMs), so a run that dies halfway leaves
 * nothing behind for long.
 */
import { Redis } from 'ioredis';

function client(url: string): Redis {
  return new Redis(url, {
    lazyConnect: true,
    connectTimeout: 2_000,
    commandTimeout: 5_000,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null, // one attempt: a probe must not keep reconnecting
  });
}

async function withClient<T>(url: string, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = client(url);
  // The socket's own error (ECONNREFUSED …) says more than the rejected call ("Connection is closed.").
  let socketError: Error | undefined;
  redis.on('error', (err: Error) => {
    socketError ??= err;
  });
  try {
    await redis.connect();
    return await fn(redis);
  } catch (err) {
    throw socketError ?? err;
  } finally {
    redis.disconnect();
  }
}

/** The Redis server's version, or throws with why it can't be reached. */
export async function probeRedis(url: string): Promise<string> {
  return withClient(url, async (redis) => {
    await redis.ping();
    const info = await redis.info('server');
    return /^redis_version:(\S+)/m.exec(info)?.[1] ?? 'unknown';
  });
}

/** A key prefix no other run (or a real PCF instance on the same Redis) uses. */
export function uniqueKeyPrefix(): string {
  return `pcf-bench:${Date.now().toString(36)}-${process.pid}:`;
}

/** Deletes every key under `prefix`; returns how many. */
export async function deleteKeysWithPrefix(url: string, prefix: string): Promise<number> {
  if (!/^[A-Za-z0-9:_-]+$/.test(prefix)) throw new Error(`refusing to delete keys under the unusual prefix "${prefix}"`);
  return withClient(url, async (redis) => {
    let deleted = 0;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
    return deleted;
  });
}
