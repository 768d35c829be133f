import { moduleLogger, type Logger } from '../telemetry/logger.js';
import { MemoryCache } from './memory.js';
import type { Cache, CacheOptions } from './port.js';
import { RedisCache } from './redis.js';

export type { Cache, CacheOptions, CounterState } from './port.js';
export { MemoryCache } from './memory.js';
export { RedisCache } from './redis.js';

/**
 * The cache for this process: Redis when a URL is configured (cluster mode, shared by every
 * instance), otherwise a bounded in-process LRU (embedded mode).
 */
export function createCache(options: CacheOptions, logger: Logger): Cache {
  if (options.redisUrl !== '') {
    return new RedisCache({ url: options.redisUrl, keyPrefix: options.keyPrefix, defaultTtlMs: options.defaultTtlMs }, moduleLogger(logger, 'cache'));
  }
  return new MemoryCache({ maxEntries: options.maxEntries, defaultTtlMs: options.defaultTtlMs });
}
