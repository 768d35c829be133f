/**
 * The real-time scenarios (DESIGN §6: mutation → WebSocket subscriber, 1,000 subscribers,
 * p99 ≤ 50 ms): WebSocket subscribers of `resourceChanged(id)`, opened from this process with
 * the `ws` package over the raw graphql-transport-ws protocol, against a PCF server child.
 *
 * - fan-out: N subscribers watch one resource; sequential PATCHes change it, each sent once
 *   every subscriber got the previous event; each delivery's time is measured from just
 *   before its PATCH was sent, and every subscriber must get every version exactly once.
 * - idle: K subscribed connections sit idle; the server's RSS before and after gives the
 *   bytes per idle subscription and how many would fit in 1 GB.
 *
 * Client and server share this machine's cores: the times are wall-clock on one machine,
 * client-side work included.
 */
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import WebSocket from 'ws';
import type { BenchConfig } from './config.js';
import { databaseName } from './database.js';
import { LatencyRecorder } from './load.js';
import { watchOtherCpu } from './noise.js';
import { cpuTimeMs, rssKb, sleep } from './processes.js';
import { decisionsBetween, decisionsProblem, readRateLimitDecisions, type RateLimitDecisions } from './rate-limit.js';
import { memberWithResources, type Member } from './resources.js';
import { PCF_SERVERS, type RealtimeScenario } from './scenarios.js';
import type { RunningServer } from './servers.js';

/** Unmeasured mutations before the measured ones (connections, caches and JIT warm up); their deliveries are checked all the same. */
export const WS_WARMUP_MUTATIONS = 20;
/** How long one event may take to reach every subscriber before it counts as missing somewhere. */
const EVENT_TIMEOUT_MS = 5_000;
/** Events in a row that time out before the fan-out gives up (deliveries have stopped). */
const MAX_TIMEOUTS_IN_A_ROW = 3;
/** After the last event: time for late duplicates to show up. */
const DRAIN_MS = 500;
/** Connections opened at once. */
const OPEN_CONCURRENCY = 100;
/** Time a connection gets for its handshake and connection_ack. */
const ACK_TIMEOUT_MS = 15_000;
/** 1 GB of RSS, the budget the idle scenario extrapolates to. */
const ONE_GB_MB = 1024;
/** Seconds the idle server's CPU is watched with every idle subscription open. */
const IDLE_CPU_WINDOW_MS = 5_000;
const MAX_PROBLEMS_KEPT = 10;
/** How long the server gets to drop the subscriptions of closed sockets from its gauge. */
const RELEASE_WAIT_MS = 3_000;

const SUBSCRIPTION = 'subscription($id: ID!) { resourceChanged(id: $id) { eventId version } }';

const log = (msg: string) => console.error(`bench: ${msg}`);

export interface LatencySummary {
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
  samples: number;
}

export interface FanoutMeasurement {
  subscribers: number;
  warmupMutations: number;
  /** Measured mutations (the latency figures cover these). */
  mutations: number;
  /** subscribers × (warm-up + measured mutations): every one must arrive exactly once. */
  expectedDeliveries: number;
  deliveries: number;
  missing: number;
  duplicates: number;
  /** `next` messages with no version this scenario made. */
  unexpected: number;
  /** Mutation → subscriber over every delivery of the measured mutations. */
  latency: LatencySummary;
  /** Per measured mutation: the time until its last subscriber had it (the whole fan-out). */
  lastDelivery: LatencySummary;
  /** The measured PATCHes' own response times. */
  mutationHttp: LatencySummary;
  /** Seconds to open the connections until every subscription was live (the gauge). */
  connectS: number;
  /** Seconds of the measured mutations. */
  durationS: number;
  /** Server CPU (user + system) per measured mutation, in ms: the PATCH, the relay and the fan-out. */
  serverCpuMsPerMutation?: number;
  /** This process's CPU per measured mutation, in ms: mostly the subscribers' receiving. */
  clientCpuMsPerMutation?: number;
  /**
   * Transactions the benchmark database committed per measured mutation (pg_stat_database):
   * the PATCH and the relay take a few; more means per-subscriber database work.
   */
  dbTransactionsPerMutation?: number;
  /** CPU other processes took during the measured mutations, in % of all CPUs (noise.ts). */
  otherCpuPercent?: number;
  /** The first few protocol problems (error messages, closed sockets…). */
  problems: string[];
  /** Whether the server let go of the subscriptions once their sockets closed. */
  release: ReleaseCheck;
}

