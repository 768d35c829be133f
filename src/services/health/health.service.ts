/**
 * Liveness and readiness (DESIGN §5 "Operations"). Each dependency contributes one check;
 * every check is bounded by a timeout so the whole answer comes within the contract's 5 s.
 */
export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy' | 'starting';

export interface HealthCheck {
  name: string;
  /** A failing critical check makes the instance unhealthy; any other makes it degraded. */
  critical: boolean;
  /** Resolves when the dependency answers. */
  check(): Promise<void>;
}

export interface CheckResult {
  status: 'up' | 'down';
  latencyMs: number;
  error?: string;
}

export interface Readiness {
  status: HealthStatus;
  /** What this instance runs (api, auth, worker): its checks are those its roles need. */
  roles: string[];
  checks: Record<string, CheckResult>;
}

/** Where the instance is in its life: readiness depends on it before any check runs. */
export type LifecyclePhase = 'starting' | 'running' | 'stopping';

export interface HealthServiceOptions {
  checks: HealthCheck[];
  /** The instance's roles, named in every answer (a probe can tell a worker from an API instance). */
  roles?: readonly string[];
  timeoutMs: number;
  phase: () => LifecyclePhase;
  /**
   * How long one round of checks answers every probe (default 1 s). Probes are
   * unauthenticated; without this each one would cost a database and a cache round trip.
   */
  reuseMs?: number;
  now?: () => number;
}

type CheckRound = readonly (readonly [HealthCheck, CheckResult])[];

export class HealthService {
  readonly #options: HealthServiceOptions;
  #round: { at: number; results: Promise<CheckRound> } | undefined;
  constructor(options: HealthServiceOptions) {
    this.#options = options;
  }

  /** Ready (healthy or degraded) means a load balancer may send traffic here. */
  static isReady(status: HealthStatus): boolean {
    return status === 'healthy' || status === 'degraded';
  }

  async readiness(): Promise<Readiness> {
    const entries = await this.#checks();
    const checks = Object.fromEntries(entries.map(([c, r]) => [c.name, r]));
    const phase = this.#options.phase();
    let status: HealthStatus;
    if (phase === 'starting') status = 'starting';
    // A draining instance reports unhealthy so the load balancer stops sending it traffic.
    else if (phase === 'stopping') status = 'unhealthy';
    else if (entries.some(([c, r]) => c.critical && r.status === 'down')) status = 'unhealthy';
    else if (entries.some(([, r]) => r.status === 'down')) status = 'degraded';
    else status = 'healthy';
    return { status, roles: [...(this.#options.roles ?? [])], checks };
  }

  /** The latest round of checks while it is fresh (or still running), else a new round. */
  #checks(): Promise<CheckRound> {
    const now = (this.#options.now ?? (() => performance.now()))();
    if (!this.#round || now - this.#round.at >= (this.#options.reuseMs ?? 1000)) {
      this.#round = { at: now, results: Promise.all(this.#options.checks.map(async (c) => [c, await this.#run(c)] as const)) };
    }
    return this.#round.results;
  }

  async #run(check: HealthCheck): Promise<CheckResult> {
    const now = this.#options.now ?? (() => performance.now());
    const started = now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CheckTimeout(this.#options.timeoutMs)), this.#options.timeoutMs);
    });
    try {
      await Promise.race([check.check(), timeout]);
      return { status: 'up', latencyMs: Math.round(now() - started) };
    } catch (err) {
      // Only a fixed phrase leaves this service: driver messages can name hosts or users.
      const error = err instanceof CheckTimeout ? `no answer within ${this.#options.timeoutMs} ms` : 'unreachable';
      return { status: 'down', latencyMs: Math.round(now() - started), error };
    } finally {
      clearTimeout(timer);
    }
  }
}

class CheckTimeout extends Error {
  constructor(ms: number) {
    super(`check timed out after ${ms} ms`);
  }
}
