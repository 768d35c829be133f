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

    it('adds a value only where none is stored', async () => {
      assert.equal(await cache.add('add-once', { v: 1 }, 60_000), true);
      assert.equal(await cache.add('add-once', { v: 2 }, 60_000), false, 'a present value wins');
      assert.deepEqual(await cache.get('add-once'), { v: 1 });
      await cache.set('add-marker', { invalidated: true }, 60_000);
      assert.equal(await cache.add('add-marker', { v: 3 }, 60_000), false, 'a marker written with set holds the key');
      assert.deepEqual(await cache.get('add-marker'), { invalidated: true });
    });

    it('adds again once the stored value has expired or been deleted', async () => {
      await cache.set('add-expiring', 'old', 50);
      await sleep(120);
      assert.equal(await cache.add('add-expiring', 'new', 60_000), true);
      assert.equal(await cache.get('add-expiring'), 'new');
      await cache.delete('add-expiring');
      assert.equal(await cache.add('add-expiring', 'newer', 60_000), true);
      assert.equal(await cache.get('add-expiring'), 'newer');
    });

    it('lets exactly one of concurrent adds win', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => cache.add('add-race', i, 60_000)));
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal(await cache.get('add-race'), results.indexOf(true));
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

    describe('counters', () => {
      it('creates a counter at 1 with the whole window ahead', async () => {
        const created = await cache.increment('counter-new', 10_000);
        assert.equal(created.count, 1);
        assert.ok(created.resetInMs > 9_000 && created.resetInMs <= 10_000, `resetInMs ${created.resetInMs}`);
      });

      it('counts up within the window', async () => {
        const counts: number[] = [];
        for (let i = 0; i < 5; i += 1) counts.push((await cache.increment('counter-up', 10_000)).count);
        assert.deepEqual(counts, [1, 2, 3, 4, 5]);
        assert.equal((await cache.readCounter('counter-up'))?.count, 5);
      });

      it('keeps the window fixed: increments never push its end back', async () => {
        const first = await cache.increment('counter-fixed', 300);
        await sleep(150);
        const second = await cache.increment('counter-fixed', 300);
        assert.equal(second.count, 2);
        assert.ok(second.resetInMs <= first.resetInMs - 100, `${second.resetInMs} after ${first.resetInMs}`);
        // A sliding window would now last until about 450 ms; the fixed one ended at 300 ms.
        await sleep(250);
        assert.equal(await cache.readCounter('counter-fixed'), undefined);
      });

      it('starts again at 1 once the window is over', async () => {
        await cache.increment('counter-expiry', 50);
        await cache.increment('counter-expiry', 50);
        await sleep(120);
        assert.equal(await cache.readCounter('counter-expiry'), undefined);
        const restarted = await cache.increment('counter-expiry', 10_000);
        assert.equal(restarted.count, 1);
        assert.ok(restarted.resetInMs > 9_000, 'the new window takes the new windowMs');
      });

      it('reads undefined for an absent counter, and the state of a present one unchanged', async () => {
        assert.equal(await cache.readCounter('counter-absent'), undefined);
        await cache.increment('counter-read', 10_000);
        await cache.increment('counter-read', 10_000);
        const read = await cache.readCounter('counter-read');
        assert.ok(read);
        assert.equal(read.count, 2);
        assert.ok(read.resetInMs > 0 && read.resetInMs <= 10_000, `resetInMs ${read.resetInMs}`);
        assert.equal((await cache.readCounter('counter-read'))?.count, 2, 'reading does not count');
        assert.equal((await cache.increment('counter-read', 10_000)).count, 3);
      });

      it('hands out every count exactly once to concurrent increments', async () => {
        const results = await Promise.all(Array.from({ length: 50 }, () => cache.increment('counter-race', 10_000)));
        const counts = results.map((r) => r.count).sort((a, b) => a - b);
        assert.deepEqual(
          counts,
          Array.from({ length: 50 }, (_, i) => i + 1),
        );
        assert.equal((await cache.readCounter('counter-race'))?.count, 50);
      });

      it('resets a counter on delete', async () => {
        await cache.increment('counter-reset', 10_000);
        await cache.increment('counter-reset', 10_000);
        await cache.delete('counter-reset');
        assert.equal(await cache.readCounter('counter-reset'), undefined);
        assert.equal((await cache.increment('counter-reset', 10_000)).count, 1);
      });

      it('keeps counters under different keys apart', async () => {
        await cache.increment('counter-a', 10_000);
        await cache.increment('counter-a', 10_000);
        assert.equal((await cache.increment('counter-b', 10_000)).count, 1);
        assert.equal((await cache.readCounter('counter-a'))?.count, 2);
        assert.equal((await cache.readCounter('counter-b'))?.count, 1);
      });

      it('keeps counters of caches with different prefixes apart', async () => {
        const other = another();
        await cache.increment('counter-shared-name', 10_000);
        assert.equal((await other.increment('counter-shared-name', 10_000)).count, 1);
        assert.equal((await cache.readCounter('counter-shared-name'))?.count, 1);
      });

      it('rejects a window that is not a positive number, and rounds fractions up', async () => {
        for (const windowMs of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
          await assert.rejects(cache.increment('counter-bad-window', windowMs), RangeError, `window ${windowMs}`);
        }
        assert.equal(await cache.readCounter('counter-bad-window'), undefined);
        const fractional = await cache.increment('counter-fraction', 10_000.4);
        assert.equal(fractional.count, 1);
        assert.ok(Number.isInteger(fractional.resetInMs) && fractional.resetInMs <= 10_001);
      });

      it('refuses to count a key that holds a value', async () => {
        await cache.set('counter-clash', { not: 'a counter' });
        await assert.rejects(cache.increment('counter-clash', 10_000));
        await assert.rejects(cache.readCounter('counter-clash'));
        assert.deepEqual(await cache.get('counter-clash'), { not: 'a counter' });
      });
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

  it('keeps counters in the same bounded LRU as values', async () => {
    const cache = createCache(options({ maxEntries: 2 }), logger);
    await cache.increment('counter', 60_000);
    await cache.set('a', 1);
    await cache.set('b', 2);
    assert.equal(await cache.readCounter('counter'), undefined, 'evicted as the least recently used');
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

    it('stores a counter as an integer under keyPrefix, expiring at the window end', async () => {
      const keyPrefix = uniquePrefix();
      const cache = createCache(options({ redisUrl, keyPrefix }), logger);
      try {
        await cache.increment('hits', 10_000);
        await cache.increment('hits', 10_000);
        assert.equal(await raw.get(`${keyPrefix}hits`), '2');
        assert.equal(await raw.exists('hits'), 0);
        const ttl = await raw.pttl(`${keyPrefix}hits`);
        assert.ok(ttl > 0 && ttl <= 10_000, `pttl ${ttl}`);
      } finally {
        await cache.close();
      }
    });

    it('gives a counter without expiry one, instead of keeping it for good', async () => {
      const keyPrefix = uniquePrefix();
      const cache = createCache(options({ redisUrl, keyPrefix }), logger);
      try {
        await raw.set(`${keyPrefix}stuck`, '7');
        const next = await cache.increment('stuck', 5_000);
        assert.equal(next.count, 8);
        assert.ok(next.resetInMs > 0 && next.resetInMs <= 5_000, `resetInMs ${next.resetInMs}`);
      } finally {
        await cache.close();
      }
    });

    it('counts atomically across instances sharing Redis', async () => {
      const keyPrefix = uniquePrefix();
      const instances = [1, 2, 3].map(() => createCache(options({ redisUrl, keyPrefix }), logger));
      try {
        const results = await Promise.all(Array.from({ length: 60 }, (_, i) => instances[i % instances.length]!.increment('shared', 10_000)));
        const counts = results.map((r) => r.count).sort((a, b) => a - b);
        assert.deepEqual(
          counts,
          Array.from({ length: 60 }, (_, i) => i + 1),
        );
        for (const instance of instances) assert.equal((await instance.readCounter('shared'))?.count, 60);
      } finally {
        await Promise.all(instances.map((c) => c.close()));
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
        await assert.rejects(withDeadline(cache.increment('anything', 1000), 3000), driverError);
        await assert.rejects(withDeadline(cache.readCounter('anything'), 3000), driverError);
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
