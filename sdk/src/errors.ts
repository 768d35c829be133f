import type { Problem, Resource } from './types.js';

/** A problem with one input field, as the server reports it in `errors`. */
export interface FieldError {
  /** Path of the field, slash-separated when nested (`email`, `conditions/ownerId`). */
  field: string;
  message: string;
}

/**
 * The contract's closed set of codes (generated from the Problem schema), plus the SDK's own:
 * NETWORK_ERROR when no answer came, ABORTED when the caller's signal fired.
 */
export type PcfErrorCode = Problem['code'] | 'NETWORK_ERROR' | 'ABORTED';

export interface PcfErrorInit {
  code: PcfErrorCode;
  /** The HTTP status; 0 when none was received. */
  status: number;
  message: string;
  errors?: FieldError[];
  traceId?: string;
  /** How long the server asked to wait before retrying (Retry-After or RateLimit), in ms. */
  retryAfterMs?: number;
  cause?: unknown;
}

// Node's util.inspect honours this symbol; naming it through Symbol.for keeps node:util out.
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/**
 * Every failure of an SDK call. Built only from the problem body and the status: never from
 * the request, so a token or a password sent with it cannot end up in a message, in
 * `toJSON()` or in a log line that prints the error.
 */
export class PcfError extends Error {
  readonly code: PcfErrorCode;
  readonly status: number;
  readonly errors: FieldError[];
  readonly traceId: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(init: PcfErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'PcfError';
    this.code = init.code;
    this.status = init.status;
    this.errors = init.errors ?? [];
    this.traceId = init.traceId;
    this.retryAfterMs = init.retryAfterMs;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, status: this.status, message: this.message, errors: this.errors, traceId: this.traceId };
  }

  [INSPECT](): string {
    const fields = this.errors.length ? ` ${JSON.stringify(this.errors)}` : '';
    return `${this.name} [${this.code}${this.status ? ` ${this.status}` : ''}]: ${this.message}${fields}${this.traceId ? ` (trace ${this.traceId})` : ''}`;
  }
}

/**
 * 412 on an update: someone changed the resource since you read it. `current` is the resource
 * as it is now (read again when the answer did not carry it): merge, then update with it.
 */
export class PcfConflictError extends PcfError {
  readonly current: Resource | undefined;

  constructor(init: PcfErrorInit, current: Resource | undefined) {
    super(init);
    this.name = 'PcfConflictError';
    this.current = current;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), currentRevision: this.current?.revision, currentVersion: this.current?.version };
  }
}

/** No answer: the connection failed or dropped. Retried for reads and keyed writes; thrown once those retries are spent. */
export class PcfNetworkError extends PcfError {
  constructor(message: string, cause?: unknown) {
    super({ code: 'NETWORK_ERROR', status: 0, message, cause });
    this.name = 'PcfNetworkError';
  }
}

/** The call's AbortSignal fired; `cause` is the signal's reason. */
export class PcfAbortError extends PcfError {
  constructor(reason: unknown) {
    super({ code: 'ABORTED', status: 0, message: 'The request was aborted.', cause: reason });
    this.name = 'PcfAbortError';
  }
}

export const isPcfError = (value: unknown): value is PcfError => value instanceof PcfError;
