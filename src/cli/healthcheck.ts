import { out, err } from './output.js';

/** Exit codes of `pcf healthcheck` (DESIGN §5 "Operations"). */
export const HEALTH_EXIT = { healthy: 0, unhealthy: 1, unreachable: 2 } as const;

/**
 * Asks a running server for its readiness: 0 when healthy or degraded, 1 when it answers
 * anything else, 2 when it cannot be reached in time. Suited to container HEALTHCHECKs.
 */
export async function healthcheck(baseUrl: string, timeoutMs: number): Promise<number> {
  let response: Response;
  try {
    response = await fetch(new URL('/health/ready', baseUrl), { signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    err(`cannot connect to ${baseUrl}: ${(e as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : 'connection failed'}`);
    return HEALTH_EXIT.unreachable;
  }
  const body = (await response.json().catch(() => ({}))) as { status?: string; checks?: Record<string, { status: string; error?: string }> };
  const status = body.status ?? `HTTP ${response.status}`;
  const checks = Object.entries(body.checks ?? {})
    .map(([name, c]) => `${name}=${c.status}${c.error ? ` (${c.error})` : ''}`)
    .join(' ');
  out(`${status}${checks ? `  ${checks}` : ''}`);
  return status === 'healthy' || status === 'degraded' ? HEALTH_EXIT.healthy : HEALTH_EXIT.unhealthy;
}
