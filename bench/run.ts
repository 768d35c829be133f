/**
 * `npm run bench`: measures the PCF server against bare Fastify baselines in one run, on
 * this machine, and reports throughput as ratios (docs/design.md §6). See bench/README.md.
 *
 * Each server under test runs in a child process; autocannon runs here. The bare baselines'
 * server starts first, is warmed, and stays up for the whole run; each PCF server of
 * SERVER_TARGETS runs in turn beside it (in-process, then with Redis; each with the rate
 * limiter on, then off), then the real-time servers (in-process queue, then NATS), whose
 * WebSocket subscribers also run here (realtime.ts). Each PCF scenario's measured rounds
 * alternate with its baselines' (bare-pg, resource-get, bare-pg, resource-get, …), so that
 * other work on the machine weighs on both sides of every ratio alike.
 */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { BenchError, readBenchConfig, redactUrl, type BenchConfig } from './config.js';
import { databaseName, ensureBareResourceTables, ensureBenchItems, openBenchDatabase } from './database.js';
import { loadProblem, preflight, prepareLoad, runLoad, type Measurement, type PreparedLoad } from './load.js';
import { CPU_COUNT, watchOtherCpu } from './noise.js';
import { installCleanupHandlers, rssMb, sleep, stopAllChildren } from './processes.js';
import { BENCH_RATE_LIMIT, decisionsBetween, decisionsProblem, readRateLimitDecisions } from './rate-limit.js';
import { deleteBenchStreams, probeNats, uniqueStreamName } from './nats.js';
import { baseRealtimeResult, runRealtimeScenario, WS_WARMUP_MUTATIONS } from './realtime.js';
import { runGraphqlCpu } from './graphql-cpu.js';
import { runGraphqlRefusal } from './graphql-refusal.js';
import { deleteKeysWithPrefix, probeRedis, uniqueKeyPrefix } from './redis.js';
import { purgeStaleBenchAccounts } from './resources.js';
import { runSharesHeap } from './shares-heap.js';
import { computeRatios, describeTarget, formatRealtimeTable, formatTable, writeJson, type LoadPlan, type RunMeta, type ScenarioResult } from './report.js';
import {
  BASELINES,
  PCF_SERVERS,
  REALTIME_GROUP,
  realtimeScenarios,
  SERVER_TARGETS,
  scenarios,
  type Baseline,
  type RealtimeScenario,
  type Scenario,
  type SetupResult,
} from './scenarios.js';
import { MAX_WEBSOCKETS_PER_USER, REPO_ROOT, pcfBuilt, pcfEntry, pcfServerOptions, startBareServer, startPcfServer, type RunningServer } from './servers.js';

const RESULTS_FILE = fileURLToPath(new URL('./results/latest.json', import.meta.url));
/** docs/design.md §6: idle memory (RSS) on PostgreSQL. */
const IDLE_RSS_TARGET_MB = 150;
/** Other processes' CPU (% of the machine) during a measurement above which its numbers are flagged. */
const NOISY_OTHER_CPU_PERCENT = 10;

const log = (msg: string) => console.error(`bench: ${msg}`);

/**
 * The scenarios to run, in registry order: BENCH_ONLY's and the arguments' (else every one
 * that is not opt-in), the opt-in scale scenarios when BENCH_SCALE asks for them, whatever
 * those require or compare their throughput with, and the baselines they are measured next
 * to (real-time scenarios have none). The real-time ones are
 * named one by one, or all (but the opt-in ones) with the group name `realtime`.
 */
