/**
 * Results: the table printed on stdout and the JSON written to bench/results/latest.json.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Measurement } from './load.js';
import type { BENCH_RATE_LIMIT, RateLimitDecisions } from './rate-limit.js';
import { releaseWarning, type RealtimeResult } from './realtime.js';
import type { Baseline, DesignTarget, Scenario } from './scenarios.js';

/** Connections and durations a scenario ran with (some scenarios set their own). */
export interface LoadPlan {
  connections: number;
  warmupS: number;
  durationS: number;
}

/** The median of a set of figures and their range. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** One round of a PCF scenario next to one of its baselines: the two measurements taken back to back. */
export interface PairedRound {
  baselineReqPerSec: number;
  reqPerSec: number;
  /** reqPerSec / baselineReqPerSec. */
  ratio: number;
  baselineP99Ms: number;
  p99Ms: number;
  /** p99Ms / baselineP99Ms. */
  p99Ratio: number;
}

/** A scenario against one baseline over the rounds: the per-round ratios, their median and range. */
export interface BaselinePair {
  baseline: Baseline;
  /** The least ratio §6 asks for against this baseline, if any. */
  minRatio?: number;
  rounds: PairedRound[];
  ratio?: Spread;
  p99Ratio?: Spread;
  baselineReqPerSec?: Spread;
  baselineP99Ms?: Spread;
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
  /** Every measured run, in order (a baseline's: each one next to a PCF scenario, and its own rounds). */
  rounds?: Measurement[];
  /** The round with the median req/s (the one shown in the table's req/s and p50 columns). */
  measurement?: Measurement;
  /** req/s, p50 and p99 over the rounds. */
  reqPerSec?: Spread;
  p50Ms?: Spread;
  p99Ms?: Spread;
  /** PCF scenarios: each baseline measured next to it, `compareTo` first. */
  pairs?: BaselinePair[];
  /** This scenario's median p99 divided by the median p99 of `designTarget.maxP99Relative.to` (null when that is missing). */
  p99Relative?: { to: string; ratio: number | null };
  /** This scenario's median req/s divided by the median req/s of its `throughputRelativeTo` scenario (null when that is missing). */
  throughputRelative?: { to: string; ratio: number | null };
  /** PCF's rate-limit decisions during the warm-up and the measured runs, by outcome (PCF servers only). */
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
  /** Measured rounds per scenario (BENCH_ROUNDS). */
  rounds: number;
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

export function spreadOf(values: readonly number[]): Spread | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

/** The round whose req/s is the median (the lower middle one of an even count). */
function medianRound(rounds: readonly Measurement[]): Measurement | undefined {
  const sorted = [...rounds].sort((a, b) => a.reqPerSec - b.reqPerSec);
  return sorted[(sorted.length - 1) >> 1];
}

/**
 * Fills in the spreads over the rounds, each pair's per-round ratios, `throughputRelative`,
 * `p99Relative` and `targetMet`. A PCF scenario's ratio to a baseline is the median of the
 * ratios of the rounds, each taken against the baseline measured right before it, so a
 * machine that gets busier or quieter during the run moves both sides of each ratio.
 */
export function computeRatios(results: ScenarioResult[]): void {
  for (const r of results) {
    const rounds = r.rounds ?? [];
    if (rounds.length === 0) continue;
    r.measurement = medianRound(rounds);
    r.reqPerSec = spreadOf(rounds.map((m) => m.reqPerSec));
    r.p50Ms = spreadOf(rounds.map((m) => m.p50Ms));
    r.p99Ms = spreadOf(rounds.map((m) => m.p99Ms));
    for (const p of r.pairs ?? []) {
      p.ratio = spreadOf(p.rounds.map((x) => x.ratio));
      p.p99Ratio = spreadOf(p.rounds.map((x) => x.p99Ratio));
      p.baselineReqPerSec = spreadOf(p.rounds.map((x) => x.baselineReqPerSec));
      p.baselineP99Ms = spreadOf(p.rounds.map((x) => x.baselineP99Ms));
    }
  }
  const ok = (name: string) => results.find((x) => x.name === name && x.status === 'ok');
  for (const r of results) {
    if (r.status !== 'ok' || !r.reqPerSec || !r.p99Ms) continue;
    if (r.throughputRelative) {
      const other = ok(r.throughputRelative.to)?.reqPerSec?.median;
      r.throughputRelative.ratio = other ? r.reqPerSec.median / other : null;
    }
    const t = r.designTarget;
    if (!t) continue;
    const main = r.pairs?.find((p) => p.baseline === r.compareTo);
    const checks: (boolean | undefined)[] = [];
    if (t.minRatio !== undefined) checks.push(main?.ratio ? main.ratio.median >= t.minRatio : undefined);
    for (const p of r.pairs ?? []) {
      if (p.baseline !== r.compareTo && p.minRatio !== undefined) checks.push(p.ratio ? p.ratio.median >= p.minRatio : undefined);
    }
    if (t.maxP99Ms !== undefined) checks.push(r.p99Ms.median <= t.maxP99Ms);
    if (t.maxP99ToBaseline !== undefined) checks.push(main?.p99Ratio ? main.p99Ratio.median <= t.maxP99ToBaseline : undefined);
    if (t.maxP99Relative) {
      const reference = ok(t.maxP99Relative.to)?.p99Ms?.median;
      const ratio = reference && reference > 0 ? r.p99Ms.median / reference : null;
      r.p99Relative = { to: t.maxP99Relative.to, ratio };
      checks.push(ratio === null ? undefined : ratio <= t.maxP99Relative.ratio);
    }
    // Unknown (a missing reference) wins over met, so a half-checked target is never ✓.
    r.targetMet = checks.includes(undefined) ? undefined : checks.every(Boolean);
  }
}

export function describeTarget(t: DesignTarget, compareTo: Baseline, also: readonly { baseline: Baseline; minRatio?: number }[] = []): string {
  const parts: string[] = [];
  if (t.minRatio !== undefined) parts.push(`≥ ${t.minRatio}× ${compareTo}`);
  for (const a of also) if (a.minRatio !== undefined) parts.push(`≥ ${a.minRatio}× ${a.baseline}`);
  if (t.maxP99Ms !== undefined) parts.push(`p99 ≤ ${t.maxP99Ms} ms`);
  if (t.maxP99ToBaseline !== undefined) parts.push(`p99 ≤ ${t.maxP99ToBaseline}× ${compareTo}'s`);
  if (t.maxP99Relative) parts.push(`p99 ≤ ${t.maxP99Relative.ratio}× ${t.maxP99Relative.to}'s`);
  return parts.join(', ');
}

const fmtRps = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 });
const fmtMs = (n: number) => (n < 10 ? n.toFixed(2) : n.toFixed(1));
const fmtRatio = (n: number | null | undefined) => (n === null || n === undefined ? '—' : `${n >= 0.1 || n === 0 ? n.toFixed(2) : n.toPrecision(2)}×`);

