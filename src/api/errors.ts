import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import FindMyWay, { type HTTPVersion } from 'find-my-way';
import { ERROR_CODES, appError, type AppError } from '../core/errors.js';
import { toTraceparent, traceFromHeader } from '../core/trace.js';
import type { App } from './app.js';
import { traceOf } from './request-context.js';
import { normalizeError, PROBLEM_CONTENT_TYPE, sendProblem, type Problem } from './problem.js';

/**
 * The one place errors become HTTP responses: Fastify's error and not-found handlers, and
 * the failures Fastify or Node answer before a route runs. Unknown errors become
 * INTERNAL_ERROR with the trace id and are logged in full here, never sent.
 */

/**
 * Fastify answers a few failures before any hook runs (an undecodable URL, an over-long
 * path parameter); this option routes them through the same problem+json path.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  reply.header('x-request-id', request.id);
  reply.header('traceresponse', toTraceparent(traceOf(request)));
  void sendProblem(reply, normalizeError(error).error);
}

/**
 * A request Node's HTTP parser rejects (malformed, headers too large, too slow) never
 * becomes a Fastify request; this answers it on the socket with the same problem shape.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  if (!socket.writable) return void socket.destroy();
  const detail =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? 'The request was not received in time.'
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? 'The request headers are too large.'
        : 'The request is not valid HTTP.';
  const body = JSON.stringify({
    type: 'urn:pcf:problem:invalid-input',
    title: ERROR_CODES.INVALID_INPUT.title,
    status: 400,
    detail,
    instance: '',
    code: 'INVALID_INPUT',
    traceId: traceFromHeader(undefined).traceId,
  } satisfies Problem);
  socket.end(
    `HTTP/1.1 400 Bad Request\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Logs a failure once, at a level that matches who is at fault. */
export function logFailure(request: FastifyRequest, original: unknown, error: AppError, internal: boolean): void {
  if (internal) {
    request.log.error({ err: original, code: error.code }, 'request failed');
  } else if (error.status >= 500) {
    request.log.warn({ code: error.code, cause: describeCause(error.cause) }, error.message);
  }
}

function describeCause(cause: unknown): string | undefined {
  return cause instanceof Error ? `${cause.name}: ${(cause as { code?: string }).code ?? ''} ${cause.message}`.trim() : undefined;
}

/**
 * Installs the error handler and the not-found handler. A path that exists under another
 * method answers 405 with `Allow`; a second router, fed from onRoute, tells which methods
 * a path has (Fastify's own router answers only for the method asked).
 */
export function registerErrorHandling(app: App, servedElsewhere: (path: string) => string | undefined = () => undefined): void {
  const routes = FindMyWay<HTTPVersion.V1>({ ignoreTrailingSlash: true });
  const methods = new Set<string>();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method === 'HEAD' || route.url.includes('*')) continue;
      methods.add(method);
      try {
        routes.on(method as 'GET', route.url, () => undefined);
      } catch {
        // Already known (a route registered under two prefixes): nothing to add.
      }
    }
  });

  app.setErrorHandler((err, request, reply) => {
    const { error, internal } = normalizeError(err);
    logFailure(request, err, error, internal);
    return sendProblem(reply, error);
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?', 1)[0]!;
    const allowed = [...methods].filter((m) => m !== request.method && routes.find(m as 'GET', path) !== null);
    if (allowed.length > 0 && request.method !== 'OPTIONS') {
      if (allowed.includes('GET')) allowed.push('HEAD');
      return sendProblem(
        reply,
        appError('METHOD_NOT_ALLOWED', `${request.method} is not allowed on this path.`, { headers: { allow: allowed.sort().join(', ') } }),
      );
    }
    // A route of a role this instance does not run: the detail says where it lives.
    return sendProblem(reply, appError('NOT_FOUND', servedElsewhere(path) ?? 'No such route.'));
  });
}
