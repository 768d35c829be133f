import type { FastifyRequest } from 'fastify';
import type { Logger } from '../infra/telemetry/logger.js';
import type { ServiceContext } from '../services/context.js';
import { clientInfo } from './authentication.js';

/** The one context a REST handler hands its service call: the caller, the trace, the logger and the client. */
export function serviceContext(request: FastifyRequest): ServiceContext {
  const client = clientInfo(request);
  return { principal: request.principal, traceId: client.traceId, log: request.log as Logger, client };
}
