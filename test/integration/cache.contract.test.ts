import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createCache, type Cache, type CacheOptions } from '../../src/infra/cache/index.js';
import { createLogger } from '../../src/infra/telemetry/logger.js';

const logger = createLogger({ level: 'silent' });
const redisUrl = process.env.PCF_TEST_REDIS_URL ?? '';

// Every key of this run lives under runPrefix, so parallel runs never see each other's keys
// and the clean-up at the end removes exactly what this run wrote.
const runPrefix = `pcf-test:${process.pid}:${Date.now()}:`;
let prefixes = 0;

/** A prefix of its own for each cache, so cases cannot see each other's keys either. */
function uniquePrefix(): string {
  prefixes += 1;
  return `${runPrefix}${prefixes}:`;
}

function options(overrides: Partial<CacheOptions> = {}): CacheOptions {
  return { redisUrl: '', keyPrefix: uniquePrefix(), maxEntries: 100, defaultTtlMs: 60_000, ...overrides };
}

type MakeCache = (overrides?: Partial<CacheOptions>) => Cache;

/** The behaviour every adapter owes its callers; run once per adapter. */
function cacheContract(name: string, makeCache: MakeCache): void {
  describe(`cache contract: ${name}`, () => {
    let cache: Cache;
    const extra: Cache[] = [];
    /** A further cache for one case, closed with the suite. */
    const another: MakeCache = (overrides) => {
      const made = makeCache(overrides);
      extra.push(made);
      return made;
    };

    before(() => {
      cache = makeCache();
    });
    after(async () => {
      await Promise.all([cache, ...extra].map((c) => c.close()));
    });

    it('gives back values that cannot be changed by accident', async () => {
      await cache.set('immutable', { list: [{ n: 1 }], inner: { a: 'b' } });
      const got = await cache.get<{ list: { n: number }[]; inner: { a: string } }>('immutable');
      assert.ok(Object.isFrozen(got) && Object.isFrozen(got?.list[0]) && Object.isFrozen(got?.inner));
    });

    it('answers undefined for a missing key', async () => {
      assert.equal(await cache.get('missing'), undefined);
    });

    it('round-trips every kind of JSON value', async () => {
      const values: Record<string, unknown> = {
        nested: { a: 1, b: { c: [1, 'two', { d: true }], e: null }, f: 'é ünïcode ✓' },
        array: [1, [2, [3]], { x: 'y' }, null, false],
        emptyObject: {},
        emptyArray: [],
        string: 'hello',
        emptyString: '',
        number: 42.5,
        zero: 0,
        negative: -7,
        true: true,
        false: false,
        null: null,
      };
      for (const [key, value] of Object.entries(values)) await cache.set(key, value);
      for (const [key, value] of Object.entries(values)) {
        assert.deepEqual(await cache.get(key), value, `value under ${key}`);
      }
    });

    it('overwrites a key', async () => {
      await cache.set('overwrite', { v: 1 });
      await cache.set('overwrite', { v: 2 });
      assert.deepEqual(await cache.get('overwrite'), { v: 2 });
    });

    it('deletes one key and several keys', async () => {
      await cache.set('del-1', 1);
      await cache.set('del-2', 2);
      await cache.set('del-3', 3);
      await cache.set('keep', 4);
      await cache.delete('del-1');
      assert.equal(await cache.get('del-1'), undefined);
      assert.equal(await cache.get('del-2'), 2);
      await cache.delete('del-2', 'del-3');
      assert.equal(await cache.get('del-2'), undefined);
      assert.equal(await cache.get('del-3'), undefined);
      assert.equal(await cache.get('keep'), 4);
    });

    it('accepts deleting absent keys, and deleting nothing', async () => {
      await cache.delete('never-set');
      await cache.delete('never-set-a', 'never-set-b');
      await cache.delete();
    });

    it('treats storing undefined as removing the key', async () => {
      await cache.set('undef', 'present');
      await cache.set('undef', undefined);
      assert.equal(await cache.get('undef'), undefined);
    });

    it('expires an entry after its ttl', async () => {
      await cache.set('short', { v: 1 }, 50);
      await cache.set('long', { v: 2 }, 60_000);
      assert.deepEqual(await cache.get('short'), { v: 1 });
      await sleep(120);
      assert.equal(await cache.get('short'), undefined);
      assert.deepEqual(await cache.get('long'), { v: 2 });
    });

    it('applies defaultTtlMs when no ttl is given', async () => {
      const shortLived = another({ defaultTtlMs: 50 });
      await shortLived.set('default-ttl', 'soon gone');
      assert.equal(await shortLived.get('default-ttl'), 'soon gone');
      await sleep(120);
      assert.equal(await shortLived.get('default-ttl'), undefined);
    });

    it('rejects a ttl that is not a positive number', async () => {
      for (const ttl of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
        await assert.rejects(cache.set('bad-ttl', 1, ttl), RangeError, `ttl ${ttl}`);
      }
      assert.equal(await cache.get('bad-ttl'), undefined);
    });

    it('answers ping', async () => {
      await cache.ping();
    });

    it('closes idempotently', async () => {
      const closing = another();
      await closing.ping();
      await closing.close();
      await closing.close();
    });
  });
}