function selectScenarios(config: BenchConfig): { http: Scenario[]; realtime: RealtimeScenario[] } {
  const byName = new Map(scenarios.map((s) => [s.name, s]));
  const realtimeNames = new Set(realtimeScenarios.map((s) => s.name));
  if (byName.size !== scenarios.length || realtimeNames.size !== realtimeScenarios.length || [...realtimeNames, REALTIME_GROUP].some((n) => byName.has(n))) {
    throw new Error('Two scenarios (or a scenario and the realtime group) share a name in bench/scenarios.ts');
  }
  for (const b of BASELINES) {
    if (byName.get(b)?.target !== 'bare') throw new Error(`Baseline "${b}" has no bare scenario in bench/scenarios.ts`);
  }
  for (const s of scenarios) {
    if (s.target === 'bare' && !(BASELINES as readonly string[]).includes(s.name)) throw new Error(`Bare scenario "${s.name}" is not in BASELINES`);
  }
  for (const [i, s] of scenarios.entries()) {
    for (const r of s.requires ?? []) {
      const required = scenarios.findIndex((x) => x.name === r);
      if (required < 0 || required > i || scenarios[required]!.target !== s.target) {
        throw new Error(`Scenario "${s.name}" requires "${r}", which must be an earlier scenario on the same server`);
      }
    }
    // Any server: the ratio is computed once every server has run.
    const relative = s.throughputRelativeTo;
    if (relative !== undefined && (relative === s.name || !byName.has(relative))) {
      throw new Error(`Scenario "${s.name}" compares its throughput with "${relative}", which must be another scenario`);
    }
  }
  const only = config.only;
  const unknown = (only ?? []).filter((n) => !byName.has(n) && !realtimeNames.has(n) && n !== REALTIME_GROUP);
  if (unknown.length > 0) {
    const known = [...byName.keys(), ...realtimeNames, `${REALTIME_GROUP} (every real-time scenario)`];
    throw new BenchError(`unknown scenario(s) in BENCH_ONLY or the arguments: ${unknown.join(', ')}. Known: ${known.join(', ')}`);
  }
  const realtime = realtimeScenarios.filter((s) => (only ? only.includes(s.name) || (only.includes(REALTIME_GROUP) && !s.optIn) : !s.optIn));
  const httpNamed = only?.filter((n) => byName.has(n));
  const wanted = new Set<string>([
    ...(httpNamed ?? scenarios.filter((s) => !s.optIn).map((s) => s.name)),
    ...(config.scale === '1m' ? scenarios.filter((s) => s.optIn).map((s) => s.name) : []),
  ]);
  const pending = [...wanted];
  for (let name = pending.pop(); name !== undefined; name = pending.pop()) {
    const s = byName.get(name);
    const brings = [...(s?.requires ?? []), ...(s?.throughputRelativeTo !== undefined ? [s.throughputRelativeTo] : []), ...(s ? pairedBaselines(s) : [])];
    for (const r of brings) {
      if (!wanted.has(r)) pending.push(r);
      wanted.add(r);
    }
  }
  return { http: scenarios.filter((s) => wanted.has(s.name)), realtime };
}

/** The baselines measured next to a PCF scenario in every round, `compareTo` first; none for a baseline. */
function pairedBaselines(s: Scenario): Baseline[] {
  return s.target === 'bare' ? [] : [s.compareTo, ...(s.alsoCompareTo ?? []).map((a) => a.baseline).filter((b) => b !== s.compareTo)];
}

/** The scenario's connections and durations: its own where it sets them, else the run's. */
function loadPlan(s: Scenario, config: BenchConfig): LoadPlan {
  return {
    connections: s.connections ?? config.connections,
    warmupS: Math.min(config.warmupS, s.maxWarmupS ?? Infinity),
    durationS: Math.min(config.durationS, s.maxDurationS ?? Infinity),
  };
}

function baseResult(s: Scenario, config: BenchConfig): ScenarioResult {
  return {
    name: s.name,
    description: s.description,
    target: s.target,
    method: s.method,
    path: s.path,
    compareTo: s.compareTo,
    ...(s.designTarget ? { designTarget: s.designTarget } : {}),
    ...(s.note ? { note: s.note } : {}),
    ...(s.throughputRelativeTo !== undefined ? { throughputRelative: { to: s.throughputRelativeTo, ratio: null } } : {}),
    load: loadPlan(s, config),
    status: 'skipped',
    ...(s.target === 'bare' ? {} : { pairs: pairedBaselines(s).map((baseline) => ({ baseline, ...minRatioOf(s, baseline), rounds: [] })) }),
  };
}

