import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PcfError } from '../../sdk/src/index.js';
import { followLive, type LiveFeed } from '../../web/src/live/follow.js';

/** A subscription that yields `events`, then ends (cleanly, or with `error`), or stays open. */
function feed<T>(events: T[], end: { error?: unknown; open?: boolean } = {}): LiveFeed<T> & { closed: boolean } {
  let closed = false;
  let wake: (() => void) | undefined;
  const iterator = {
    get closed() {
      return closed;
    },
    async *[Symbol.asyncIterator]() {
      for (const event of events) yield event;
      if (end.error !== undefined) throw end.error;
      if (end.open) await new Promise<void>((resolve) => (wake = resolve));
    },
    async return() {
      closed = true;
      wake?.();
    },
  };
  return iterator;
}

const until = async (condition: () => boolean) => {
  for (let i = 0; i < 200 && !condition(); i += 1) await new Promise((resolve) => setTimeout(resolve, 1));
  assert.ok(condition(), 'in time');
};

describe('console: following a live subscription', () => {
  it('subscribes again after an error the SDK does not retry, with a growing wait, and reads the count again', async () => {
    const controller = new AbortController();
    const feeds = [
      feed([1], { error: new PcfError({ code: 'INTERNAL_ERROR', status: 0, message: 'subscription failed' }) }),
      feed([], { error: new PcfError({ code: 'INVALID_INPUT', status: 0, message: 'The server closed the subscription (4409).' }) }),
      feed([2, 3], { open: true }),
    ];
    const log: string[] = [];
    const waits: number[] = [];
    let opened = 0;
    const done = followLive<number>({
      subscribe: () => feeds[opened++]!,
      onEvent: (n) => void log.push(`event ${n}`),
      onRestart: () => void log.push('recount'),
      isFatal: () => false,
      onFatal: () => assert.fail('not fatal'),
      signal: controller.signal,
      delayMs: (failures) => (waits.push(failures), 1),
    });
    await until(() => log.length === 5);
    assert.deepEqual(log, ['event 1', 'recount', 'recount', 'event 2', 'event 3']);
    // The second failure came before anything was delivered: a longer wait.
    assert.deepEqual(waits, [1, 2]);
    controller.abort();
    await done;
    assert.equal(feeds[2]!.closed, true, 'the open subscription is closed on stop');
    assert.equal(opened, 3);
  });

  it('starts the wait over once a subscription delivers', async () => {
    const controller = new AbortController();
    const failure = new PcfError({ code: 'INTERNAL_ERROR', status: 0, message: 'x' });
    const feeds = [feed([], { error: failure }), feed([1], { error: failure }), feed([], { open: true })];
    const waits: number[] = [];
    let opened = 0;
    const done = followLive<number>({
      subscribe: () => feeds[opened++]!,
      onEvent: () => undefined,
      onRestart: () => undefined,
      isFatal: () => false,
      onFatal: () => undefined,
      signal: controller.signal,
      delayMs: (failures) => (waits.push(failures), 1),
    });
    await until(() => opened === 3);
    assert.deepEqual(waits, [1, 1]);
    controller.abort();
    await done;
  });

  it('subscribes again at once after a clean end, and stops for good on a fatal error', async () => {
    const controller = new AbortController();
    const refused = new PcfError({ code: 'UNAUTHORIZED', status: 0, message: 'The server closed the subscription (4403).' });
    const feeds = [feed([1]), feed([], { error: refused }), feed([9], { open: true })];
    const fatal: unknown[] = [];
    let opened = 0;
    let delays = 0;
    await followLive<number>({
      subscribe: () => feeds[opened++]!,
      onEvent: () => undefined,
      onRestart: () => undefined,
      isFatal: (error) => error instanceof PcfError && error.code === 'UNAUTHORIZED',
      onFatal: (error) => fatal.push(error),
      signal: controller.signal,
      delayMs: () => (delays += 1),
    });
    assert.equal(opened, 2);
    assert.equal(delays, 0);
    assert.deepEqual(fatal, [refused]);
  });

  it('a stop during the wait ends it at once, without another subscription', async () => {
    const controller = new AbortController();
    let opened = 0;
    const done = followLive<number>({
      subscribe: () => (opened++, feed([], { error: new Error('boom') })),
      onEvent: () => undefined,
      onRestart: () => undefined,
      isFatal: () => false,
      onFatal: () => undefined,
      signal: controller.signal,
      delayMs: () => 60_000,
    });
    await until(() => opened === 1);
    const started = Date.now();
    controller.abort();
    await done;
    assert.ok(Date.now() - started < 1000);
    assert.equal(opened, 1);
  });
});
