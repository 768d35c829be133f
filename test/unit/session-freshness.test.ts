import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { appError } from '../../src/core/errors.js';
import type { Principal } from '../../src/services/auth/principals.js';
import { SessionFreshness, type FreshnessClock, type FreshnessEvents } from '../../src/services/auth/session-freshness.js';
import type { SessionsRevokedPayload } from '../../src/services/events/catalog.js';

/** A clock that moves only when told, firing its timers on the way. */
class FakeClock implements FreshnessClock {
  #now = 0;
  #timers = new Set<{ ms: number; next: number; tick: () => void }>();

  now(): number {
    return this.#now;
  }

  every(ms: number, tick: () => void): () => void {
    const timer = { ms, next: this.#now + ms, tick };
    this.#timers.add(timer);
    return () => this.#timers.delete(timer);
  }

  /** Moves on by `ms`, running every timer that falls due, then lets their lookups settle. */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    for (;;) {
      const due = [...this.#timers].filter((t) => t.next <= until).sort((a, b) => a.next - b.next)[0];
      if (!due) break;
      this.#now = due.next;
      due.next += due.ms;
      due.tick();
      await settle();
    }
    this.#now = until;
    await settle();
  }

  get timers(): number {
    return this.#timers.size;
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

const client = { ip: '192.0.2.1', userAgent: 'test', traceId: undefined };

function principal(sessionId: string, userId = 'u1'): Principal {
  return { user: { id: userId }, roles: [], permissions: [], ability: {}, sessionId } as unknown as Principal;
}

/** Records what the service tells a tracked session. */
function recorder(): FreshnessEvents & { said: string[] } {
  const said: string[] = [];
  return { said, ended: () => said.push('ended'), unverifiable: () => said.push('unverifiable'), grantsChanged: () => said.push('grantsChanged') };
}

/** An authenticate function whose answer per token a test sets, counting calls. */
function sessions() {
  const answers = new Map<string, () => Promise<Principal | undefined>>();
  const calls: { token: string; freshGrants: boolean }[] = [];
  return {
    calls,
    answer(token: string, answer: () => Promise<Principal | undefined>) {
      answers.set(token, answer);
    },
    authenticate: (token: string, _client: unknown, options: { freshGrants: boolean }) => {
      calls.push({ token, freshGrants: options.freshGrants });
      return answers.get(token)?.() ?? Promise.reject(appError('UNAUTHORIZED', 'no such session'));
    },
  };
}

function setUp(intervalMs = 1000) {
  const clock = new FakeClock();
  const store = sessions();
  const listeners: ((revoked: SessionsRevokedPayload) => void)[] = [];
  const freshness = new SessionFreshness({
    authenticate: store.authenticate,
    intervalMs,
    clock,
    revocations: [
      (listener) => {
        listeners.push(listener);
        return () => listeners.splice(listeners.indexOf(listener), 1);
      },
    ],
  });
  const revoke = (payload: SessionsRevokedPayload) => listeners.forEach((l) => l(payload));
  return { clock, store, freshness, revoke, listeners };
}

describe('session freshness', () => {
  it('checks each signed-in session every interval, one lookup per token, and leaves anonymous ones alone', async () => {
    const { clock, store, freshness } = setUp(1000);
    const p = principal('s1');
    store.answer('t1', async () => p);
    const a = recorder();
    const b = recorder();
    freshness.track('t1', client, p, a);
    freshness.track('t1', client, p, b);
    freshness.track(undefined, client, undefined, recorder());
    await clock.advance(999);
    assert.equal(store.calls.length, 0, 'nothing before the first interval');
    await clock.advance(1);
    assert.deepEqual(store.calls, [{ token: 't1', freshGrants: false }]);
    await clock.advance(2000);
    assert.equal(store.calls.length, 3);
    assert.deepEqual([a.said, b.said], [[], []], 'an unchanged session is not reported');
    freshness.close();
  });

  it('ends a session whose lookup says it is gone, but not one whose store cannot answer', async () => {
    const { clock, store, freshness } = setUp(1000);
    store.answer('alive', async () => principal('s1'));
    store.answer('flaky', async () => Promise.reject(appError('SERVICE_UNAVAILABLE', 'down')));
    const expired = recorder();
    const flaky = recorder();
    freshness.track('expired', client, principal('s0'), expired);
    freshness.track('flaky', client, principal('s2'), flaky);
    await clock.advance(1000);
    assert.deepEqual(expired.said, ['ended']);
    assert.deepEqual(flaky.said, []);
    freshness.close();
  });

  it('calls a session that cannot be checked for three intervals and five seconds unverifiable', async () => {
    const { clock, store, freshness } = setUp(1000);
    store.answer('flaky', async () => Promise.reject(appError('SERVICE_UNAVAILABLE', 'down')));
    const flaky = recorder();
    freshness.track('flaky', client, principal('s2'), flaky);
    await clock.advance(8000);
    assert.deepEqual(flaky.said, [], 'not within 3 × 1 s + 5 s');
    await clock.advance(1000);
    assert.deepEqual(flaky.said, ['unverifiable']);
    freshness.close();
  });

  it('tells a session whose grants changed, and keeps the new caller', async () => {
    const { clock, store, freshness } = setUp(1000);
    const before = principal('s1');
    const after = principal('s1');
    store.answer('t1', async () => after);
    const events = recorder();
    const session = freshness.track('t1', client, before, events);
    await clock.advance(1000);
    assert.deepEqual(events.said, ['grantsChanged']);
    assert.equal(session.principal, after);
    freshness.close();
  });

  it('does not let a cached lookup undo grants just read from the database', async () => {
    const { clock, store, freshness } = setUp(1000);
    const stale = principal('s1');
    const fresh = principal('s1');
    store.answer('t1', async () => fresh);
    const session = freshness.track('t1', client, stale, recorder());
    await clock.advance(500);
    assert.equal(await session.refresh(), fresh);
    // The cache still serves the old grants for a while.
    store.answer('t1', async () => stale);
    await clock.advance(1000);
    assert.equal(session.principal, fresh, 'within 2 s of the database read');
    await clock.advance(2000);
    assert.equal(session.principal, stale, 'afterwards the periodic check is believed again');
    freshness.close();
  });

  it('shares one database lookup among the feeds signalled before it started', async () => {
    const { clock, store, freshness } = setUp(60_000);
    store.answer('t1', async () => principal('s1'));
    const session = freshness.track('t1', client, principal('s1'), recorder());
    await clock.advance(10);
    const signalledAt = clock.now();
    await clock.advance(10);
    const first = session.refresh(signalledAt);
    const second = session.refresh(signalledAt);
    assert.equal(first, second);
    assert.equal(store.calls.filter((c) => c.freshGrants).length, 1);
    // A signal after that lookup started needs a new one.
    await first;
    await clock.advance(10);
    const third = session.refresh(clock.now());
    assert.notEqual(third, first);
    await third;
    freshness.close();
  });

  it('ends the tracked sessions a revocation names, and only those', async () => {
    const { freshness, revoke } = setUp(1000);
    const mine = recorder();
    const other = recorder();
    const otherUser = recorder();
    freshness.track('t1', client, principal('s1', 'u1'), mine);
    freshness.track('t2', client, principal('s2', 'u1'), other);
    freshness.track('t3', client, principal('s1', 'u2'), otherUser);
    revoke({ userId: 'u1', sessionIds: ['s1'] } as SessionsRevokedPayload);
    assert.deepEqual([mine.said, other.said, otherUser.said], [['ended'], [], []]);
    freshness.close();
  });

  it('forgets untracked sessions, and stops its timer and listeners on close', async () => {
    const { clock, store, freshness, listeners } = setUp(1000);
    store.answer('t1', async () => principal('s1'));
    const session = freshness.track('t1', client, principal('s1'), recorder());
    freshness.untrack(session);
    await clock.advance(1000);
    assert.equal(store.calls.length, 0);
    freshness.close();
    assert.equal(clock.timers, 0);
    assert.equal(listeners.length, 0);
  });
});
