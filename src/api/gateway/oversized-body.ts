import type { IncomingMessage } from 'node:http';
import type { FastifyError } from 'fastify';
import type { App } from '../app.js';

/**
 * How much of an oversized body is read and thrown away, as a multiple of
 * `http.bodyLimitBytes`, before the 413 is sent.
 */
export const DRAIN_FACTOR = 4;

/**
 * A body over `http.bodyLimitBytes` gets its 413 as clients see it, not a reset.
 *
 * Fastify answers 413 as soon as Content-Length (or the bytes so far) passes the limit,
 * without reading the rest. Node then closes the socket with the rest of the body unread,
 * and a kernel that closes a socket with unread data sends RST: a client still writing
 * (curl after `Expect: 100-continue`, fetch) fails with "broken pipe" or "connection reset"
 * and never reads the answer. So the rest of the body is read and discarded first, up to
 * DRAIN_FACTOR times the limit; a body declared larger than that is not read at all (the
 * cost would be the attacker's choice) and may still see a reset. A client that trickles
 * its body is cut off by `http.requestTimeoutMs` as any slow request is.
 */
export function registerOversizedBodyDrain(app: App, bodyLimitBytes: number): void {
  const bound = bodyLimitBytes * DRAIN_FACTOR;
  // onError runs before any error handler, REST's and GraphQL's alike, and is awaited.
  app.addHook('onError', async (request, _reply, error) => {
    if ((error as FastifyError).code !== 'FST_ERR_CTP_BODY_TOO_LARGE') return;
    const declared = Number(request.headers['content-length']);
    if (Number.isFinite(declared) && declared > bound) return;
    await drain(request.raw, bound);
  });
}

/** Reads and discards `stream` until it ends, fails, closes, or passes `bound` bytes. */
function drain(stream: IncomingMessage, bound: number): Promise<void> {
  if (stream.readableEnded || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let read = 0;
    const finish = (): void => {
      stream.off('data', onData).off('end', finish).off('error', finish).off('close', finish);
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      read += chunk.length;
      if (read > bound) finish();
    };
    stream.on('data', onData).once('end', finish).once('error', finish).once('close', finish);
    stream.resume();
  });
}
