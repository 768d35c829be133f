/**
 * Results: the table printed on stdout and the JSON written to bench/results/latest.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Measurement } from './load.js';
import type { BENCH_RATE_LIMIT, RateLimitDecisions } from './rate-limit.js';
import { BASELINES, type Baseline, type DesignTarget, type Scenario } from './scenarios.js';

/** Connections and durations a scenario ran with (some scenarios set their own). */
export interface LoadPlan {
  connections: number;
  warmupS: number;
  durationS: number;
}

export interface ScenarioResult {
  name: string;
  description: string;
  target: Scenario['target'];
  method: Scenario['method'];
  path: string;
  compareTo: Baseline;
  designTarget?: DesignTarget;
  /** Why there is no design target, shown in its place. */
  note?: string;
  load: LoadPlan;
  status: 'ok' | 'failed' | 'skipped';
  /** Why the scenario failed or was skipped. */
  reason?: string;
  warmup?: Measurement;
  measurement?: Measurement;
  /** req/s of this scenario divided by each baseline's req/s (null when either is missing). */
  ratios?: Record<Baseline, number | null>;
  /** This scenario's p99 divided by the p99 of `designTarget.maxP99Relative.to` (null when that is missing). */
  p99Relative?: { to: string; ratio: number | null };
  /** This scenario's req/s divided by the req/s of its `throughputRelativeTo` scenario (null when that is missing). */
  throughputRelative?: { to: string; ratio: number | null };
  /** PCF's rate-limit decisions during the warm-up and the measured run, by outcome (PCF servers only). */
  rateLimitDecisions?: RateLimitDecisions;
  /** Whether `designTarget` was met; undefined when there is none or no measurement. */
  targetMet?: boolean;
}

export interface RunMeta {
  date: string;
  node: string;
  platform: string;
  cpus: number;
  cpuModel: string;
  totalMemoryMb: number;
  /** CPU in use (all cores, %) during the second before the run: other work skews the numbers. */
  cpuBusyPercentAtStart: number;
  postgres?: string;
  gitCommit?: string;
  databaseUrl: string;
  warmupS: number;
  durationS: number;
  connections: number;
  pipelining: number;
  only?: string[];
  /** BENCH_SCALE, when set. */
  scale?: '1m';
  /**
   * `cache` is the `pcf` server's: memory unless PCF_REDIS_URL was set in the environment.
   * `rateLimit`: the budgets every PCF server gets (the limiter is off on the `-nolimit` ones).
   */
  pcf: { built: boolean; entry: string; cache: 'memory' | 'redis'; idleRssMb?: number; idleRssTargetMb: number; rateLimit: typeof BENCH_RATE_LIMIT };
  /** The Redis of the `pcf-redis` servers, when one of their scenarios was selected. */
  redis?: { url: string; keyPrefix: string; version?: string };
}

/**
 * Fills in `ratios`, `throughputRelative`, `p99Relative` and `targetMet` from the baselines'
 * and other scenarios' measurements.
 */
export function computeRatios(results: ScenarioResult[]): void {
  const rpsOf = new Map<string, number>();
  const p99 = new Map<string, number>();
  for (const r of results) {
    if (r.status !== 'ok' || !r.measurement) continue;
    p99.set(r.name, r.measurement.p99Ms);
    rpsOf.set(r.name, r.measurement.reqPerSec);
  }
  const ratioTo = (rps: number, other: string) => {
    const base = rpsOf.get(other);
    return base && base > 0 ? rps / base : null;
  };
  for (const r of results) {
    if (r.status !== 'ok' || !r.measurement) continue;
    const rps = r.measurement.reqPerSec;
    const ratios = {} as Record<Baseline, number | null>;
    for (const b of BASELINES) ratios[b] = ratioTo(rps, b);
    r.ratios = ratios;
    if (r.throughputRelative) r.throughputRelative.ratio = ratioTo(rps, r.throughputRelative.to);
    const t = r.designTarget;
    if (!t) continue;
    const checks: (boolean | undefined)[] = [];
    if (t.minRatio !== undefined) {
      const ratio = ratios[r.compareTo];
      checks.push(ratio === null ? undefined : ratio >= t.minRatio);
    }
    if (t.maxP99Ms !== undefined) checks.push(r.measurement.p99Ms <= t.maxP99Ms);
    if (t.maxP99Relative) {
      const reference = p99.get(t.maxP99Relative.to);
      const ratio = reference && reference > 0 ? r.measurement.p99Ms / reference : null;
      r.p99Relative = { to: t.maxP99Relative.to, ratio };
      checks.push(ratio === null ? undefined : ratio <= t.maxP99Relative.ratio);
    }
    // Unknown (a missing reference) wins over met, so a half-checked target is never ✓.
    r.targetMet = checks.includes(undefined) ? undefined : checks.every(Boolean);
  }
}