/**
 * What became of the subscriptions after the client closed their sockets: `leaked` is how
 * many the `live_subscriptions` gauge still counted RELEASE_WAIT_MS later; `releasedByEvent`
 * whether one more change of the watched resource then let them go.
 */
export interface ReleaseCheck {
  leaked: number;
  releasedByEvent?: boolean;
}

export interface IdleMeasurement {
  subscriptions: number;
  /** Seconds to open them all until the gauge counted every one. */
  openS: number;
  /** RSS before opening them: the server's own, the base of the 1 GB estimate. */
  rssBeforeMb: number;
  rssAfterMb: number;
  /** RSS at each quarter of the way (after the gauge counted them and 1 s of rest). */
  samples: { subscriptions: number; rssMb: number }[];
  bytesPerSubscription: number;
  /** floor((1024 MB − rssBeforeMb) / bytesPerSubscription): idle subscriptions that fit in 1 GB of RSS. */
  estimatedIn1Gb: number;
  /** Server CPU while every subscription sat idle, in % of one core (keep-alive pings, session re-checks). */
  idleServerCpuPercent?: number;
  /** Transactions per second the benchmark database committed meanwhile (pg_stat_database.xact_commit; its statistics lag up to a second). */
  idleDbTransactionsPerSec?: number;
  /** One PATCH with every subscription open: proof that they were all live, and its fan-out time. */
  liveCheck: { delivered: number; missing: number; latency: LatencySummary };
  /** RSS once every connection was closed (and released). */
  rssAfterCloseMb?: number;
  otherCpuPercent?: number;
  problems: string[];
  release: ReleaseCheck;
}

export interface RealtimeResult {
  name: string;
  description: string;
  target: RealtimeScenario['target'];
  kind: RealtimeScenario['kind'];
  queue: 'memory' | 'nats';
  designTarget?: { maxP99Ms: number };
  note?: string;
  status: 'ok' | 'failed' | 'skipped';
  reason?: string;
  fanout?: FanoutMeasurement;
  idle?: IdleMeasurement;
  /** PCF's rate-limit decisions during the scenario, by outcome. */
  rateLimitDecisions?: RateLimitDecisions;
  /** p99 ≤ designTarget.maxP99Ms; undefined when there is none or no measurement. */
  targetMet?: boolean;
}

export function baseRealtimeResult(s: RealtimeScenario): RealtimeResult {
  return {
    name: s.name,
    description: s.description,
    target: s.target,
    kind: s.kind,
    queue: PCF_SERVERS[s.target].queue === 'nats' ? 'nats' : 'memory',
    ...(s.designTarget ? { designTarget: s.designTarget } : {}),
    ...(s.note ? { note: s.note } : {}),
    status: 'skipped',
  };
}

function summarize(recorder: LatencyRecorder): LatencySummary {
  const s = recorder.summary();
  return { p50Ms: s.p50, p90Ms: s.p90, p99Ms: s.p99, maxMs: s.max, meanMs: s.mean, samples: recorder.count };
}

// ---------------------------------------------------------------------------------------
// Subscribers

/** What the subscribers tell their owner: a version received (and when), or a problem. */
interface Sink {
  next(index: number, version: unknown, at: number): void;
  problem(index: number, message: string): void;
}

/**
 * WebSocket subscribers of one resource, all as one signed-in user. Each connection runs the
 * graphql-transport-ws handshake (connection_init with the bearer token, connection_ack),
 * then one `resourceChanged` subscription (operation id "1").
 */
class Subscribers {
  readonly sockets: WebSocket[] = [];
  readonly problems: string[] = [];
  problemCount = 0;
  #closing = false;

  constructor(
    readonly url: string,
    readonly token: string,
    readonly resourceId: string,
    readonly sink: Sink,
  ) {}

  problem(index: number, message: string): void {
    this.problemCount++;
    if (this.problems.length < MAX_PROBLEMS_KEPT) this.problems.push(`subscriber ${index}: ${message}`);
    this.sink.problem(index, message);
  }

