import type { InstanceRole } from '../core/config/index.js';

/**
 * Where the line between the instance roles runs, by path (a load balancer routes by path
 * alone, so the line must be drawable there: deploy/nginx mirrors this function). Health,
 * metrics, the API index and its descriptions are served by every instance.
 */
export function roleServing(path: string): InstanceRole | undefined {
  if (/^\/api\/v1\/auth(\/|$)/.test(path)) return 'auth';
  if (/^\/api\/v1\/[^/?]/.test(path) || /^\/(graphql|graphiql|console)(\/|$)/.test(path) || path === '/') return 'api';
  return undefined;
}

/**
 * The detail of the 404 a path gets from an instance whose roles do not serve it: the route
 * exists, on instances of another role (a load balancer sent it to the wrong upstream).
 */
export function servedElsewhere(path: string, roles: ReadonlySet<InstanceRole>): string | undefined {
  const role = roleServing(path);
  if (role === undefined || roles.has(role)) return undefined;
  return `No such route on this instance: it runs ${[...roles].join(', ')}, and this path is served by instances with the ${role} role.`;
}
