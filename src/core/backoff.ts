/** Exponential backoff with jitter, for reconnecting to a dependency. */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Random source in [0, 1); injected so tests are deterministic. */
  random?: () => number;
}

/**
 * The wait before retry number `attempt` (1-based): initialMs doubled each attempt, capped at
 * maxMs, then "equal jitter" (half fixed, half random) so many pods restarting together do not
 * hammer the database in lockstep, while no wait falls below half the schedule.
 */
export function backoffDelay(attempt: number, options: BackoffOptions): number {
  const exp = Math.min(options.maxMs, options.initialMs * 2 ** Math.max(0, attempt - 1));
  const random = options.random ?? Math.random;
  return Math.round(exp / 2 + random() * (exp / 2));
}

/** Resolves after `ms`, or at once when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