  /** Opens `count` more connections, OPEN_CONCURRENCY at a time; resolves once each is acknowledged and subscribed. */
  async open(count: number): Promise<void> {
    const first = this.sockets.length;
    let next = first;
    const end = first + count;
    let failed = false;
    const worker = async () => {
      // After a failure (or once closing began) no worker starts another connection.
      while (next < end && !failed && !this.#closing) {
        const index = next++;
        try {
          this.sockets[index] = await this.#openOne(index);
        } catch (err) {
          failed = true;
          throw err;
        }
      }
    };
    const workers = Array.from({ length: Math.min(OPEN_CONCURRENCY, count) }, worker);
    try {
      await Promise.all(workers);
    } finally {
      // Let the handshakes under way finish, so closeAll() finds every socket this opened.
      await Promise.allSettled(workers);
    }
  }

  #openOne(index: number): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url, 'graphql-transport-ws', { perMessageDeflate: false, handshakeTimeout: ACK_TIMEOUT_MS });
      let acked = false;
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.terminate();
        reject(new Error(`subscriber ${index}: ${err.message}`));
      };
      const timer = setTimeout(() => fail(new Error(`no connection_ack within ${ACK_TIMEOUT_MS / 1000} s`)), ACK_TIMEOUT_MS);
      socket.on('open', () => {
        socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${this.token}` } }));
      });
      socket.on('message', (raw: WebSocket.RawData) => {
        // The arrival time first: everything below is client-side work.
        const at = performance.now();
        let message: { type?: unknown; id?: unknown; payload?: unknown };
        try {
          message = JSON.parse(rawText(raw)) as typeof message;
        } catch {
          this.problem(index, `unparseable message: ${rawText(raw).slice(0, 200)}`);
          return;
        }
        switch (message.type) {
          case 'next': {
            const payload = message.payload as { data?: { resourceChanged?: { version?: unknown } }; errors?: unknown } | undefined;
            if (payload?.errors) {
              this.problem(index, `next with errors: ${JSON.stringify(payload.errors).slice(0, 300)}`);
              return;
            }
            this.sink.next(index, payload?.data?.resourceChanged?.version, at);
            return;
          }
          case 'connection_ack':
            acked = true;
            clearTimeout(timer);
            socket.send(JSON.stringify({ type: 'subscribe', id: '1', payload: { query: SUBSCRIPTION, variables: { id: this.resourceId } } }));
            resolve(socket);
            return;
          case 'ping':
            socket.send('{"type":"pong"}');
            return;
          case 'pong':
            return;
          case 'error':
          case 'complete':
            this.problem(index, `${message.type}: ${JSON.stringify(message.payload ?? null).slice(0, 300)}`);
            return;
          default:
            this.problem(index, `unexpected message: ${rawText(raw).slice(0, 200)}`);
        }
      });
      socket.on('error', (err) => {
        if (!acked) fail(err);
        else this.problem(index, `socket error: ${err.message}`);
      });
      socket.on('close', (code, reason) => {
        if (!acked) fail(new Error(`closed before connection_ack: ${code} ${reason.toString()}`));
        else if (!this.#closing) this.problem(index, `closed by the server: ${code} ${reason.toString()}`);
      });
    });
  }

  /** Closes every connection (a normal 1000 close), terminating those that don't close within 5 s. */
  async closeAll(): Promise<void> {
    this.#closing = true;
    const open = this.sockets.filter((s) => s && s.readyState !== WebSocket.CLOSED);
    await Promise.all(
      open.map(
        (socket) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              socket.terminate();
              resolve();
            }, 5_000);
            socket.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            socket.close(1000, 'bench done');
          }),
      ),
    );
  }
}

function rawText(raw: WebSocket.RawData): string {
  if (Buffer.isBuffer(raw)) return raw.toString('utf8');
  if (Array.isArray(raw)) return Buffer.concat(raw).toString('utf8');
  return Buffer.from(raw).toString('utf8');
}

const LIVE = /^live_subscriptions\s+(\S+)/m;

/** PCF's `live_subscriptions` gauge from GET /metrics; undefined when it can't be read. */
async function liveSubscriptions(baseUrl: string): Promise<number | undefined> {
  try {
    const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
    if (res.status !== 200) return undefined;
    const m = LIVE.exec(await res.text());
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Polls the gauge every 100 ms until it reads `expected`; throws on timeout or a subscriber's problem. */
async function waitForLive(baseUrl: string, expected: number, timeoutMs: number, subscribers?: Subscribers): Promise<void> {
  const started = Date.now();
  let last: number | undefined;
  while (Date.now() - started < timeoutMs) {
    if (subscribers && subscribers.problemCount > 0) throw new Error(`a subscriber failed: ${subscribers.problems[0]}`);
    last = await liveSubscriptions(baseUrl);
    if (last === expected) return;
    await sleep(100);
  }
  throw new Error(
    last === undefined
      ? 'GET /metrics has no live_subscriptions gauge (does this build serve subscriptions?)'
      : `live_subscriptions read ${last}, not ${expected}, ${timeoutMs / 1000} s after the subscribers connected`,
  );
}

// ---------------------------------------------------------------------------------------
// Deliveries of a run of mutations

/**
 * Arrival times by (subscriber, version), for versions firstVersion … firstVersion+count−1,
 * with counts of duplicates and strays, and a wait for one version to reach everyone.
 */
class Deliveries implements Sink {
  readonly arrivals: Float64Array;
  readonly perVersion: Int32Array;
  duplicates = 0;
  unexpected = 0;
  readonly unexpectedSamples: string[] = [];
  #waiting: { offset: number; resolve: () => void } | undefined;

  constructor(
    readonly subscribers: number,
    readonly firstVersion: number,
    readonly count: number,
  ) {
    this.arrivals = new Float64Array(subscribers * count).fill(NaN);
    this.perVersion = new Int32Array(count);
  }

  next(index: number, version: unknown, at: number): void {
    const offset = typeof version === 'number' ? version - this.firstVersion : -1;
    if (!Number.isInteger(offset) || offset < 0 || offset >= this.count) {
      this.unexpected++;
      if (this.unexpectedSamples.length < MAX_PROBLEMS_KEPT) this.unexpectedSamples.push(`subscriber ${index}: version ${JSON.stringify(version)}`);
      return;
    }
    const slot = index * this.count + offset;
    if (!Number.isNaN(this.arrivals[slot]!)) {
      this.duplicates++;
      return;
    }
    this.arrivals[slot] = at;
    const n = ++this.perVersion[offset]!;
    if (n === this.subscribers && this.#waiting?.offset === offset) {
      const { resolve } = this.#waiting;
      this.#waiting = undefined;
      resolve();
    }
  }

  problem(): void {
    // Kept by Subscribers; a problem also shows up as a missing delivery.
  }

  /** Resolves true once every subscriber has `offset`'s version, false after `timeoutMs`. */
  allArrived(offset: number, timeoutMs: number): Promise<boolean> {
    if (this.perVersion[offset] === this.subscribers) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiting = undefined;
        resolve(false);
      }, timeoutMs);
      this.#waiting = {
        offset,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
    });
  }

  missing(): number {
    let n = 0;
    for (const a of this.arrivals) if (Number.isNaN(a)) n++;
    return n;
  }
}

/** Sends one PATCH changing the resource's data; returns the version the server reports. */
async function patch(baseUrl: string, member: Member, resourceId: string, n: number): Promise<number> {
  const res = await fetch(`${baseUrl}/api/v1/resources/${resourceId}`, {
    method: 'PATCH',
    headers: { ...member.headers, 'content-type': 'application/json' },
    body: JSON.stringify({ data: { n } }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`PATCH /api/v1/resources/${resourceId} answered ${res.status}: ${text.slice(0, 300)}`);
  const version = (JSON.parse(text) as { version?: unknown }).version;
  if (typeof version !== 'number') throw new Error(`PATCH answered without a version: ${text.slice(0, 300)}`);
  return version;
}

const wsUrl = (baseUrl: string) => `${baseUrl.replace(/^http/, 'ws')}/graphql`;
const token = (member: Member) => member.headers.authorization!.replace(/^Bearer /, '');

/**
 * Runs `count` sequential mutations of the member's resource, for the offsets start …
 * start+count−1 of `deliveries`, each after the previous one reached every subscriber (or
 * timed out). Returns the send times and PATCH response times, indexed from 0.
 */
async function mutate(
  baseUrl: string,
  member: Member,
  resourceId: string,
  deliveries: Deliveries,
  start: number,
  count: number,
): Promise<{ sentAt: Float64Array; httpMs: Float64Array; timedOut: number }> {
  const sentAt = new Float64Array(count);
  const httpMs = new Float64Array(count);
  let timedOut = 0;
  let inARow = 0;
  for (let i = 0; i < count; i++) {
    const offset = start + i;
    const expected = deliveries.firstVersion + offset;
    sentAt[i] = performance.now();
    const version = await patch(baseUrl, member, resourceId, expected);
    httpMs[i] = performance.now() - sentAt[i]!;
    if (version !== expected) throw new Error(`PATCH left the resource at version ${version}, expected ${expected} (someone else changed it?)`);
    if (await deliveries.allArrived(offset, EVENT_TIMEOUT_MS)) {
      inARow = 0;
    } else {
      timedOut++;
      if (++inARow >= MAX_TIMEOUTS_IN_A_ROW) {
        throw new Error(
          `${inARow} events in a row did not reach every subscriber within ${EVENT_TIMEOUT_MS / 1000} s ` +
            `(version ${expected}: ${deliveries.perVersion[offset]} of ${deliveries.subscribers}): deliveries have stopped`,
        );
      }
    }
  }
  return { sentAt, httpMs, timedOut };
}

/**
 * Closes every subscriber and checks that the server lets go of their subscriptions (the
 * gauge back at `base`). Those it keeps are flushed with one more change of the resource:
 * the scenario after this one must start on a clean server either way.
 */
async function closeAndCheckRelease(
  s: RealtimeScenario,
  server: RunningServer,
  subscribers: Subscribers,
  member: Member,
  resourceId: string,
  base: number,
  flushVersion: number,
): Promise<ReleaseCheck> {
  await subscribers.closeAll();
  try {
    await waitForLive(server.baseUrl, base, RELEASE_WAIT_MS);
    return { leaked: 0 };
  } catch {
    // fall through: some are still counted
  }
  const leaked = ((await liveSubscriptions(server.baseUrl)) ?? base) - base;
  log(
    `${s.name}: ⚠ ${leaked.toLocaleString('en-US')} subscription(s) still live ${RELEASE_WAIT_MS / 1000} s after their sockets closed; ` +
      'one more change of the resource to flush them…',
  );
  await patch(server.baseUrl, member, resourceId, flushVersion);
  try {
    await waitForLive(server.baseUrl, base, 10_000);
    return { leaked, releasedByEvent: true };
  } catch {
    return { leaked, releasedByEvent: false };
  }
}

/** The warning for a release check that found leaked subscriptions, or undefined. */
export function releaseWarning(r: ReleaseCheck, subscriptions: number): string | undefined {
  if (r.leaked === 0) return undefined;
  return (
    `${r.leaked.toLocaleString('en-US')} of ${subscriptions.toLocaleString('en-US')} subscriptions stayed live after their sockets closed ` +
    (r.releasedByEvent ? '(until the next event of the resource: a PCF bug, see bench/README.md)' : '(even after another event of the resource)')
  );
}

// ---------------------------------------------------------------------------------------
// The scenarios

/** What every real-time measurement works with. */
interface Measuring {
  s: RealtimeScenario;
  server: RunningServer;
  db: pg.Pool;
  config: BenchConfig;
  member: Member;
  resourceId: string;
}

async function measureFanout({ s, server, db, config, member, resourceId }: Measuring): Promise<FanoutMeasurement> {
  const n = s.subscribers ?? 1;
  const warmup = WS_WARMUP_MUTATIONS;
  const measured = config.wsMutations;
  const total = warmup + measured;
  const deliveries = new Deliveries(n, 2, total);
  const subscribers = new Subscribers(wsUrl(server.baseUrl), token(member), resourceId, deliveries);
  const base = (await liveSubscriptions(server.baseUrl)) ?? 0;
  let release: ReleaseCheck = { leaked: 0 };
  let result: Omit<FanoutMeasurement, 'release'>;
  try {
    const opening = performance.now();
    await subscribers.open(n);
    await waitForLive(server.baseUrl, base + n, 30_000 + n * 10, subscribers);
    const connectS = (performance.now() - opening) / 1000;
    log(`${s.name}: ${n.toLocaleString('en-US')} subscriber(s) live after ${connectS.toFixed(1)} s; ${warmup} warm-up + ${measured} measured mutations…`);

    const w = await mutate(server.baseUrl, member, resourceId, deliveries, 0, warmup);
    // The measured mutations, with the CPU counters around them.
    const otherCpu = await watchOtherCpu(server.child.pid, databaseName(config.databaseUrl));
    const xact0 = await committedTransactions(db);
    const serverCpu0 = await cpuTimeMs(server.child.pid);
    const clientCpu0 = process.cpuUsage();
    const started = performance.now();
    const m = await mutate(server.baseUrl, member, resourceId, deliveries, warmup, measured);
    const durationS = (performance.now() - started) / 1000;
    const serverCpu1 = await cpuTimeMs(server.child.pid);
    const clientCpu = process.cpuUsage(clientCpu0);
    const other = await otherCpu();
    await sleep(DRAIN_MS);
    // After the drain: PostgreSQL's statistics lag up to a second behind.
    await sleep(1_000);
    const xact1 = await committedTransactions(db);

    const latency = new LatencyRecorder();
    const lastDelivery = new LatencyRecorder();
    const http = new LatencyRecorder();
    for (let i = 0; i < measured; i++) {
      const offset = warmup + i;
      const sent = m.sentAt[i]!;
      http.add(m.httpMs[i]!);
      let last = -Infinity;
      for (let sub = 0; sub < n; sub++) {
        const at = deliveries.arrivals[sub * total + offset]!;
        if (Number.isNaN(at)) continue;
        latency.add(at - sent);
        if (at > last) last = at;
      }
      if (last > -Infinity) lastDelivery.add(last - sent);
    }
    const missing = deliveries.missing();
    result = {
      subscribers: n,
      warmupMutations: warmup,
      mutations: measured,
      expectedDeliveries: n * total,
      deliveries: n * total - missing,
      missing,
      duplicates: deliveries.duplicates,
      unexpected: deliveries.unexpected,
      latency: summarize(latency),
      lastDelivery: summarize(lastDelivery),
      mutationHttp: summarize(http),
      connectS: round(connectS, 2),
      durationS: round(durationS, 2),
      ...(serverCpu0 !== undefined && serverCpu1 !== undefined ? { serverCpuMsPerMutation: round((serverCpu1 - serverCpu0) / measured, 2) } : {}),
      clientCpuMsPerMutation: round((clientCpu.user + clientCpu.system) / 1000 / measured, 2),
      ...(xact0 !== undefined && xact1 !== undefined ? { dbTransactionsPerMutation: round((xact1 - xact0 - 1) / measured, 1) } : {}),
      ...(other !== undefined ? { otherCpuPercent: other } : {}),
      problems: [...subscribers.problems, ...deliveries.unexpectedSamples],
    };
    if (w.timedOut + m.timedOut > 0)
      result.problems.push(`${w.timedOut + m.timedOut} event(s) did not reach every subscriber within ${EVENT_TIMEOUT_MS / 1000} s`);
  } finally {
    release = await closeAndCheckRelease(s, server, subscribers, member, resourceId, base, total + 2).catch((err: unknown) => {
      log(`${s.name}: ⚠ could not check the release of the subscriptions: ${(err as Error).message}`);
      return { leaked: 0 };
    });
  }
  return { ...result, release };
}

/** Transactions committed so far in the benchmark database (pg_stat_database), or undefined. */
async function committedTransactions(db: pg.Pool): Promise<number | undefined> {
  try {
    const { rows } = await db.query<{ n: string }>('SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()');
    return rows[0] ? Number(rows[0].n) : undefined;
  } catch {
    return undefined;
  }
}

async function measureIdle({ s, server, db, config, member, resourceId }: Measuring): Promise<IdleMeasurement> {
  const k = config.wsIdle;
  const pid = server.child.pid;
  // One event after all are open: version 2, to every subscriber.
  const deliveries = new Deliveries(k, 2, 1);
  const subscribers = new Subscribers(wsUrl(server.baseUrl), token(member), resourceId, deliveries);
  const mb = (kb: number) => round(kb / 1024, 1);
  const base = (await liveSubscriptions(server.baseUrl)) ?? 0;
  let result: Omit<IdleMeasurement, 'release'>;
  let release: ReleaseCheck = { leaked: 0 };
  try {
    const before = await settledRss(pid);
    const samples: IdleMeasurement['samples'] = [{ subscriptions: 0, rssMb: mb(before) }];
    log(`${s.name}: server RSS ${mb(before)} MB; opening ${k.toLocaleString('en-US')} idle subscriptions…`);
    const opening = performance.now();
    const steps = 4;
    let openS = 0;
    let after = before;
    for (let step = 1; step <= steps; step++) {
      const target = Math.round((k * step) / steps);
      await subscribers.open(target - subscribers.sockets.length);
      await waitForLive(server.baseUrl, base + target, 30_000 + target * 10, subscribers);
      if (step === steps) openS = (performance.now() - opening) / 1000;
      after = await settledRss(pid);
      samples.push({ subscriptions: target, rssMb: mb(after) });
      log(`${s.name}: ${target.toLocaleString('en-US')} live after ${((performance.now() - opening) / 1000).toFixed(1)} s, RSS ${mb(after)} MB`);
    }

    const cpu0 = await cpuTimeMs(pid);
    const xact0 = await committedTransactions(db);
    const otherCpu = await watchOtherCpu(pid, databaseName(config.databaseUrl));
    const t0 = performance.now();
    await sleep(IDLE_CPU_WINDOW_MS);
    const cpu1 = await cpuTimeMs(pid);
    const xact1 = await committedTransactions(db);
    const windowMs = performance.now() - t0;
    const other = await otherCpu();
    const idleServerCpuPercent = cpu0 !== undefined && cpu1 !== undefined ? round((100 * (cpu1 - cpu0)) / windowMs, 1) : undefined;
    // Minus the two statistics queries of our own.
    const idleDbTransactionsPerSec = xact0 !== undefined && xact1 !== undefined ? round(((xact1 - xact0 - 1) * 1000) / windowMs, 1) : undefined;

    // Still live? One mutation must reach every one of them.
    const sentAt = performance.now();
    await patch(server.baseUrl, member, resourceId, 1);
    await deliveries.allArrived(0, Math.max(EVENT_TIMEOUT_MS, k * 2));
    await sleep(DRAIN_MS);
    const live = new LatencyRecorder();
    for (const at of deliveries.arrivals) if (!Number.isNaN(at)) live.add(at - sentAt);
    const missing = deliveries.missing();

    const bytesPerSubscription = Math.round(((after - before) * 1024) / k);
    result = {
      subscriptions: k,
      openS: round(openS, 2),
      rssBeforeMb: mb(before),
      rssAfterMb: mb(after),
      samples,
      bytesPerSubscription,
      estimatedIn1Gb: bytesPerSubscription > 0 ? Math.floor(((ONE_GB_MB * 1024 - before) * 1024) / bytesPerSubscription) : 0,
      ...(idleServerCpuPercent !== undefined ? { idleServerCpuPercent } : {}),
      ...(idleDbTransactionsPerSec !== undefined ? { idleDbTransactionsPerSec } : {}),
      liveCheck: { delivered: k - missing, missing, latency: summarize(live) },
      ...(other !== undefined ? { otherCpuPercent: other } : {}),
      problems: [...subscribers.problems, ...deliveries.unexpectedSamples],
    };
    if (deliveries.duplicates > 0) result.problems.push(`${deliveries.duplicates} duplicate deliveries of the live check's event`);

    release = await closeAndCheckRelease(s, server, subscribers, member, resourceId, base, 3);
    result.rssAfterCloseMb = mb(await settledRss(pid));
  } finally {
    await subscribers.closeAll();
  }
  return { ...result, release };
}

