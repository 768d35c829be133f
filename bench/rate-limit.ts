/**
 * The PCF servers' rate limiter under benchmark: the budgets they are started with, and a
 * check, from PCF's own metrics, that each scenario ran the limiter it was meant to run.
 *
 * Every benchmark request comes from 127.0.0.1 at thousands of requests per second, so the
 * default budgets (300 anonymous requests a minute per IP…) would answer 429 within a
 * second. The limiter stays on, because its cost belongs in every PCF figure as it does in
 * production, with budgets no run can reach: the schema's maxima over a 60 s window.
 */
import type { PcfServerSpec } from './scenarios.js';

/** The budgets of every PCF server (applied over the inherited environment). */
export const BENCH_RATE_LIMIT = {
  windowSeconds: 60,
  /** 100,000,000 a minute: 1.6 million requests per second, for ever. */
  anonymousPerWindow: 100_000_000,
  userPerWindow: 100_000_000,
  authPerWindow: 100_000_000,
  /** GraphQL points: the bench's operations cost a few points each (a complexity of 1,000 at most). */
  graphqlPointsPerWindow: 1_000_000_000,
  /** Body bytes: 1 TB a minute. */
  bodyBytesPerWindow: 1_000_000_000_000,
} as const;

/** The environment that switches the limiter on or off, with the budgets above. */
export function rateLimitEnv(spec: PcfServerSpec): Record<string, string> {
  const b = BENCH_RATE_LIMIT;
  return {
    PCF_RATE_LIMIT_ENABLED: String(spec.rateLimit),
    PCF_RATE_LIMIT_WINDOW_SECONDS: String(b.windowSeconds),
    PCF_RATE_LIMIT_ANONYMOUS_PER_WINDOW: String(b.anonymousPerWindow),
    PCF_RATE_LIMIT_USER_PER_WINDOW: String(b.userPerWindow),
    PCF_RATE_LIMIT_AUTH_PER_WINDOW: String(b.authPerWindow),
    PCF_RATE_LIMIT_GRAPHQL_POINTS_PER_WINDOW: String(b.graphqlPointsPerWindow),
    PCF_RATE_LIMIT_BODY_BYTES_PER_WINDOW: String(b.bodyBytesPerWindow),
  };
}

/**
 * The limiter's decisions, summed over its budgets, by outcome: `allowed`, `limited` (429),
 * `fallback` (counted in this instance because the Redis store was unreachable) and
 * `unavailable` (503: a fail-closed budget without its store).
 */
export type RateLimitDecisions = Record<string, number>;

const DECISION = /^rate_limit_decisions_total\{([^}]*)\}\s+(\S+)/;
const OUTCOME = /outcome="([^"]*)"/;

/**
 * Reads PCF's `rate_limit_decisions_total` from GET /metrics. Undefined when the metrics
 * can't be read; empty when the build has no such counter (or made no decision yet).
 */
export async function readRateLimitDecisions(baseUrl: string): Promise<RateLimitDecisions | undefined> {
  let text: string;
  try {
    const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
    if (res.status !== 200) return undefined;
    text = await res.text();
  } catch {
    return undefined;
  }
  const decisions: RateLimitDecisions = {};
  for (const line of text.split('\n')) {
    const m = DECISION.exec(line);
    const outcome = m && OUTCOME.exec(m[1]!)?.[1];
    if (!m || !outcome) continue;
    decisions[outcome] = (decisions[outcome] ?? 0) + Number(m[2]);
  }
  return decisions;
}

/** `after − before`, outcome by outcome (a scrape taken before and after a scenario's load). */
export function decisionsBetween(before: RateLimitDecisions, after: RateLimitDecisions): RateLimitDecisions {
  const delta: RateLimitDecisions = {};
  for (const outcome of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const n = (after[outcome] ?? 0) - (before[outcome] ?? 0);
    if (n !== 0) delta[outcome] = n;
  }
  return delta;
}

/**
 * Why the decisions made during a scenario's load don't match its server: a limiter meant
 * to be off that decided anything, or a Redis store that was not the one counting (the
 * figures would then measure the in-process fallback). Undefined when they match.
 * `warning` is set, without failing, when a limiter meant to be on made no decision at all
 * (a build without the limiter, e.g. BENCH_PCF_ENTRY of an older branch).
 */
export function decisionsProblem(spec: PcfServerSpec, delta: RateLimitDecisions): { problem?: string; warning?: string } {
  const total = Object.values(delta).reduce((a, b) => a + b, 0);
  const list = () =>
    Object.entries(delta)
      .map(([outcome, n]) => `${outcome}×${n}`)
      .join(', ');
  if (!spec.rateLimit) {
    return total === 0 ? {} : { problem: `the rate limiter should be off on this server, but it made decisions (${list()})` };
  }
  if (total === 0) return { warning: 'the rate limiter made no decision (rate_limit_decisions_total): does this build have one?' };
  const astray = total - (delta.allowed ?? 0);
  if (astray > 0) {
    const where = delta.fallback ? ' (fallback: counted in process because the Redis rate-limit store was unreachable)' : '';
    return { problem: `the rate limiter did not simply allow every request: ${list()}${where}` };
  }
  return {};
}
