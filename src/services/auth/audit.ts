import type { Logger } from '../../infra/telemetry/logger.js';
import type { CallerContext, ServiceContext } from '../context.js';
import type { Principal } from './principals.js';
import type { ClientInfo } from './client.js';

/**
 * Security events (DESIGN §5, issue "Audit"): one structured line each, under the `audit`
 * module, with who, what and from where; never a password, token or hash.
 */
export type AuditEvent =
  | 'auth.register'
  | 'auth.login.succeeded'
  | 'auth.login.failed'
  | 'auth.login.blocked'
  | 'auth.logout'
  | 'auth.session.revoked'
  | 'auth.password.changed'
  | 'auth.password.rehashed'
  | 'auth.invitation.created'
  | 'user.created'
  | 'user.updated'
  | 'user.deleted'
  | 'role.created'
  | 'role.updated'
  | 'role.deleted'
  | 'role.assigned'
  | 'role.unassigned'
  | 'permission.granted'
  | 'permission.revoked'
  | 'resource.deleted'
  | 'resource.shared'
  | 'resource.unshared';

export interface AuditFields {
  /** The user acting, when known. */
  actorId?: string | undefined;
  ip?: string | undefined;
  [field: string]: unknown;
}

export type Audit = (event: AuditEvent, fields: AuditFields) => void;

/** Who acted and from where: the caller's id, IP and the request's trace id. */
export function actor(principal: Principal): AuditFields {
  return { actorId: principal.user.id, ...origin(principal.client) };
}

/** Where an anonymous (or any) request came from. */
export function origin(client: ClientInfo | undefined): AuditFields {
  return { ip: client?.ip, traceId: client?.traceId };
}

/** Who acted in a call and from where: the caller's id, the client's address and the call's trace id. */
export function actorOf(ctx: CallerContext): AuditFields {
  return { actorId: ctx.principal.user.id, ...originOf(ctx) };
}

/** Where a call (signed in or not) came from. */
export function originOf(ctx: ServiceContext): AuditFields {
  return { ip: (ctx.client ?? ctx.principal?.client)?.ip, traceId: ctx.traceId };
}

export function createAudit(log: Logger): Audit {
  return (event, fields) => log.info({ event, ...fields }, `audit ${event}`);
}