function minRatioOf(s: Scenario, baseline: Baseline): { minRatio?: number } {
  const min = baseline === s.compareTo ? s.designTarget?.minRatio : s.alsoCompareTo?.find((a) => a.baseline === baseline)?.minRatio;
  return min === undefined ? {} : { minRatio: min };
}

/** A scenario set up and checked on its server, ready for warm-up and measured rounds. */
interface Prepared {
  s: Scenario;
  server: RunningServer;
  load: PreparedLoad;
  plan: LoadPlan;
  result: ScenarioResult;
  teardown?: () => Promise<void>;
}

function failResult(result: ScenarioResult, reason: string): void {
  result.status = 'failed';
  result.reason = reason;
  console.error(`\nbench: ✗ scenario ${result.name} FAILED: ${reason}\n`);
}

/** Runs the scenario's setup and its preflight; on failure, marks it failed, tears down and returns undefined. */
async function prepare(s: Scenario, server: RunningServer, db: pg.Pool, config: BenchConfig, result: ScenarioResult): Promise<Prepared | undefined> {
  let setup: SetupResult | void = undefined;
  try {
    setup = s.setup ? await s.setup({ baseUrl: server.baseUrl, db }) : undefined;
    const load = prepareLoad(s, setup);
    const broken = await preflight(server.baseUrl, load);
    if (broken) throw new Error(`preflight request failed: ${broken}`);
    return { s, server, load, plan: loadPlan(s, config), result, ...(setup?.teardown ? { teardown: setup.teardown } : {}) };
  } catch (err) {
    failResult(result, (err as Error).message.startsWith('preflight') ? (err as Error).message : ((err as Error).stack ?? String(err)));
    if (setup?.teardown) await setup.teardown().catch((e: unknown) => log(`${s.name}: teardown failed: ${(e as Error).message}`));
    return undefined;
  }
}

async function tearDown(p: Prepared): Promise<void> {
  await p.teardown?.().catch((err: unknown) => log(`${p.s.name}: teardown failed: ${(err as Error).message}`));
}

function loadSettings(p: Prepared, config: BenchConfig, durationS: number) {
  return { connections: p.plan.connections, pipelining: config.pipelining, durationS };
}

/** The warm-up load (not measured). False, with the scenario failed, when it saw errors. */
async function warmUp(p: Prepared, config: BenchConfig): Promise<boolean> {
  if (p.result.status === 'failed') return false;
  const withConnections = p.plan.connections === config.connections ? '' : ` at ${p.plan.connections} connections`;
  log(`${p.s.name}: warm-up ${p.plan.warmupS} s${withConnections}…`);
  const m = await runLoad(p.server.baseUrl, p.load, loadSettings(p, config, p.plan.warmupS), `${p.s.name} warm-up`);
  p.result.warmup = m;
  const problem = loadProblem(m);
  if (problem) failResult(p.result, `during warm-up: ${problem}`);
  return !problem;
}

/** One measured run, added to the scenario's rounds; undefined (and the scenario failed) when it saw errors. */
async function measure(p: Prepared, config: BenchConfig, label: string): Promise<Measurement | undefined> {
  if (p.result.status === 'failed') return undefined;
  const otherCpu = await watchOtherCpu(p.server.child.pid, databaseName(config.databaseUrl));
  const m = await runLoad(p.server.baseUrl, p.load, loadSettings(p, config, p.plan.durationS), p.s.name);
  const other = await otherCpu();
  if (other !== undefined) m.otherCpuPercent = other;
  const problem = loadProblem(m) ?? (p.server.child.hasExited() ? `the ${p.s.target} server exited during the run` : undefined);
  if (problem) {
    failResult(p.result, problem);
    return undefined;
  }
  (p.result.rounds ??= []).push(m);
  const noisy = other !== undefined && other > NOISY_OTHER_CPU_PERCENT ? `; ⚠ other processes took ${other}% of the CPU` : '';
  log(`${p.s.name} ${label}: ${Math.round(m.reqPerSec)} req/s, p50 ${m.p50Ms} ms, p99 ${m.p99Ms} ms (${m.totalRequests} requests)${noisy}`);
  return m;
}

