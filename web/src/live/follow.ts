/** An open live subscription, as `pcf.live.notifications()` returns one. */
export interface LiveFeed<T> extends AsyncIterable<T> {
  return(): Promise<unknown>;
}

export interface FollowOptions<T> {
  /** Opens a new subscription (called again whenever the last one ended). */
  subscribe(): LiveFeed<T>;
  onEvent(event: T): Promise<void> | void;
  /**
   * Called once a subscription replaced one that had ended: whatever happened in between was
   * not delivered, so what the events keep current is read again.
   */
  onRestart(): Promise<void> | void;
  /** An error that no new subscription can help (the session ended): following stops. */
  isFatal(error: unknown): boolean;
  onFatal(error: unknown): void;
  /** Stops following: the open subscription is closed, a wait is cut short. */
  signal: AbortSignal;
  /** The wait before the nth new subscription after an error (n from 1). */
  delayMs?(failures: number): number;
}

/** 1 s, 2 s, 4 s… up to a minute, with some jitter so many tabs do not come back at once. */
export const followBackoff = (failures: number): number => Math.min(60_000, 1000 * 2 ** (failures - 1)) * (0.8 + Math.random() * 0.4);

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Follows a live subscription for as long as `signal` allows. The SDK's iterators reconnect by
 * themselves after a network loss; what ends one is the server closing it (a new sign-in), or
 * an error it will not retry (too many connections, a failed subscription…). Then a new one is
 * opened: at once after a clean end, after a growing wait after an error, and never after a
 * fatal one. The wait starts over once a subscription delivers.
 */
export async function followLive<T>(options: FollowOptions<T>): Promise<void> {
  const { subscribe, onEvent, onRestart, isFatal, onFatal, signal, delayMs = followBackoff } = options;
  let failures = 0;
  let restarted = false;
  while (!signal.aborted) {
    const feed = subscribe();
    const close = () => void feed.return();
    signal.addEventListener('abort', close, { once: true });
    try {
      // Subscribed first, read again second: nothing falls between the two.
      if (restarted) await onRestart();
      for await (const event of feed) {
        failures = 0;
        await onEvent(event);
      }
    } catch (error) {
      if (signal.aborted) return;
      if (isFatal(error)) {
        onFatal(error);
        return;
      }
      failures += 1;
      await wait(delayMs(failures), signal);
    } finally {
      signal.removeEventListener('abort', close);
    }
    restarted = true;
  }
}
