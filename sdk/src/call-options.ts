/** What every call takes. */
export interface CallOptions {
  /** Cancels the call, its retries and their waits; the call then rejects with PcfAbortError. */
  signal?: AbortSignal;
}

/** What a keyed write (create, restore) takes. */
export interface KeyedCallOptions extends CallOptions {
  /**
   * The Idempotency-Key; by default a new UUID per call, reused by that call's retries. Pass
   * your own to make a write idempotent across calls (e.g. a form submitted twice).
   */
  idempotencyKey?: string;
}
