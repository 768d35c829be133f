import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { LogController, type FastifyBaseLogger, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { toTraceparent, traceFromHeader, type TraceContext } from '../core/trace.js';
import type { Logger } from '../infra/telemetry/logger.js';
import type { Metrics } from '../infra/telemetry/metrics.js';
import type { App } from './app.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The W3C trace this request belongs to; its id is in every log line and error. */
    trace: TraceContext;
  }
}

// A caller's request id is kept only when it is short and plain, so it cannot forge log
// lines or inflate them.
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

// The trace is parsed once, when Fastify asks for the request's logger, and picked up by the
// onRequest hook; a WeakMap keeps it off the raw request object.
const traces = new WeakMap<IncomingMessage, TraceContext>();

/** Fastify options that give every request an id and a logger bound to its trace id. */
/** Makes a request's logger: the server's, with the request's fields on every line. */
export type RequestLoggerFactory = (parent: Logger, fields: Readonly<Record<string, string>>, options?: Parameters<Logger['child']>[1]) => Logger;

export function requestContextOptions(requestLogger: RequestLoggerFactory): Pick<FastifyServerOptions, 'genReqId' | 'childLoggerFactory' | 'logController'> {
  return {
    // Fastify's two lines per request are replaced by one access line on response (below).
    logController: new LogController({ requestIdLogLabel: 'requestId', disableRequestLogging: true }),
    genReqId(raw) {
      const given = raw.headers['x-request-id'];
      return typeof given === 'string' && CLIENT_REQUEST_ID.test(given) ? given : randomUUID();
    },
    childLoggerFactory(logger, bindings, options, raw) {
      const trace = traceFromHeader(raw.headers.traceparent);
      traces.set(raw, trace);
      // The server's logger is pino's (http.ts).
      return requestLogger(
        logger as unknown as Logger,
        { ...(bindings as Record<string, string>), traceId: trace.traceId },
        options,
      ) as unknown as FastifyBaseLogger;
    },
  };
}

/**
 * The request's trace: the one its logger was bound to, so an error body and the log lines
 * carry the same trace id even when the hooks never ran (errors Fastify answers itself).
 */
export function traceOf(request: FastifyRequest): TraceContext {
  return (request.trace ??= traces.get(request.raw) ?? traceFromHeader(request.headers.traceparent));
}

/**
 * Hooks that stamp every response with its request id, log it once and measure it. Both run
 * on every request, so they are callback hooks (no promise each) and the access line is
 * built only when it is written.
 */
export function registerRequestContext(app: App, metrics: Metrics): void {
  app.decorateRequest('trace', null as unknown as TraceContext);

  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    reply.header('traceresponse', toTraceparent(traceOf(request)));
    done();
  });

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const elapsedMs = reply.elapsedTime;
    metrics.observeHttp(request.method, route, reply.statusCode, elapsedMs / 1000);
    if ((request.log as unknown as Logger).isLevelEnabled('info')) logCompleted(request, route, reply.statusCode, elapsedMs);
    done();
  });
}

function logCompleted(request: FastifyRequest, route: string, statusCode: number, elapsedMs: number): void {
  request.log.info(
    {
      method: request.method,
      route,
      path: request.url.split('?', 1)[0],
      statusCode,
      durationMs: Math.round(elapsedMs * 100) / 100,
    },
    'request completed',
  );
}
