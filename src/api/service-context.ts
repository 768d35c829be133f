import type { FastifyRequest } from 'fastify';
import type { Logger } from '../infra/telemetry/logger.js';
import type { ClientInfo } from '../services/auth/client.js';
import type { ServiceContext } from '../services/context.js';
import { clientInfo } from './authentication.js';
import { traceOf } from './request-context.js';

/**
 * The one context a REST handler hands its service call: the caller, the trace, the logger
 * and the client. The client is built only when a service reads it (sign-in, audit): a read
 * on the hot path never does.
 */
export function serviceContext(request: FastifyRequest): ServiceContext {
  let client: ClientInfo | undefined;
  return {
    principal: request.principal,
    traceId: traceOf(request).traceId,
    log: request.log as Logger,
    get client() {
      return (client ??= clientInfo(request));
    },
  };
}
