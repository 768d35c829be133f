/**
 * Results: the table printed on stdout and the JSON written to bench/results/latest.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Measurement } from './load.js';
import type { BENCH_RATE_LIMIT, RateLimitDecisions } from './rate-limit.js';
import { releaseWarning, type RealtimeResult } from './realtime.js';
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
  /**
   * The real-time scenarios' settings, when one was selected: mutations per fan-out (after
   * the unmeasured warm-up ones), idle subscriptions, the WebSocket connections each user
   * may hold on their servers, and the NATS of `pcf-realtime-nats` (URL, the run's stream).
   */
  realtime?: {
    wsMutations: number;
    wsWarmupMutations: number;
    wsIdle: number;
    maxWebSocketsPerUser: number;
    nats?: { url: string; stream: string; version?: string };
  };
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
const fmtRatio = (n: number | null | undefined) => (n === null || n === undefined ? '—' : `${n >= 0.1 || n === 0 ? n.toFixed(2) : n.toPrecision(2)}×`);

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
  const header = [
    'scenario',
    'req/s mean',
    'p50 ms',
    'p99 ms',
    ...BASELINES.map((b) => `× ${b}`),
    ...(relativeColumn ? ['× scenario'] : []),
    'DESIGN §6 target',
  ];
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
  const out = tableLines(header, rows, rightAligned);
  if (notes.length > 0) out.push('', ...notes);
  return out.join('\n');
}

/**
 * The real-time results: a table of the fan-out scenarios (mutation → subscriber latency
 * over every delivery), then one paragraph per idle scenario.
 */
export function formatRealtimeTable(results: RealtimeResult[]): string {
  const out: string[] = [];
  const fanouts = results.filter((r) => r.kind === 'fanout');
  if (fanouts.length > 0) {
    const header = [
      'real-time scenario',
      'queue',
      'subscribers',
      'events',
      'p50 ms',
      'p99 ms',
      'max ms',
      'last p99 ms',
      'PATCH p50/p99 ms',
      'server CPU/event',
      'db tx/event',
      'DESIGN §6 target',
    ];
    const rightAligned = new Set([2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const rows: string[][] = [];
    const notes: string[] = [];
    for (const r of fanouts) {
      const target = r.designTarget ? `p99 ≤ ${r.designTarget.maxP99Ms} ms` : r.note ? `— ${r.note}` : '—';
      const m = r.fanout;
      if (r.status !== 'ok' || !m) {
        const word = r.status === 'skipped' ? 'skipped' : 'FAILED';
        rows.push([r.name, r.queue, m ? m.subscribers.toLocaleString('en-US') : '', '', word, '', '', '', '', '', '', target]);
        notes.push(`  ${r.name}: ${word}${r.reason ? ` — ${r.reason.split('\n')[0]}` : ''}`);
        continue;
      }
      const mark = r.targetMet === undefined ? '' : r.targetMet ? ' ✓' : ' ✗';
      const leak = releaseWarning(m.release, m.subscribers);
      if (leak) notes.push(`  ${r.name}: ⚠ ${leak}`);
      rows.push([
        r.name,
        r.queue,
        m.subscribers.toLocaleString('en-US'),
        m.mutations.toLocaleString('en-US'),
        fmtMs(m.latency.p50Ms),
        fmtMs(m.latency.p99Ms),
        fmtMs(m.latency.maxMs),
        fmtMs(m.lastDelivery.p99Ms),
        `${fmtMs(m.mutationHttp.p50Ms)} / ${fmtMs(m.mutationHttp.p99Ms)}`,
        m.serverCpuMsPerMutation === undefined ? '—' : `${fmtMs(m.serverCpuMsPerMutation)} ms`,
        m.dbTransactionsPerMutation === undefined ? '—' : m.dbTransactionsPerMutation.toLocaleString('en-US'),
        target + mark,
      ]);
    }
    out.push(...tableLines(header, rows, rightAligned));
    out.push(
      "  p50/p99/max: from just before each PATCH to each subscriber's receipt, over every delivery of the measured events;",
      '  last p99: to the last subscriber of each event. Each PATCH is sent once the previous event reached everyone.',
      "  server CPU/event and db tx/event: the server process's CPU time and the database's committed transactions per measured PATCH.",
    );
    if (notes.length > 0) out.push('', ...notes);
  }
  for (const r of results.filter((x) => x.kind === 'idle')) {
    if (out.length > 0) out.push('');
    const m = r.idle;
    if (r.status !== 'ok' || !m) {
      out.push(`${r.name} (${r.queue} queue): ${r.status === 'skipped' ? 'skipped' : 'FAILED'}${r.reason ? ` — ${r.reason.split('\n')[0]}` : ''}`);
      continue;
    }
    const n = (v: number) => v.toLocaleString('en-US');
    out.push(
      `${r.name} (${r.queue} queue): ${n(m.subscriptions)} idle subscribed connections, open in ${m.openS} s. Server RSS ${m.rssBeforeMb} → ${m.rssAfterMb} MB: ` +
        `${n(m.bytesPerSubscription)} bytes per idle subscription → ≈ ${n(m.estimatedIn1Gb)} would fit in 1 GB of RSS ` +
        `(extrapolated from the ${n(m.subscriptions)} measured).`,
      `  RSS by subscriptions: ${m.samples.map((x) => `${n(x.subscriptions)}: ${x.rssMb} MB`).join(', ')}` +
        (m.rssAfterCloseMb !== undefined ? `; all closed: ${m.rssAfterCloseMb} MB` : ''),
      `  While they idled: server CPU ${m.idleServerCpuPercent ?? '—'} % of one core, database ${m.idleDbTransactionsPerSec ?? '—'} transactions/s. ` +
        `One more PATCH reached all ${n(m.liveCheck.delivered)}: ` +
        `p50 ${fmtMs(m.liveCheck.latency.p50Ms)} ms, p99 ${fmtMs(m.liveCheck.latency.p99Ms)} ms, last ${fmtMs(m.liveCheck.latency.maxMs)} ms.`,
    );
    const leak = releaseWarning(m.release, m.subscriptions);
    if (leak) out.push(`  ⚠ ${leak}`);
  }
  return out.join('\n');
}

export async function writeJson(file: string, meta: RunMeta, results: ScenarioResult[], realtime: RealtimeResult[] = []): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify({ meta, results, ...(realtime.length > 0 ? { realtime } : {}) }, null, 2) + '\n');
}

/** A plain-text table: the header, a rule, the rows; the columns in `rightAligned` padded left. */
function tableLines(header: string[], rows: string[][], rightAligned: ReadonlySet<number>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)];
}
