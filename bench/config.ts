/**
 * Benchmark settings, read once from the environment. Every knob has a default that
 * matches docs/design.md §6 (10 connections, pipelining 1), so `npm run bench` needs none.
 */

export interface BenchConfig {
  /** PostgreSQL URL of the benchmark database (shared by the bare servers and PCF). */
  databaseUrl: string;
  /** Seconds of measured load per scenario. */
  durationS: number;
  /** Seconds of unmeasured warm-up load per scenario. */
  warmupS: number;
  /** Measured rounds per scenario, each PCF one alternating with its baselines (BENCH_ROUNDS). */
  rounds: number;
  connections: number;
  pipelining: number;
  /** Scenario names requested with BENCH_ONLY or as arguments; undefined means all. */
  only: string[] | undefined;
  /** BENCH_SCALE=1m: also run the opt-in scale scenario (1M seeded resources). */
  scale: '1m' | undefined;
  /** How long to wait for the PCF server's /health/ready, in ms. */
  readyTimeoutMs: number;
  /** The PCF server's entry point (default: the bundle npm start runs, dist/bundle/main.js). */
  pcfEntry: string | undefined;
  /** Redis for the `pcf-redis` server: BENCH_REDIS_URL, else PCF_REDIS_URL, else the local default. */
  redisUrl: string;
  /** NATS for the `pcf-realtime-nats` server: BENCH_NATS_URL, else the local default. */
  natsUrl: string;
  /** Measured mutations per WebSocket fan-out scenario (after WS_WARMUP_MUTATIONS unmeasured ones). */
  wsMutations: number;
  /** Idle subscribed WebSocket connections the `ws-idle` scenarios open. */
  wsIdle: number;
}

/** A mistake in how the benchmark was invoked: reported as one line, without a stack. */
export class BenchError extends Error {}

export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/pcf_bench';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
/** Measured mutations of a fan-out scenario: 200 events, i.e. 200,000 deliveries at 1,000 subscribers. */
export const DEFAULT_WS_MUTATIONS = 200;
/** Idle subscriptions of `ws-idle`: a per-subscription figure well above RSS noise, in about half a minute. */
export const DEFAULT_WS_IDLE = 2_000;
/** The idle scenario's ceiling: the client opens them all from this process (and `ulimit -n` bounds both sides). */
export const MAX_WS_IDLE = 15_000;

function positiveNumber(name: string, fallback: number, { integer = false } = {}): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new BenchError(`${name} must be a positive ${integer ? 'integer' : 'number'}, got "${raw}"`);
  }
  return value;
}

function scale(): '1m' | undefined {
  const raw = process.env.BENCH_SCALE?.trim().toLowerCase();
  if (!raw) return undefined;
  if (raw === '1m') return '1m';
  throw new BenchError(`BENCH_SCALE must be 1m (or unset), got "${process.env.BENCH_SCALE}"`);
}

function wsIdle(): number {
  const n = positiveNumber('BENCH_WS_IDLE', DEFAULT_WS_IDLE, { integer: true });
  if (n > MAX_WS_IDLE) throw new BenchError(`BENCH_WS_IDLE must be at most ${MAX_WS_IDLE}, got ${n}`);
  return n;
}

/**
 * Reads the environment. `args` are the command-line arguments after the script
 * (`npm run bench -- auth-me auth-login`): scenario names, added to BENCH_ONLY's.
 */
export function readBenchConfig(args: readonly string[] = []): BenchConfig {
  const only = [...(process.env.BENCH_ONLY ?? '').split(','), ...args.flatMap((a) => a.split(','))].map((s) => s.trim()).filter((s) => s.length > 0);
  return {
    databaseUrl: process.env.PCF_BENCH_DATABASE_URL?.trim() || DEFAULT_DATABASE_URL,
    durationS: positiveNumber('BENCH_DURATION', 10),
    warmupS: positiveNumber('BENCH_WARMUP', 2),
    rounds: positiveNumber('BENCH_ROUNDS', 3, { integer: true }),
    connections: positiveNumber('BENCH_CONNECTIONS', 10, { integer: true }),
    pipelining: 1,
    only: only.length > 0 ? only : undefined,
    scale: scale(),
    readyTimeoutMs: positiveNumber('BENCH_READY_TIMEOUT', 60) * 1000,
    pcfEntry: process.env.BENCH_PCF_ENTRY?.trim() || undefined,
    redisUrl: process.env.BENCH_REDIS_URL?.trim() || process.env.PCF_REDIS_URL?.trim() || DEFAULT_REDIS_URL,
    natsUrl: process.env.BENCH_NATS_URL?.trim() || DEFAULT_NATS_URL,
    wsMutations: positiveNumber('BENCH_WS_MUTATIONS', DEFAULT_WS_MUTATIONS, { integer: true }),
    wsIdle: wsIdle(),
  };
}

/** The URL with its password replaced, safe to print and to store in results. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable url>';
  }
}
