/**
 * Turning a scenario into requests, checking one of them by hand, and putting load on it
 * with autocannon (in this, the parent, process).
 */
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import type { Scenario, SetupResult } from './scenarios.js';

export interface PreparedLoad {
  method: Scenario['method'];
  headers: Record<string, string>;
  /** One entry per rotation step; each autocannon connection starts at a different offset. */
  requests: { path: string; body?: string }[];
  idReplacement: boolean;
  /** The setup's `verify`, else the scenario's. */
  verify: ((body: string) => string | undefined) | undefined;
}

export interface LoadSettings {
  durationS: number;
  connections: number;
  pipelining: number;
}

export interface Measurement {
  reqPerSec: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  meanLatencyMs: number;
  maxLatencyMs: number;
  totalRequests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  durationS: number;
  /**
   * CPU that processes other than this run's took during the measurement, in % of the
   * whole machine (see noise.ts). Filled in by run.ts; absent where /proc is missing.
   */
  otherCpuPercent?: number;
}

const encodeBody = (body: string | object): string => (typeof body === 'string' ? body : JSON.stringify(body));

export function prepareLoad(scenario: Scenario, setup: SetupResult | void): PreparedLoad {
  const headers: Record<string, string> = {};
  const anyBody = scenario.body !== undefined || (setup?.bodies?.length ?? 0) > 0;
  const jsonBody = typeof scenario.body === 'object' || (setup?.bodies ?? []).some((b) => typeof b === 'object');
  if (anyBody && jsonBody) headers['content-type'] = 'application/json';
  for (const [k, v] of Object.entries({ ...scenario.headers, ...setup?.headers })) headers[k.toLowerCase()] = v;

  const paths = setup?.paths?.length ? setup.paths : [scenario.path];
  const bodies = setup?.bodies?.length ? setup.bodies.map(encodeBody) : scenario.body !== undefined ? [encodeBody(scenario.body)] : [undefined];
  const steps = Math.max(paths.length, bodies.length);
  const requests = Array.from({ length: steps }, (_, i) => {
    const body = bodies[i % bodies.length];
    return { path: paths[i % paths.length] ?? scenario.path, ...(body !== undefined ? { body } : {}) };
  });
  return { method: scenario.method, headers, requests, idReplacement: scenario.idReplacement ?? false, verify: setup?.verify ?? scenario.verify };
}

/**
 * Sends the first request (and a few more when rotating) once with fetch, so a broken
 * scenario fails with the server's actual answer instead of a count of non-2xx responses.
 * Returns an error message, or undefined when every answer was a 2xx that `verify` accepts.
 */
export async function preflight(baseUrl: string, load: PreparedLoad): Promise<string | undefined> {
  for (const req of load.requests.slice(0, 3)) {
    const body = load.idReplacement ? req.body?.replace(/\[<id>\]/g, randomUUID()) : req.body;
    let status: number;
    let text: string;
    try {
      const res = await fetch(baseUrl + req.path, {
        method: load.method,
        headers: load.headers,
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(10_000),
      });
      status = res.status;
      text = await res.text();
    } catch (err) {
      const cause = (err as Error & { cause?: Error }).cause;
      return `${load.method} ${req.path} failed: ${cause?.message ?? (err as Error).message}`;
    }
    if (status < 200 || status > 299) return `${load.method} ${req.path} answered ${status}: ${text.slice(0, 500)}`;
    if (load.verify) {
      let problem: string | undefined;
      try {
        problem = load.verify(text);
      } catch (err) {
        problem = `verify threw ${(err as Error).message} on ${text.slice(0, 300)}`;
      }
      if (problem) return `${load.method} ${req.path}: ${problem}`;
    }
  }
  return undefined;
}

/** One autocannon run of `durationS` seconds. */
export function runLoad(baseUrl: string, load: PreparedLoad, settings: LoadSettings, title: string): Promise<Measurement> {
  const steps = load.requests.length;
  let clientIndex = 0;
  const requestsFrom = (offset: number): autocannon.Request[] =>
    Array.from({ length: steps }, (_, i) => {
      const r = load.requests[(i + offset) % steps]!;
      return { method: load.method, path: r.path, ...(r.body !== undefined ? { body: r.body } : {}) };
    });
  // autocannon's own latency histogram has 1 ms resolution, too coarse for sub-millisecond
  // routes: keep every 2xx response time (a float in ms) and take percentiles from those.
  const latencies = new LatencyRecorder();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: baseUrl,
        title,
        method: load.method,
        headers: load.headers,
        connections: settings.connections,
        pipelining: settings.pipelining,
        duration: settings.durationS,
        timeout: 10,
        idReplacement: load.idReplacement,
        requests: requestsFrom(0),
        // Spread the connections over the rotation so they don't all ask for the same record.
        setupClient:
          steps > 1
            ? (client) => {
                const offset = Math.floor((clientIndex++ * steps) / settings.connections) % steps;
                if (offset > 0) client.setRequests(requestsFrom(offset));
              }
            : undefined,
      },
      (err: unknown, result: autocannon.Result) => {
        if (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        const statusCodes: Record<string, number> = {};
        for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stat.count ?? 0;
        const lat = latencies.summary();
        resolve({
          reqPerSec: result.requests.average,
          p50Ms: lat.p50,
          p90Ms: lat.p90,
          p99Ms: lat.p99,
          meanLatencyMs: lat.mean,
          maxLatencyMs: lat.max,
          totalRequests: result.requests.total,
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          statusCodes,
          durationS: result.duration,
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) latencies.add(responseTime);
    });
  });
}

/** Response times in ms, stored in a growing Float64Array (~8 bytes per request). */
export class LatencyRecorder {
  private values = new Float64Array(1 << 16);
  private n = 0;

  get count(): number {
    return this.n;
  }

  add(ms: number): void {
    if (this.n === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.n++] = ms;
  }

  summary(): { p50: number; p90: number; p99: number; mean: number; max: number } {
    if (this.n === 0) return { p50: 0, p90: 0, p99: 0, mean: 0, max: 0 };
    const sorted = this.values.subarray(0, this.n).sort();
    // Nearest-rank percentile.
    const pct = (p: number) => sorted[Math.min(this.n - 1, Math.max(0, Math.ceil((p / 100) * this.n) - 1))]!;
    let sum = 0;
    for (let i = 0; i < this.n; i++) sum += sorted[i]!;
    const round = (v: number) => Math.round(v * 1000) / 1000;
    return { p50: round(pct(50)), p90: round(pct(90)), p99: round(pct(99)), mean: round(sum / this.n), max: round(sorted[this.n - 1]!) };
  }
}

/** Why a load run's numbers can't be trusted, or undefined when every response was a 2xx. */
export function loadProblem(m: Measurement): string | undefined {
  if (m.non2xx === 0 && m.errors === 0 && m.totalRequests > 0) return undefined;
  const codes = Object.entries(m.statusCodes)
    .filter(([code]) => !code.startsWith('2'))
    .map(([code, n]) => `${code}×${n}`)
    .join(', ');
  return `${m.non2xx} non-2xx responses${codes ? ` (${codes})` : ''}, ${m.errors} errors ` + `(${m.timeouts} timeouts) out of ${m.totalRequests} requests`;
}