cacheContract('memory', (overrides) => createCache(options(overrides), logger));

describe('memory cache specifics', () => {
  it('is chosen when no Redis URL is given', async () => {
    const cache = createCache(options(), logger);
    assert.equal(cache.kind, 'memory');
    await cache.close();
  });

  it('evicts the least recently used entry beyond maxEntries', async () => {
    const cache = createCache(options({ maxEntries: 3 }), logger);
    await cache.set('a', 1);
    await cache.set('b', 2);
    await cache.set('c', 3);
    await cache.get('a'); // a is now more recent than b
    await cache.set('d', 4);
    assert.equal(await cache.get('b'), undefined);
    assert.equal(await cache.get('a'), 1);
    assert.equal(await cache.get('c'), 3);
    assert.equal(await cache.get('d'), 4);
    await cache.close();
  });

  it('stores the value itself, deeply frozen', async () => {
    const cache = createCache(options(), logger);
    const value = { list: [{ n: 1 }], inner: { s: 'x' } };
    await cache.set('frozen', value);
    const got = await cache.get<typeof value>('frozen');
    assert.equal(got, value, 'the same object, not a copy');
    assert.ok(Object.isFrozen(got));
    assert.ok(Object.isFrozen(got?.list));
    assert.ok(Object.isFrozen(got?.list[0]));
    assert.ok(Object.isFrozen(got?.inner));
    assert.throws(() => {
      (got as { inner: { s: string } }).inner.s = 'changed';
    }, TypeError);
    await cache.close();
  });
});

if (redisUrl !== '') {
  cacheContract('redis', (overrides) => createCache(options({ redisUrl, ...overrides }), logger));

  // A plain client, to look at what the adapter wrote and to clean up after the run.
  const raw = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  after(async () => {
    for await (const keys of raw.scanStream({ match: `${runPrefix}*`, count: 500 })) {
      if ((keys as string[]).length > 0) await raw.del(...(keys as string[]));
    }
    await raw.quit();
  });

  describe('redis cache specifics', () => {

    it('is chosen when a Redis URL is given', async () => {
      const cache = createCache(options({ redisUrl }), logger);
      assert.equal(cache.kind, 'redis');
      await cache.close();
    });

    it('writes every key under keyPrefix', async () => {
      const keyPrefix = uniquePrefix();
      const cache = createCache(options({ redisUrl, keyPrefix }), logger);
      try {
        await cache.set('prefixed', { v: 1 }, 10_000);
        assert.equal(await raw.get(`${keyPrefix}prefixed`), '{"v":1}');
        assert.equal(await raw.exists('prefixed'), 0);
        const ttl = await raw.pttl(`${keyPrefix}prefixed`);
        assert.ok(ttl > 0 && ttl <= 10_000, `pttl ${ttl}`);
        await cache.delete('prefixed');
        assert.equal(await raw.exists(`${keyPrefix}prefixed`), 0);
      } finally {
        await raw.del(`${keyPrefix}prefixed`);
        await cache.close();
      }
    });

    it('rejects quickly instead of hanging when Redis is unreachable', async () => {
      const cache = createCache(options({ redisUrl: 'redis://127.0.0.1:1' }), logger);
      try {
        // A driver error passes; the deadline's own error means the call hung.
        const driverError = (err: unknown): boolean => !(err instanceof DeadlineExceeded);
        await assert.rejects(withDeadline(cache.get('anything'), 3000), driverError);
        await assert.rejects(withDeadline(cache.ping(), 3000), driverError);
        await assert.rejects(withDeadline(cache.set('anything', 1), 3000), driverError);
      } finally {
        await cache.close();
        await cache.close();
      }
    });
  });
}

class DeadlineExceeded extends Error {}

/** Rejects with DeadlineExceeded if promise has not settled within ms. */
async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  const deadline = new AbortController();
  const timeout = sleep(ms, undefined, { signal: deadline.signal }).then(() => {
    throw new DeadlineExceeded(`no answer within ${ms} ms`);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    deadline.abort();
    timeout.catch(() => {});
  }
}