/**
 * The process's RSS in kB once it has settled: read every 500 ms until two readings a second
 * apart differ by less than 0.5 MB (a garbage collection or a heap growth may be under way),
 * for 6 s at most.
 */
async function settledRss(pid: number): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < 12; i++) {
    await sleep(500);
    const kb = await rssKb(pid);
    if (kb === undefined) throw new Error(`cannot read the server's RSS (/proc/${pid}/status)`);
    readings.push(kb);
    const earlier = readings[readings.length - 3];
    if (earlier !== undefined && Math.abs(kb - earlier) < 512) return kb;
  }
  return readings[readings.length - 1]!;
}

/** Runs one real-time scenario on its (already running) server and fills in `result`. */
export async function runRealtimeScenario(s: RealtimeScenario, server: RunningServer, db: pg.Pool, config: BenchConfig, result: RealtimeResult): Promise<void> {
  const fail = (reason: string) => {
    result.status = 'failed';
    result.reason = reason;
    console.error(`\nbench: ✗ scenario ${s.name} FAILED: ${reason}\n`);
  };
  let member: Member | undefined;
  try {
    // A member with one resource of its own, which every subscriber watches.
    member = await memberWithResources({ baseUrl: server.baseUrl, db }, s.name, 1);
    const resourceId = member.ids[0]!;
    const decisionsBefore = await readRateLimitDecisions(server.baseUrl);

    if (s.kind === 'fanout') {
      const m = await measureFanout({ s, server, db, config, member, resourceId });
      result.fanout = m;
      if (m.missing > 0 || m.duplicates > 0 || m.unexpected > 0 || m.problems.length > 0) {
        return fail(
          `deliveries: ${m.missing} missing, ${m.duplicates} duplicate, ${m.unexpected} unexpected of ${m.expectedDeliveries}` +
            (m.problems.length > 0 ? `; ${m.problems.join('; ')}` : ''),
        );
      }
      if (s.designTarget) result.targetMet = m.latency.p99Ms <= s.designTarget.maxP99Ms;
      const leak = releaseWarning(m.release, m.subscribers);
      if (leak) log(`${s.name}: ⚠ ${leak}`);
      const noisy = (m.otherCpuPercent ?? 0) > 10 ? `; ⚠ other processes took ${m.otherCpuPercent}% of the CPU` : '';
      log(
        `${s.name}: mutation → subscriber p50 ${m.latency.p50Ms} ms, p99 ${m.latency.p99Ms} ms, max ${m.latency.maxMs} ms ` +
          `(${m.latency.samples.toLocaleString('en-US')} deliveries); PATCH p50 ${m.mutationHttp.p50Ms} ms${noisy}`,
      );
    } else {
      const m = await measureIdle({ s, server, db, config, member, resourceId });
      result.idle = m;
      if (m.liveCheck.missing > 0 || m.problems.length > 0) {
        const parts = [
          ...(m.liveCheck.missing > 0 ? [`${m.liveCheck.missing} of ${m.subscriptions} idle subscribers missed the live check's event`] : []),
          ...m.problems,
        ];
        return fail(parts.join('; '));
      }
      const leak = releaseWarning(m.release, m.subscriptions);
      if (leak) log(`${s.name}: ⚠ ${leak}`);
      log(
        `${s.name}: ${m.subscriptions.toLocaleString('en-US')} idle subscriptions: RSS ${m.rssBeforeMb} → ${m.rssAfterMb} MB, ` +
          `${m.bytesPerSubscription.toLocaleString('en-US')} B each, ≈ ${m.estimatedIn1Gb.toLocaleString('en-US')} in 1 GB`,
      );
    }
    if (server.child.hasExited()) return fail(`the ${s.target} server exited during the run`);
    const decisionsAfter = await readRateLimitDecisions(server.baseUrl);
    if (decisionsBefore && decisionsAfter) {
      const delta = decisionsBetween(decisionsBefore, decisionsAfter);
      result.rateLimitDecisions = delta;
      const { problem, warning } = decisionsProblem(PCF_SERVERS[s.target], delta);
      if (problem) return fail(problem);
      if (warning) log(`${s.name}: ⚠ ${warning}`);
    }
    result.status = 'ok';
  } catch (err) {
    fail((err as Error).stack ?? String(err));
  } finally {
    await member?.teardown();
  }
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;
