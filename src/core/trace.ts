import { randomFillSync } from 'node:crypto';

/** The W3C Trace Context of one request: who called us, and the span we act as. */
export interface TraceContext {
  /** 32 lowercase hex characters, shared by every hop of one trace. */
  traceId: string;
  /** 16 hex characters: this server's span for the request. */
  spanId: string;
  /** The caller's span, when the request carried a valid `traceparent`. */
  parentSpanId: string | undefined;
  /** Trace flags (bit 0 = sampled), as two hex characters. */
  flags: string;
}

// version-traceid-parentid-flags; version ff is invalid, all-zero ids are invalid
// (https://www.w3.org/TR/trace-context/#traceparent-header).
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

// Two ids per request made randomBytes() 7 % of a trivial request's CPU. Trace ids need to
// be unique, not secret, so they are cut from a pool refilled 4 KiB at a time.
const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let offset = POOL_SIZE;

function hex(bytes: number): string {
  if (offset + bytes > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const value = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return value;
}

/**
 * Continues the caller's trace when `traceparent` is valid, else starts a new one. An
 * invalid header is ignored rather than rejected, as the specification asks.
 */
export function traceFromHeader(header: string | string[] | undefined): TraceContext {
  const value = Array.isArray(header) ? header[0] : header;
  // Uppercase hex is invalid, not to be normalised (the specification's own rule).
  const match = value ? TRACEPARENT.exec(value.trim()) : null;
  if (match) {
    const [, version, traceId, parentSpanId, flags, rest] = match as unknown as [string, string, string, string, string, string | undefined];
    // Version 00 has exactly four fields; later versions may append more.
    const validShape = version !== 'ff' && (version !== '00' || rest === undefined);
    if (validShape && traceId !== ZERO_TRACE && parentSpanId !== ZERO_SPAN) {
      return { traceId, spanId: hex(8), parentSpanId, flags };
    }
  }
  return { traceId: hex(16), spanId: hex(8), parentSpanId: undefined, flags: '01' };
}

/**
 * The `traceparent` value for this context: sent downstream, and back to the caller as
 * `traceresponse` (Trace Context Level 2), so a client learns the trace id it can quote.
 */
export function toTraceparent(trace: TraceContext): string {
  return `00-${trace.traceId}-${trace.spanId}-${trace.flags}`;
}
