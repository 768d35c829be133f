/**
 * Open WebSocket connections per key (a user, or a client IP when anonymous) on this
 * instance, with a cap. A connection holds a slot from connection_init until it closes.
 * Counted per instance: a connection is a socket and memory here, and a balancer spreads a
 * user's sockets, so N instances allow up to N × the cap.
 */
export class ConnectionSlots {
  readonly #open = new Map<string, number>();

  constructor(readonly max: number) {}

  /** A release function (safe to call twice), or undefined when `key` is at the cap. */
  acquire(key: string): (() => void) | undefined {
    const open = this.#open.get(key) ?? 0;
    if (open >= this.max) return undefined;
    this.#open.set(key, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#open.get(key) ?? 1) - 1;
      if (left <= 0) this.#open.delete(key);
      else this.#open.set(key, left);
    };
  }

  /** Connections open for `key` now. */
  count(key: string): number {
    return this.#open.get(key) ?? 0;
  }
}
