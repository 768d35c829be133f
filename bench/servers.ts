/**
 * Starting the two kinds of server under test, each in a child process:
 * the bare Fastify baselines (bare-server.ts) and the real PCF server (dist/bundle/main.js),
 * the latter in one of the PCF_SERVERS settings of scenarios.ts: in-process cache and
 * rate-limit store, or Redis for both; the rate limiter on or off.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, sleep, spawnChild, stopChild, type Child } from './processes.js';
import { rateLimitEnv } from './rate-limit.js';
import { PCF_SERVERS, type PcfTarget } from './scenarios.js';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DEFAULT_PCF_ENTRY = join(REPO_ROOT, 'dist', 'bundle', 'main.js');

/** The PCF entry point: BENCH_PCF_ENTRY (relative to the repository) or dist/bundle/main.js (what npm start runs). */
export function pcfEntry(override: string | undefined): string {
  return override ? resolve(REPO_ROOT, override) : DEFAULT_PCF_ENTRY;
}
const BARE_ENTRY = fileURLToPath(new URL('./bare-server.ts', import.meta.url));

export interface RunningServer {
  baseUrl: string;
  child: Child;
  stop(): Promise<void>;
}

export function pcfBuilt(entry: string): boolean {
  return existsSync(entry);
}

/** Starts bare-server.ts (through tsx) and waits for it to report its port. */
export async function startBareServer(databaseUrl: string, timeoutMs = 30_000): Promise<RunningServer> {
  const child = spawnChild('bare', process.execPath, ['--import', 'tsx', BARE_ENTRY], {
    cwd: REPO_ROOT,
    env: { ...process.env, BENCH_DATABASE_URL: databaseUrl, BENCH_PORT: '0', NODE_ENV: 'production' },
    ipc: true,
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bare server did not start within ${timeoutMs} ms\n${child.tail()}`)), timeoutMs);
    child.process.on('message', (msg: unknown) => {
      const m = msg as { type?: string; port?: number };
      if (m?.type === 'listening' && typeof m.port === 'number') {
        clearTimeout(timer);
        resolve(m.port);
      }
    });
    void child.exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`bare server exited during start-up (${how})\n${child.tail()}`));
    });
  });
  return { baseUrl: `http://127.0.0.1:${port}`, child, stop: () => stopChild(child) };
}

export interface PcfServerOptions {
  /** Prefix of the child's output lines and of its error messages (default `pcf`). */
  label?: string;
  /** Extra environment for the child, applied over the inherited one (e.g. PCF_REDIS_URL). */
  env?: Record<string, string>;
  /**
   * Readiness checks that must report `up`, not only a 200. A non-critical check (the
   * cache) that is down still answers 200 "degraded", and a benchmark of a server whose
   * Redis is unreachable would silently measure its fallback path.
   */
  requireUp?: string[];
}

/**
 * The options of a PCF target's server: its rate limiter on (with budgets no run reaches)
 * or off, and with `redis`, Redis as its cache and rate-limit store, under the run's key
 * prefix, its readiness then also requiring the cache check to be up. The real-time servers
 * get their queue (in process, or NATS with the run's own stream; readiness then also
 * requires the queue check to be up) and WebSocket connections per user out of reach.
 */
export function pcfServerOptions(target: PcfTarget, redis: { url: string; keyPrefix: string }, nats?: { url: string; stream: string }): PcfServerOptions {
  const spec = PCF_SERVERS[target];
  if (spec.queue === 'nats' && !nats) throw new Error(`the ${target} server needs a NATS URL and stream`);
  const requireUp = [...(spec.redis ? ['cache'] : []), ...(spec.queue ? ['queue'] : [])];
  return {
    label: target,
    env: {
      ...rateLimitEnv(spec),
      ...(spec.redis ? { PCF_REDIS_URL: redis.url, PCF_REDIS_KEY_PREFIX: redis.keyPrefix } : {}),
      ...(spec.queue === 'memory' ? { PCF_QUEUE_URL: '' } : {}),
      ...(spec.queue === 'nats' && nats ? { PCF_QUEUE_URL: nats.url, PCF_QUEUE_NAME: nats.stream } : {}),
      ...(spec.manyWebSockets ? { PCF_WEBSOCKET_MAX_CONNECTIONS_PER_USER: String(MAX_WEBSOCKETS_PER_USER) } : {}),
    },
    ...(requireUp.length > 0 ? { requireUp } : {}),
  };
}

/** The configuration's maximum of websocket.maxConnectionsPerUser: no real-time scenario reaches it. */
export const MAX_WEBSOCKETS_PER_USER = 100_000;

/**
 * Starts the PCF server from its build output against the benchmark database and waits
 * until GET /health/ready answers 200 (polled every 200 ms) with every `requireUp` check up.
 */
export async function startPcfServer(entry: string, databaseUrl: string, readyTimeoutMs: number, options: PcfServerOptions = {}): Promise<RunningServer> {
  const label = options.label ?? 'pcf';
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  // BENCH_CPU_PROF=<dir>: each PCF server writes a V8 CPU profile there when it stops.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = spawnChild(label, process.execPath, [...profile, entry], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PCF_DATABASE_URL: databaseUrl,
      PCF_PORT: String(port),
      PCF_HOST: '127.0.0.1',
      PCF_LOG_LEVEL: 'warn',
      PCF_PROFILE: 'production',
      ...options.env,
    },
  });
  const started = Date.now();
  let last = 'no answer yet';
  while (Date.now() - started < readyTimeoutMs) {
    if (child.hasExited()) {
      throw new Error(`${label} server exited before it was ready (${await child.exited})\n${child.tail()}`);
    }
    try {
      const res = await fetch(`${baseUrl}/health/ready`, { signal: AbortSignal.timeout(5_000) });
      const body = await res.text();
      const down = res.status === 200 ? checksNotUp(body, options.requireUp ?? []) : [];
      if (res.status === 200 && down.length === 0) {
        return { baseUrl, child, stop: () => stopChild(child) };
      }
      last = `HTTP ${res.status}${down.length > 0 ? ` but ${down.join(', ')} not up` : ''}: ${body.slice(0, 300)}`;
    } catch (err) {
      const cause = (err as Error & { cause?: Error }).cause;
      last = cause?.message ?? (err as Error).message;
    }
    await sleep(200);
  }
  await stopChild(child);
  throw new Error(
    `${label} server was not ready ${readyTimeoutMs / 1000} s after start: GET ${baseUrl}/health/ready -> ${last}\n` +
      `last output:\n${child.tail() || '(none)'}`,
  );
}

/** The names in `required` whose check in a readiness body is missing or not `up`. */
function checksNotUp(body: string, required: string[]): string[] {
  if (required.length === 0) return [];
  let checks: Record<string, { status?: unknown }> = {};
  try {
    checks = (JSON.parse(body) as { checks?: typeof checks }).checks ?? {};
  } catch {
    // not JSON: every required check counts as down
  }
  return required.filter((name) => checks[name]?.status !== 'up');
}