const fmtSpread = (x: Spread | undefined, fmt: (n: number) => string) => (x ? `${fmt(x.median)} (${fmt(x.min)}–${fmt(x.max)})` : '—');
const fmtRatioSpread = (x: Spread | undefined) => (x ? `${fmtRatio(x.median)} (${x.min.toFixed(2)}–${x.max.toFixed(2)})` : '—');

/**
 * The results table: per scenario its median req/s, p50 and p99 over the rounds, then one
 * line per baseline measured next to it: the median of the rounds' ratios with their range,
 * the baseline's median p99 and the median p99 ratio. `defaults` are the run's settings:
 * scenarios that ran with other connections or durations get a note under the table. The
 * `× scenario` column (throughput relative to another scenario) appears when some scenario has one.
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
    'req/s (min–max)',
    'p50 ms',
    'p99 ms',
    'vs baseline',
    '× req/s: median (min–max)',
    'base p99',
    '× p99: median (min–max)',
    ...(relativeColumn ? ['× scenario'] : []),
    'DESIGN §6 target',
  ];
  const rightAligned = new Set([1, 2, 3, 5, 6, 7]);
  const rows: string[][] = [];
  const notes: string[] = [];
  const blank = (n: number) => Array.from({ length: n }, () => '');
  for (const r of results) {
    const also = (r.pairs ?? []).filter((p) => p.baseline !== r.compareTo);
    const target = r.designTarget ? describeTarget(r.designTarget, r.compareTo, also) : r.note ? `— ${r.note}` : '—';
    if (r.status !== 'ok' || !r.measurement) {
      const word = r.status === 'skipped' ? 'skipped' : 'FAILED';
      rows.push([r.name, word, ...blank(6), ...relative(r), target]);
      notes.push(`  ${r.name}: ${word}${r.reason ? ` — ${r.reason.split('\n')[0]}` : ''}`);
      continue;
    }
    const d = defaults;
    if (d && (r.load.connections !== d.connections || r.load.warmupS !== d.warmupS || r.load.durationS !== d.durationS)) {
      notes.push(`  ${r.name}: ${r.load.connections} connections, ${r.load.warmupS} s warm-up + ${r.load.durationS} s measured (its own settings)`);
    }
    const mark = r.targetMet === undefined ? '' : r.targetMet ? ' ✓' : ' ✗';
    const p99Relative = r.p99Relative ? ` (${fmtRatio(r.p99Relative.ratio)})` : '';
    const pairs = r.pairs ?? [];
    const pairCells = (p: BaselinePair | undefined) =>
      p ? [p.baseline, fmtRatioSpread(p.ratio), p.baselineP99Ms ? fmtMs(p.baselineP99Ms.median) : '—', fmtRatioSpread(p.p99Ratio)] : ['—', '', '', ''];
    rows.push([
      r.name,
      fmtSpread(r.reqPerSec, fmtRps),
      r.p50Ms ? fmtMs(r.p50Ms.median) : '—',
      r.p99Ms ? fmtMs(r.p99Ms.median) : '—',
      ...pairCells(pairs[0]),
      ...relative(r),
      target + p99Relative + mark,
    ]);
    for (const p of pairs.slice(1)) rows.push(['', '', '', '', ...pairCells(p), ...(relativeColumn ? [''] : []), '']);
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
