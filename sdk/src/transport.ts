import { PcfAbortError, PcfError, PcfNetworkError, type FieldError, type PcfErrorCode } from './errors.js';
import { backoff, sleep, type FetchLike, type ResponseLike } from './platform.js';
import type { TokenStorage } from './storage.js';

/**
 * One HTTP exchange with the API, and the retries that are safe for it:
 *
 * - 429 is retried for every request (the server did nothing), after the wait that
 *   Retry-After or RateLimit give, as long as the call's total wait stays within maxRetryWaitMs;
 * - network failures and 503 are retried only where a repeat cannot do harm twice: reads, and
 *   writes that carry an Idempotency-Key (the server answers a repeat with the first answer);
 *   a keyed write repeated while the first still runs answers 409 and is retried too.
 */
export type RetryPolicy = 'read' | 'keyed' | 'once';

export interface Call {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | undefined | null> | undefined;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
  retry: RetryPolicy;
}

export interface Answer<T> {
  status: number;
  headers: ResponseLike['headers'];
  body: T;
}

export interface TransportOptions {
  /** The server's base URL, e.g. https://pcf.example.com (the API is under /api/v1). */
  url: string;
  fetch: FetchLike;
  storage: TokenStorage;
  /** Repeats of a read or keyed write after network failures and 503 (default 3). */
  maxRetries: number;
  /** The most a call waits in total for Retry-After and backoff before it gives up (default 30 s). */
  maxRetryWaitMs: number;
  /** The first backoff after a network failure without Retry-After (default 250 ms). */
  retryBaseMs: number;
}

const CONTRACT_CODES = new Set<string>([
  'INVALID_INPUT',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'METHOD_NOT_ALLOWED',
  'CONFLICT',
  'PRECONDITION_FAILED',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'UNPROCESSABLE_ENTITY',
  'RATE_LIMITED',
  'INTERNAL_ERROR',
  'SERVICE_UNAVAILABLE',
  'TIMEOUT',
]);

/** What a status means when the body is not a problem of ours (a proxy's error page). */
function codeForStatus(status: number): PcfErrorCode {
  const byStatus: Record<number, PcfErrorCode> = {
    400: 'INVALID_INPUT',
    401: 'UNAUTHORIZED',
    403: 'FORBIDDEN',
    404: 'NOT_FOUND',
    405: 'METHOD_NOT_ALLOWED',
    409: 'CONFLICT',
    412: 'PRECONDITION_FAILED',
    413: 'PAYLOAD_TOO_LARGE',
    415: 'UNSUPPORTED_MEDIA_TYPE',
    422: 'UNPROCESSABLE_ENTITY',
    429: 'RATE_LIMITED',
    503: 'SERVICE_UNAVAILABLE',
    504: 'TIMEOUT',
  };
  return byStatus[status] ?? (status >= 500 ? 'INTERNAL_ERROR' : 'INVALID_INPUT');
}

/**
 * How long the server asks to wait, in ms: Retry-After (seconds or an HTTP date), else the
 * RateLimit header's reset of an exhausted budget (`"name";r=0;t=17`). Undefined when neither says.
 */
