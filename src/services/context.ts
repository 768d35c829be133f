import { appError } from '../core/errors.js';
import type { Logger } from '../infra/telemetry/logger.js';
import type { Principal } from './auth/principals.js';
import type { ClientInfo } from './auth/client.js';

/**
 * Who is calling and where their call is recorded: the one argument every service method
 * takes first, built once per request (REST), operation (GraphQL) or message (WebSocket) by
 * the transport. Services read the caller from it instead of taking `principal | undefined`
 * parameters, and stamp its trace id on the events their changes write.
 */
export interface ServiceContext {
  /** The signed-in caller; undefined for an anonymous one. */
  readonly principal: Principal | undefined;
  /** The W3C trace id of the request, recorded on outbox events and in logs. */
  readonly traceId: string | undefined;
  /** The request's logger (bound to its trace id). */
  readonly log: Logger;
  /** Where the call comes from (address, user agent), for sessions and audit lines; absent for work no request started. */
  readonly client?: ClientInfo | undefined;
}

/** A context whose caller is signed in. */
export interface CallerContext extends ServiceContext {
  readonly principal: Principal;
}

/** The context of a signed-in caller, or UNAUTHORIZED for an anonymous one. */
export function signedIn(ctx: ServiceContext): CallerContext {
  if (!ctx.principal) throw appError('UNAUTHORIZED', 'Sign in first: send Authorization: Bearer <token>.', { headers: { 'www-authenticate': 'Bearer' } });
  return ctx as CallerContext;
}

/** A context for work no request started (the CLI, consumers, retention jobs). */
export function systemContext(log: Logger, traceId?: string): ServiceContext {
  return { principal: undefined, traceId, log };
}
