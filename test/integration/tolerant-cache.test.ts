import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { isAppError } from '../../src/core/errors.js';
import { createCache, type Cache } from '../../src/infra/cache/index.js';
import { createLogger } from '../../src/infra/telemetry/logger.js';
import { isInvalidated, TolerantCache } from '../../src/services/shared/tolerant-cache.js';

const logger = createLogger({ level: 'silent' });
const redisUrl = process.env.PCF_TEST_REDIS_URL ?? '';
const prefix = `pcf-test:tolerant:${process.pid}:${Date.now()}:`;

describe('tolerant cache over Redis, with a near cache', { skip: redisUrl ? false : 'needs PCF_TEST_REDIS_URL' }, () => {
  const caches: Cache[] = [];
  const redis = (keyPrefix = prefix) => {
    const cache = createCache({ redisUrl, keyPrefix, maxEntries: 100, defaultTtlMs: 60_000 }, logger);
    caches.push(cache);
    return cache;
  };
  after(async () => {
    await Promise.all(caches.map((c) => c.close()));
  });

  it('serves a read from the process for the near ttl, then from Redis again', async () => {
    const shared = redis();
    const near = new TolerantCache(shared, logger, { ttlMs: 150, maxEntries: 10 });
    assert.equal(await near.add('k1', { v: 1 }, 60_000), true);
    // Another instance changes the shared entry (it invalidates it).
    await new TolerantCache(redis(), logger).invalidate(['k1'], 60_000);
    assert.deepEqual(await near.get('k1'), { v: 1 }, 'the near copy answers within its ttl');
    await sleep(250);
    assert.ok(isInvalidated(await near.get('k1')), 'then the shared marker is read');
  });

  it('drops its own near copy at once when it invalidates', async () => {
    const near = new TolerantCache(redis(), logger, { ttlMs: 60_000, maxEntries: 10 });
    await near.add('k2', { v: 2 }, 60_000);
    assert.deepEqual(await near.get('k2'), { v: 2 });
    await near.invalidate(['k2'], 60_000);
    assert.ok(isInvalidated(await near.get('k2')));
    assert.equal(await near.add('k2', { v: 3 }, 60_000), false, 'a late reader cannot put the old value back');
  });

  it('misses and declines to add while Redis is unreachable, but refuses to pretend an invalidation happened', async () => {
    const down = createCache({ redisUrl: 'redis://127.0.0.1:1', keyPrefix: prefix, maxEntries: 10, defaultTtlMs: 60_000 }, logger);
    caches.push(down);
    const tolerant = new TolerantCache(down, logger, { ttlMs: 60_000, maxEntries: 10 });
    assert.equal(await tolerant.get('k3'), undefined);
    assert.equal(await tolerant.add('k3', 1, 60_000), false);
    await assert.rejects(tolerant.invalidate(['k3'], 60_000), (err) => isAppError(err) && err.code === 'SERVICE_UNAVAILABLE');
  });
});