/**
 * A baseline that no PCF scenario was measured next to (named alone, or its PCF scenarios
 * were skipped): warmed again, then measured on its own for the run's rounds.
 */
async function runAlone(p: Prepared, config: BenchConfig): Promise<void> {
  if (!(await warmUp(p, config))) return;
  for (let round = 1; round <= config.rounds; round++) {
    if (!(await measure(p, config, `round ${round}/${config.rounds}`))) return;
  }
  p.result.status = 'ok';
}

/**
 * A PCF scenario and the baselines it is compared to: set up, warm-up of the baselines (the
 * bare server has been idle meanwhile) and of the scenario, then BENCH_ROUNDS rounds of each
 * baseline followed by the scenario, each round's ratio taken between measurements made back
 * to back, then the teardown. On the PCF servers, the rate limiter's decisions over the load
 * are checked too.
 */
async function runPaired(
  s: Scenario,
  server: RunningServer,
  baselines: Map<string, Prepared>,
  db: pg.Pool,
  config: BenchConfig,
  result: ScenarioResult,
): Promise<void> {
  const p = await prepare(s, server, db, config, result);
  if (!p) return;
  try {
    const pairs = (result.pairs ?? []).flatMap((pair) => {
      const base = baselines.get(pair.baseline);
      if (!base || base.result.status === 'failed') {
        log(`${s.name}: ⚠ its baseline ${pair.baseline} is not available: no ratio to it`);
        return [];
      }
      return [{ pair, base }];
    });
    // PCF's count of rate-limit decisions, before and after the load: proof that the limiter
    // was on or off as the server's target says, and that Redis (not a fallback) counted.
    const spec = s.target === 'bare' ? undefined : PCF_SERVERS[s.target];
    const decisionsBefore = spec && (await readRateLimitDecisions(server.baseUrl));

    for (const { base } of pairs) await warmUp(base, config);
    if (!(await warmUp(p, config))) return;
    for (let round = 1; round <= config.rounds; round++) {
      const label = `round ${round}/${config.rounds}`;
      const baseMs = [];
      for (const { pair, base } of pairs) baseMs.push({ pair, m: await measure(base, config, `${label} (next to ${s.name})`) });
      const m = await measure(p, config, label);
      if (!m) return;
      for (const { pair, m: b } of baseMs) {
        if (!b || b.reqPerSec <= 0 || b.p99Ms <= 0) continue;
        pair.rounds.push({
          baselineReqPerSec: b.reqPerSec,
          reqPerSec: m.reqPerSec,
          ratio: m.reqPerSec / b.reqPerSec,
          baselineP99Ms: b.p99Ms,
          p99Ms: m.p99Ms,
          p99Ratio: m.p99Ms / b.p99Ms,
        });
        log(`${s.name} ${label}: ${fmtRatio(m.reqPerSec / b.reqPerSec)} ${pair.baseline}, p99 ${fmtRatio(m.p99Ms / b.p99Ms)}`);
      }
    }
    if (spec) {
      const decisionsAfter = await readRateLimitDecisions(server.baseUrl);
      if (decisionsBefore && decisionsAfter) {
        const delta = decisionsBetween(decisionsBefore, decisionsAfter);
        result.rateLimitDecisions = delta;
        const { problem, warning } = decisionsProblem(spec, delta);
        if (problem) return failResult(result, problem);
        if (warning) log(`${s.name}: ⚠ ${warning}`);
      } else {
        log(`${s.name}: ⚠ could not read GET /metrics: the rate limiter's decisions are not checked`);
      }
    }
    result.status = 'ok';
  } catch (err) {
    failResult(result, (err as Error).stack ?? String(err));
  } finally {
    await tearDown(p);
  }
}

const fmtRatio = (n: number) => `${n.toFixed(2)}×`;

/** Deletes the run's NATS stream (and stale ones of killed runs); logs, never throws. */
async function dropNatsStreams(nats: { url: string; stream: string }): Promise<void> {
  await deleteBenchStreams(nats.url, nats.stream).then(
    (names) => log(`deleted NATS stream(s) ${names.length > 0 ? names.join(', ') : '(none found)'}`),
    (err: unknown) => log(`could not delete the NATS stream ${nats.stream}: ${(err as Error).message}`),
  );
}