export function describeTarget(t: DesignTarget, compareTo: Baseline): string {
  const parts: string[] = [];
  if (t.minRatio !== undefined) parts.push(`≥ ${t.minRatio}× ${compareTo}`);
  if (t.maxP99Ms !== undefined) parts.push(`p99 ≤ ${t.maxP99Ms} ms`);
  if (t.maxP99Relative) parts.push(`p99 ≤ ${t.maxP99Relative.ratio}× ${t.maxP99Relative.to}'s`);
  return parts.join(', ');
}

const fmtRps = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 });
const fmtMs = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(1));
const fmtRatio = (n: number | null | undefined) =>
  n === null || n === undefined ? '—' : `${n >= 0.1 || n === 0 ? n.toFixed(2) : n.toPrecision(2)}×`;

/**
 * The results table. `defaults` are the run's settings: scenarios that ran with other
 * connections or durations get a note under the table. The `× scenario` column (throughput
 * relative to another scenario) appears when some scenario has one.
 */
export function formatTable(results: ScenarioResult[], defaults?: LoadPlan): string {
  const relativeColumn = results.some((r) => r.throughputRelative);
  const relative = (r: ScenarioResult) => {
    if (!relativeColumn) return [];
    const t = r.throughputRelative;
    return [t && r.status === 'ok' ? `${fmtRatio(t.ratio)} ${t.to}` : ''];
  };
  const header = ['scenario', 'req/s mean', 'p50 ms', 'p99 ms', ...BASELINES.map((b) => `× ${b}`), ...(relativeColumn ? ['× scenario'] : []), 'DESIGN §6 target'];
  const rightAligned = new Set([1, 2, 3, ...BASELINES.map((_, i) => 4 + i)]);
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const r of results) {
    const target = r.designTarget ? describeTarget(r.designTarget, r.compareTo) : r.note ? `— ${r.note}` : '—';
    if (r.status !== 'ok' || !r.measurement) {
      const word = r.status === 'skipped' ? 'skipped' : 'FAILED';
      rows.push([r.name, word, '', '', ...BASELINES.map(() => ''), ...relative(r), target]);
      notes.push(`  ${r.name}: ${word}${r.reason ? ` — ${r.reason.split('\n')[0]}` : ''}`);
      continue;
    }
    const m = r.measurement;
    const d = defaults;
    if (d && (r.load.connections !== d.connections || r.load.warmupS !== d.warmupS || r.load.durationS !== d.durationS)) {
      notes.push(`  ${r.name}: ${r.load.connections} connections, ${r.load.warmupS} s warm-up + ${r.load.durationS} s measured (its own settings)`);
    }
    const mark = r.targetMet === undefined ? '' : r.targetMet ? ' ✓' : ' ✗';
    const p99Relative = r.p99Relative ? ` (${fmtRatio(r.p99Relative.ratio)})` : '';
    rows.push([
      r.name,
      fmtRps(m.reqPerSec),
      fmtMs(m.p50Ms),
      fmtMs(m.p99Ms),
      ...BASELINES.map((b) => fmtRatio(r.ratios?.[b])),
      ...relative(r),
      target + p99Relative + mark,
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)];
  if (notes.length > 0) out.push('', ...notes);
  return out.join('\n');
}

export async function writeJson(file: string, meta: RunMeta, results: ScenarioResult[]): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify({ meta, results }, null, 2) + '\n');
}
