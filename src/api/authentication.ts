import type { FastifyRequest } from 'fastify';
import type { AuthService } from '../services/auth/auth.service.js';
import type { Principal } from '../services/auth/principals.js';
import type { ClientInfo } from '../services/auth/sessions.js';
import { bearerToken } from '../services/auth/tokens.js';
import type { App } from './app.js';
import { traceOf } from './request-context.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller, resolved once from `Authorization: Bearer`; undefined when anonymous. */
    principal: Principal | undefined;
  }
}

// Paths whose requests are authenticated; health, metrics and docs never need a token.
const AUTHENTICATED = /^\/(api\/|graphql)/;

/**
 * Turns the bearer token into a principal once per request, before the body is parsed
 * (DESIGN §2). A request without a token is anonymous (services decide what that may do);
 * a token that is malformed, unknown, revoked or expired is refused with 401 on every route,
 * so a client never mistakes a dead session for an anonymous one.
 */
export function registerAuthentication(app: App, auth: AuthService, onRejectedToken?: (request: FastifyRequest) => Promise<void>): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization;
    if (header === undefined || !AUTHENTICATED.test(request.url)) return;
    const token = bearerToken(header) ?? '';
    try {
      request.principal = await auth.authenticate(token, clientInfo(request));
    } catch (err) {
      // The rate limiter charges the refusal (and may turn it into a 429).
      await onRejectedToken?.(request);
      throw err;
    }
  });
}

/** Who is calling from where, for sessions and audit lines. */
export function clientInfo(request: FastifyRequest): ClientInfo {
  const userAgent = request.headers['user-agent'];
  return { ip: request.clientAddress, userAgent: typeof userAgent === 'string' ? userAgent : undefined, traceId: traceOf(request).traceId };
}