export function retryAfterMs(headers: ResponseLike['headers'], now = Date.now()): number | undefined {
  const retryAfter = headers.get('retry-after')?.trim();
  if (retryAfter) {
    if (/^\d+$/.test(retryAfter)) return Number(retryAfter) * 1000;
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  const rateLimit = headers.get('ratelimit');
  if (rateLimit) {
    let wait: number | undefined;
    for (const item of rateLimit.split(',')) {
      const remaining = /;\s*r=(\d+)/.exec(item)?.[1];
      const reset = /;\s*t=(\d+)/.exec(item)?.[1];
      if (remaining === '0' && reset !== undefined) wait = Math.max(wait ?? 0, Number(reset) * 1000);
    }
    return wait;
  }
  return undefined;
}

async function problemOf(response: ResponseLike): Promise<PcfError> {
  let body: Partial<{ code: string; detail: string; title: string; errors: FieldError[]; traceId: string }> = {};
  try {
    const text = await response.text();
    if (/json/i.test(response.headers.get('content-type') ?? '')) body = JSON.parse(text) as typeof body;
  } catch {
    // A body that is not a problem: the status says enough.
  }
  const code = body.code && CONTRACT_CODES.has(body.code) ? (body.code as PcfErrorCode) : codeForStatus(response.status);
  return new PcfError({
    code,
    status: response.status,
    message: body.detail ?? body.title ?? `HTTP ${response.status}`,
    errors: Array.isArray(body.errors) ? body.errors : [],
    traceId: body.traceId ?? traceIdOf(response.headers.get('traceresponse')),
    retryAfterMs: retryAfterMs(response.headers),
  });
}

/** The trace id of a W3C `traceresponse` header (`00-<trace-id>-<span-id>-01`). */
const traceIdOf = (header: string | null) => (header ? /^[0-9a-f]{2}-([0-9a-f]{32})-/.exec(header)?.[1] : undefined);

const abortReasonOf = (signal: AbortSignal | undefined) => (signal?.aborted ? new PcfAbortError(signal.reason) : undefined);

/** The shortest wait after a 429, whatever its Retry-After says. */
const MIN_RATE_LIMIT_WAIT_MS = 1000;

export class Transport {
  readonly #options: TransportOptions;
  readonly #base: string;

  constructor(options: TransportOptions) {
    this.#options = options;
    this.#base = options.url.replace(/\/+$/, '');
  }

  get baseUrl(): string {
    return this.#base;
  }

  get storage(): TokenStorage {
    return this.#options.storage;
  }

  /** Sends the call, retrying as its policy allows; resolves with a 2xx answer or throws a PcfError. */
  async request<T>(call: Call): Promise<Answer<T>> {
    const { maxRetries, maxRetryWaitMs, retryBaseMs } = this.#options;
    let waited = 0;
    let failures = 0;
    let refusals = 0;
    for (;;) {
      const outcome = await this.#once<T>(call);
      if (!(outcome instanceof PcfError)) return outcome;
      const error = outcome;
      if (error instanceof PcfAbortError) throw error;
      const repeatable =
        error.code === 'RATE_LIMITED' ||
        (call.retry !== 'once' && (error instanceof PcfNetworkError || error.status === 503)) ||
        // The first attempt of a keyed write may still be running: the repeat waits for it.
        (call.retry === 'keyed' && failures > 0 && error.status === 409);
      if (!repeatable) throw error;
      const limited = error.code === 'RATE_LIMITED';
      if (!limited && ++failures > maxRetries) throw error;
      // A 429 is waited out within maxRetryWaitMs, however many it takes, but never in a hot
      // loop: at least a second each (ours always say so; a proxy's may say 0 or nothing), and
      // growing when it says nothing.
      const wait = limited
        ? Math.max(error.retryAfterMs ?? backoff(++refusals, MIN_RATE_LIMIT_WAIT_MS, 30_000), MIN_RATE_LIMIT_WAIT_MS)
        : (error.retryAfterMs ?? backoff(failures, retryBaseMs, 10_000));
      if (waited + wait > maxRetryWaitMs) throw error;
      try {
        await sleep(wait, call.signal);
      } catch {
        throw new PcfAbortError(call.signal?.reason);
      }
      waited += wait;
    }
  }

  async #once<T>(call: Call): Promise<Answer<T> | PcfError> {
    const aborted = abortReasonOf(call.signal);
    if (aborted) return aborted;
    const headers: Record<string, string> = { accept: 'application/json', ...call.headers };
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    const token = await this.#options.storage.get();
    if (token) headers.authorization = `Bearer ${token}`;
    let response: ResponseLike;
    let text: string;
    try {
      response = await this.#options.fetch(this.#url(call), {
        method: call.method,
        headers,
        ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
        ...(call.signal ? { signal: call.signal } : {}),
      });
      if (!response.ok) return await problemOf(response);
      text = await response.text();
    } catch (err) {
      // What the platform says about a failed connection can name the URL, never the headers;
      // the message is ours all the same.
      return abortReasonOf(call.signal) ?? new PcfNetworkError(`No answer from ${this.#base} (${call.method} ${call.path}).`, err);
    }
    const body = (text === '' ? undefined : JSON.parse(text)) as T;
    return { status: response.status, headers: response.headers, body };
  }

  #url(call: Call): string {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(call.query ?? {})) if (value !== undefined && value !== null) params.set(name, String(value));
    const query = params.toString();
    return `${this.#base}${call.path}${query ? `?${query}` : ''}`;
  }
}

/** `/api/v1/resources/{id}` with each segment encoded. */
export const path = (strings: TemplateStringsArray, ...values: (string | number)[]) =>
  strings.reduce((out, part, i) => out + part + (i < values.length ? encodeURIComponent(String(values[i])) : ''), '');