/** Share of all CPUs' time spent busy over the next `ms` milliseconds, in percent. */
async function cpuBusyPercent(ms: number): Promise<number> {
  const total = () =>
    cpus().reduce(
      (acc, c) => {
        const t = c.times;
        acc.all += t.user + t.nice + t.sys + t.idle + t.irq;
        acc.idle += t.idle;
        return acc;
      },
      { all: 0, idle: 0 },
    );
  const a = total();
  await sleep(ms);
  const b = total();
  const all = b.all - a.all;
  return all > 0 ? Math.round((100 * (all - (b.idle - a.idle))) / all) : 0;
}

function displayPath(file: string): string {
  const rel = relative(REPO_ROOT, file);
  return rel.startsWith('..') ? file : rel;
}

function gitDescribe(): string | undefined {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/**
 * Scenarios that run in this process on their own (no server to load, no ratio): named
 * alone, they run instead of the load scenarios; named with others, they run first. Each
 * prints its own figures.
 */
const STANDALONE: Readonly<Record<string, () => Promise<void>>> = {
  // CPU per refused GraphQL document (issue 12 point 3); bench/graphql-refusal.ts.
  'graphql-refusal': async () => {
    if ((await runGraphqlRefusal()) !== 0) throw new Error('graphql-refusal failed');
  },
  // CPU per request of GraphQL resource(id) against REST get (issue 13); bench/graphql-cpu.ts.
  'graphql-cpu': async () => {
    if ((await runGraphqlCpu()) !== 0) throw new Error('graphql-cpu failed');
  },
  // CPU per request of the permission-filtered list against REST get; bench/list-cpu.ts.
  'list-cpu': async () => {
    const { runListCpu } = await import('./list-cpu.js');
    if ((await runListCpu()) !== 0) throw new Error('list-cpu failed');
  },
  // The worst diffs of two 1 MiB versions (issue 12 point 1); bench/diff-worst.ts.
  'diff-worst': async () => {
    await import('./diff-worst.js');
  },
  // CPU per request of the HTTP pipeline, in process (issue 13); bench/pipeline-cpu.ts.
  'pipeline-cpu': async () => {
    const { formatPipelineCpu, runPipelineCpu } = await import('./pipeline-cpu.js');
    console.log(formatPipelineCpu(await runPipelineCpu()));
  },
  // Heap after N shares and list time with N shares (issue 12 point 4); bench/shares-heap.ts.
  'shares-heap': async () => console.log(`shares-heap: ${JSON.stringify(await runSharesHeap(), null, 2)}`),
};

async function runStandalone(config: BenchConfig): Promise<BenchConfig> {
  const named = (config.only ?? []).filter((n) => Object.hasOwn(STANDALONE, n));
  for (const name of named) {
    log(`${name}: running in this process`);
    await STANDALONE[name]!();
  }
  if (named.length === 0) return config;
  const rest = config.only!.filter((n) => !named.includes(n));
  return { ...config, only: rest.length > 0 ? rest : undefined };
}

async function main(): Promise<number> {
  installCleanupHandlers();
  const given = readBenchConfig(process.argv.slice(2));
  const config = await runStandalone(given);
  if (config.only === undefined && given.only !== undefined) return 0;
  const { http: selected, realtime: selectedRealtime } = selectScenarios(config);
  const entry = pcfEntry(config.pcfEntry);
  const built = pcfBuilt(entry);
  const cpuList = cpus();
  const meta: RunMeta = {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cpuList.length,
    cpuModel: cpuList[0]?.model.trim() ?? 'unknown',
    totalMemoryMb: Math.round(totalmem() / 1024 / 1024),
    databaseUrl: redactUrl(config.databaseUrl),
    warmupS: config.warmupS,
    durationS: config.durationS,
    rounds: config.rounds,
    connections: config.connections,
    pipelining: config.pipelining,
    ...(config.only ? { only: config.only } : {}),
    ...(config.scale ? { scale: config.scale } : {}),
    cpuBusyPercentAtStart: await cpuBusyPercent(1_000),
    pcf: {
      built,
      entry: displayPath(entry),
      cache: process.env.PCF_REDIS_URL?.trim() ? 'redis' : 'memory',
      idleRssTargetMb: IDLE_RSS_TARGET_MB,
      rateLimit: BENCH_RATE_LIMIT,
    },
  };
  const commit = gitDescribe();
  if (commit) meta.gitCommit = commit;
  if (selectedRealtime.length > 0) {
    meta.realtime = {
      wsMutations: config.wsMutations,
      wsWarmupMutations: WS_WARMUP_MUTATIONS,
      wsIdle: config.wsIdle,
      maxWebSocketsPerUser: MAX_WEBSOCKETS_PER_USER,
    };
  }

  log(
    `node ${meta.node}, ${meta.cpus} CPUs, ${config.connections} connections, pipelining ${config.pipelining}, ` +
      `warm-up ${config.warmupS} s + ${config.rounds} × ${config.durationS} s per scenario; database ${meta.databaseUrl}`,
  );
  log(`scenarios: ${[...selected, ...selectedRealtime].map((s) => s.name).join(', ')}`);
  if (meta.pcf.cache === 'redis' && selected.some((s) => s.target !== 'bare' && !PCF_SERVERS[s.target].redis)) {
    log(
      'PCF_REDIS_URL is set: the `pcf` and `pcf-nolimit` servers use Redis too, so auth-me measures Redis, not the in-process cache, ' +
        'and health the Redis rate-limit store',
    );
  }
  if (meta.cpuBusyPercentAtStart > 20) {
    log(`⚠ the machine is busy before the run (${meta.cpuBusyPercentAtStart}% CPU in use): numbers will be noisy`);
  }

  const results = new Map(selected.map((s) => [s.name, baseResult(s, config)]));
  const realtimeResults = new Map(selectedRealtime.map((s) => [s.name, baseRealtimeResult(s)]));
  const db = await openBenchDatabase(config.databaseUrl);
  let bareServer: RunningServer | undefined;
  try {
    await ensureBenchItems(db);
    await ensureBareResourceTables(db);
    await purgeStaleBenchAccounts(db);
    const { rows } = await db.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    if (rows[0]) meta.postgres = rows[0].v;

    // One prefix for both Redis servers: its keys are deleted after each of them stops.
    const redis = { url: config.redisUrl, keyPrefix: uniqueKeyPrefix() };
    // The NATS stream of the run (PCF_QUEUE_NAME), deleted after its server stops.
    const nats = { url: config.natsUrl, stream: uniqueStreamName() };
    // The bare server: started first, every baseline set up and warmed before any PCF
    // server starts, and kept up (idle in between) so each PCF round can measure its
    // baselines right before itself.
    const baselines = new Map<string, Prepared>();
    const bareGroup = selected.filter((s) => s.target === 'bare');
    if (bareGroup.length > 0) {
      try {
        log('starting the bare server…');
        bareServer = await startBareServer(config.databaseUrl);
        log(`bare server ready at ${bareServer.baseUrl} (pid ${bareServer.child.pid})`);
        for (const s of bareGroup) {
          const p = await prepare(s, bareServer, db, config, results.get(s.name)!);
          if (p && (await warmUp(p, config))) baselines.set(s.name, p);
        }
      } catch (err) {
        const reason = `the bare server did not start: ${(err as Error).message}`;
        console.error(`\nbench: ✗ ${reason}\n`);
        for (const s of bareGroup) Object.assign(results.get(s.name)!, { status: 'failed', reason });
      }
    }

    let warnedNotBuilt = false;
    for (const target of SERVER_TARGETS) {
      if (target === 'bare') continue;
      const group = selected.filter((s) => s.target === target);
      const realtimeGroup = selectedRealtime.filter((s) => s.target === target);
      if (group.length === 0 && realtimeGroup.length === 0) continue;
      const skip = (reason: string) => {
        for (const s of group) results.get(s.name)!.reason = reason;
        for (const s of realtimeGroup) realtimeResults.get(s.name)!.reason = reason;
      };
      const groupNames = () => [...group, ...realtimeGroup].map((s) => s.name).join(', ');
      const usesRedis = PCF_SERVERS[target].redis;
      const usesNats = PCF_SERVERS[target].queue === 'nats';
      if (!built) {
        const reason = `PCF server not built (${meta.pcf.entry} is missing; \`npm run bench\` builds it first)`;
        if (!warnedNotBuilt) {
          console.error(`\nbench: ⚠ ${reason} — measuring the bare baselines only; PCF scenarios are SKIPPED.\n`);
          warnedNotBuilt = true;
        }
        skip(reason);
        continue;
      }
      if (usesRedis) {
        meta.redis = { url: redactUrl(redis.url), keyPrefix: redis.keyPrefix };
        try {
          meta.redis.version = await probeRedis(redis.url);
        } catch (err) {
          const reason = `Redis at ${meta.redis.url} is unreachable (${(err as Error).message}); set BENCH_REDIS_URL`;
          console.error(`\nbench: ⚠ ${reason} — the ${groupNames()} scenario(s) are SKIPPED.\n`);
          skip(reason);
          continue;
        }
      }
      if (usesNats && meta.realtime) {
        meta.realtime.nats = { url: redactUrl(nats.url), stream: nats.stream };
        try {
          meta.realtime.nats.version = await probeNats(nats.url);
        } catch (err) {
          const reason = `NATS JetStream at ${meta.realtime.nats.url} is unreachable (${(err as Error).message}); set BENCH_NATS_URL`;
          console.error(`\nbench: ⚠ ${reason} — the ${groupNames()} scenario(s) are SKIPPED.\n`);
          skip(reason);
          continue;
        }
      }
      let server: RunningServer;
      try {
        log(`starting the ${target} server…`);
        server = await startPcfServer(entry, config.databaseUrl, config.readyTimeoutMs, pcfServerOptions(target, redis, nats));
      } catch (err) {
        const reason = `the ${target} server did not start: ${(err as Error).message}`;
        console.error(`\nbench: ✗ ${reason}\n`);
        for (const s of group) Object.assign(results.get(s.name)!, { status: 'failed', reason });
        for (const s of realtimeGroup) Object.assign(realtimeResults.get(s.name)!, { status: 'failed', reason });
        if (usesNats) await dropNatsStreams(nats);
        continue;
      }
      try {
        log(`${target} server ready at ${server.baseUrl} (pid ${server.child.pid})`);
        if (target === 'pcf') {
          await sleep(2_000); // let start-up garbage settle before reading idle memory
          const rss = await rssMb(server.child.pid);
          if (rss !== undefined) meta.pcf.idleRssMb = rss;
        }
        for (const s of group) {
          await runPaired(s, server, baselines, db, config, results.get(s.name)!);
          await sleep(300);
        }
        for (const s of realtimeGroup) {
          await runRealtimeScenario(s, server, db, config, realtimeResults.get(s.name)!);
          await sleep(300);
        }
      } finally {
        await server.stop();
        if (usesNats) await dropNatsStreams(nats);
        if (usesRedis) {
          await deleteKeysWithPrefix(redis.url, redis.keyPrefix).then(
            (n) => log(`deleted ${n} Redis key(s) under ${redis.keyPrefix}`),
            (err: unknown) => log(`could not delete the Redis keys under ${redis.keyPrefix}: ${(err as Error).message}`),
          );
        }
      }
    }
    for (const p of baselines.values()) {
      if ((p.result.rounds ?? []).length === 0 && p.result.status !== 'failed') await runAlone(p, config);
      else if (p.result.status !== 'failed') p.result.status = 'ok';
    }
    for (const p of baselines.values()) await tearDown(p);
  } finally {
    await bareServer?.stop().catch(() => undefined);
    await db.end().catch(() => undefined);
    await stopAllChildren();
  }

  const ordered = [...results.values()];
  const realtime = [...realtimeResults.values()];
  computeRatios(ordered);
  console.log('');
  console.log(`PCF API benchmark — ${meta.date}, node ${meta.node}, ${meta.cpus} CPUs (${meta.cpuModel}), PostgreSQL ${meta.postgres ?? '?'}`);
  console.log(
    `${config.connections} connections, pipelining ${config.pipelining}, ${config.warmupS} s warm-up + ${config.rounds} rounds × ${config.durationS} s measured per scenario, ` +
      'each PCF round right after a round of each of its baselines',
  );
  console.log('');
  if (ordered.length > 0) {
    console.log(formatTable(ordered, { connections: config.connections, warmupS: config.warmupS, durationS: config.durationS }));
    console.log('');
  }
  if (realtime.length > 0) {
    console.log(formatRealtimeTable(realtime));
    console.log(
      (realtime.some((r) => r.kind === 'fanout')
        ? `  ${config.wsMutations} measured mutations (after ${WS_WARMUP_MUTATIONS} unmeasured) per fan-out. `
        : '  ') + 'Subscribers and PATCHes run in this process, on the same cores as the server: wall-clock times on one machine, client-side work included.',
    );
    console.log('');
  }
  if (meta.pcf.idleRssMb !== undefined) {
    const ok = meta.pcf.idleRssMb <= IDLE_RSS_TARGET_MB;
    console.log(`PCF idle RSS after start: ${meta.pcf.idleRssMb} MB (DESIGN §6 target ≤ ${IDLE_RSS_TARGET_MB} MB ${ok ? '✓' : '✗'})`);
  } else if (!built && selected.some((s) => s.target !== 'bare')) {
    console.log(`PCF scenarios skipped: ${meta.pcf.entry} does not exist (bare baselines only).`);
  }
  const withTargets = ordered.filter((r) => r.designTarget);
  const realtimeWithTargets = realtime.filter((r) => r.designTarget);
  if (withTargets.length + realtimeWithTargets.length > 0) {
    const missed = [
      ...withTargets
        .filter((r) => r.targetMet === false)
        .map(
          (r) =>
            `${r.name} (${describeTarget(
              r.designTarget!,
              r.compareTo,
              (r.pairs ?? []).filter((p) => p.baseline !== r.compareTo),
            )})`,
        ),
      ...realtimeWithTargets.filter((r) => r.targetMet === false).map((r) => `${r.name} (p99 ≤ ${r.designTarget!.maxP99Ms} ms)`),
    ];
    console.log(missed.length > 0 ? `DESIGN §6 targets missed: ${missed.join('; ')}` : 'DESIGN §6 targets: all measured ones met.');
  }
  const otherCpuOf = [
    ...ordered.map((r) => ({ name: r.name, other: Math.max(0, ...(r.rounds ?? []).map((m) => m.otherCpuPercent ?? 0)) })),
    ...realtime.map((r) => ({ name: r.name, other: r.fanout?.otherCpuPercent ?? r.idle?.otherCpuPercent })),
  ];
  const noisy = otherCpuOf.filter((r) => (r.other ?? 0) > NOISY_OTHER_CPU_PERCENT);
  if (noisy.length > 0) {
    console.log(
      `⚠ Other processes took CPU during ${noisy.map((r) => `${r.name} (${r.other}%)`).join(', ')} ` +
        `(% of all ${CPU_COUNT} CPUs, the worst round): the rounds alternate with their baselines so the ratios bear it better than the req/s, ` +
        'but judge them by their spread, and run again on a quieter machine if it is wide.',
    );
  }
  if (ordered.length > 0) console.log('Ratios compare runs on this machine in this run; absolute req/s drift between machines.');
  await writeJson(RESULTS_FILE, meta, ordered, realtime);
  console.log(`Results written to ${RESULTS_FILE}`);

  const failed = [...ordered, ...realtime].filter((r) => r.status === 'failed');
  if (failed.length > 0) {
    console.error(`\nbench: ✗ ${failed.length} scenario(s) FAILED: ${failed.map((r) => r.name).join(', ')} — their numbers are not valid.`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  async (err: unknown) => {
    console.error(`bench: ✗ ${err instanceof BenchError ? err.message : ((err as Error).stack ?? String(err))}`);
    await stopAllChildren();
    process.exit(1);
  },
);
