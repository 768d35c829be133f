import type { Client as WsClient, ExecutionResult } from 'graphql-ws';
import { PcfError, type PcfErrorCode } from '../errors.js';
import { backoff, sleep } from '../platform.js';

export interface ReconnectOptions {
  /** The first wait before reconnecting (default 250 ms); it doubles per failed attempt. */
  minDelayMs: number;
  /** The longest wait between attempts (default 10 s). */
  maxDelayMs: number;
  /** Attempts in a row before the iterator throws (default: no limit; abort or `return()` to stop). */
  maxAttempts: number;
}

export interface Subscription<T> {
  query: string;
  /** The payload's field in `data`. */
  field: string;
  variables(cursor: string | null | undefined): Record<string, unknown>;
  /** Where to resume from at the start. */
  cursor: string | undefined;
  /** The cursor after an event: a later resubscription resumes after it. */
  next(event: T): string | null;
}

// The server's refusals (graphql-transport-ws close codes): repeating the same request cannot help.
const FATAL_CLOSE_CODES = new Set([4400, 4401, 4403, 4406, 4409]);

interface GraphQLErrorLike {
  message: string;
  extensions?: { code?: string; traceId?: string; errors?: { field: string; message: string }[] };
}

function errorOf(errors: readonly GraphQLErrorLike[]): PcfError {
  const first = errors[0];
  const code = (first?.extensions?.code ?? 'INTERNAL_ERROR') as PcfErrorCode;
  return new PcfError({
    code,
    status: 0,
    message: first?.message ?? 'The subscription failed.',
    errors: first?.extensions?.errors ?? [],
    ...(first?.extensions?.traceId ? { traceId: first.extensions.traceId } : {}),
  });
}

const closeCodeOf = (err: unknown) =>
  typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : undefined;

/**
 * One live subscription as an async iterator that survives its connection: when the socket
 * drops (or the server restarts) it resubscribes with the cursor of the last event it
 * received, after a backoff, so the server replays what was missed. Events already received
 * wait in order in a queue until read.
 */
export class LiveIterator<T> implements AsyncIterableIterator<T> {
  readonly #queue: T[] = [];
  #waiter: { resolve: (result: IteratorResult<T>) => void; reject: (err: unknown) => void } | undefined;
  #failure: unknown;
  #done = false;
  #dispose: (() => void) | undefined;
  #cursor: string | null | undefined;
  #attempt = 0;
  readonly #retry = new AbortController();
  readonly #ended: Promise<void>;
  #end!: () => void;

  constructor(
    private readonly client: WsClient,
    private readonly reconnect: ReconnectOptions,
    private readonly signal: AbortSignal | undefined,
    private readonly subscription: Subscription<T>,
  ) {
    this.#cursor = subscription.cursor;
    this.#ended = new Promise((resolve) => (this.#end = resolve));
    if (signal?.aborted) {
      this.#finish();
      return;
    }
    signal?.addEventListener('abort', () => this.#finish(), { once: true });
    this.#subscribe();
  }

  /** Runs `fn` once the iteration has ended, however it ended. */
  finally(fn: () => void): void {
    void this.#ended.then(fn);
  }

  #subscribe(): void {
    if (this.#done) return;
    const { query, field, variables } = this.subscription;
    this.#dispose = this.client.subscribe<Record<string, T>>(
      { query, variables: variables(this.#cursor) },
      {
        next: (result: ExecutionResult<Record<string, T>>) => {
          if (result.errors?.length) return this.#fail(errorOf(result.errors as unknown as GraphQLErrorLike[]));
          const event = result.data?.[field];
          if (event === undefined) return;
          // The backoff starts over once the subscription delivers, not when a socket is merely
          // acknowledged: a server that acknowledges and then closes (restarting, overloaded)
          // would otherwise be reconnected to at the shortest delay forever.
          this.#attempt = 0;
          this.#cursor = this.subscription.next(event);
          this.#push(event);
        },
        error: (err: unknown) => {
          if (Array.isArray(err)) return this.#fail(errorOf(err as GraphQLErrorLike[]));
          const code = closeCodeOf(err);
          if (code !== undefined && FATAL_CLOSE_CODES.has(code)) {
            return this.#fail(
              new PcfError({ code: code === 4403 ? 'UNAUTHORIZED' : 'INVALID_INPUT', status: 0, message: `The server closed the subscription (${code}).` }),
            );
          }
          void this.#resubscribe();
        },
        complete: () => {
          this.#finish();
        },
      },
    );
  }

  async #resubscribe(): Promise<void> {
    if (this.#done) return;
    this.#attempt += 1;
    if (this.#attempt > this.reconnect.maxAttempts) {
      return this.#fail(
        new PcfError({ code: 'NETWORK_ERROR', status: 0, message: `The live connection failed ${this.reconnect.maxAttempts} times in a row.` }),
      );
    }
    try {
      await sleep(backoff(this.#attempt - 1, this.reconnect.minDelayMs, this.reconnect.maxDelayMs), this.#retry.signal);
    } catch {
      return;
    }
    this.#subscribe();
  }

  #push(event: T): void {
    if (this.#done) return;
    if (this.#waiter) {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      waiter.resolve({ value: event, done: false });
    } else this.#queue.push(event);
  }

  #fail(err: unknown): void {
    if (this.#done) return;
    this.#failure = err;
    this.#finish();
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#retry.abort();
    this.#dispose?.();
    this.#end();
    if (this.#waiter && this.#queue.length === 0) {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      if (this.#failure !== undefined) {
        const failure = this.#failure;
        this.#failure = undefined;
        waiter.reject(failure);
      } else waiter.resolve({ value: undefined, done: true });
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#queue.length) return Promise.resolve({ value: this.#queue.shift()!, done: false });
    if (this.#failure !== undefined) {
      const failure = this.#failure;
      this.#failure = undefined;
      return Promise.reject(failure);
    }
    // An abort ends the iteration quietly, as `break` does.
    if (this.#done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }));
  }

  async return(): Promise<IteratorResult<T, undefined>> {
    this.#queue.length = 0;
    this.#finish();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
