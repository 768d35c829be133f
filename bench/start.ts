/**
 * `npm run bench:start`: how long the zero-set-up path takes. Each round removes a temporary
 * data directory, starts `node dist/bundle/main.js` on it (what `npm start` runs; BENCH_START_ENTRY
 * names another entry, relative to the repository) (the first start), polls
 * `/health/ready` until it answers 200, reads the process's CPU time (all threads, and the main
 * thread alone) and peak RSS (VmHWM) and stops it with SIGTERM; then starts it again on the
 * same directory (a restart) and measures the same.
 * It prints every round and the median of the rounds: the machine may be shared, so single
 * figures are noisy.
 *
 *   npm run bench:start                    # build, then 3 rounds
 *   BENCH_ROUNDS=5 node --import tsx bench/start.ts   # no build, 5 rounds
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './processes.js';

const root = join(import.meta.dirname, '..');
const entry = process.env.BENCH_START_ENTRY ? join(root, process.env.BENCH_START_ENTRY) : join(root, 'dist', 'bundle', 'main.js');
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const POLL_MS = 10;
const READY_TIMEOUT_MS = 120_000;

interface Sample {
  readyMs: number;
  /** CPU the process used until ready (user + system): less sensitive than readyMs to a busy machine. */
  cpuMs: number;
  /** CPU of its main thread alone: the start's critical path (WASM compilation and GC helpers run beside it). */
  mainCpuMs: number;
  peakMb: number;
}

/** Peak resident set size of a running process, in MB, from the kernel's high-water mark. */
function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmHWM:\s+(\d+)\s+kB$/m.exec(status);
  if (!kb) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(kb[1]) / 1024;
}

/** User + system CPU time of a running process (or, given a thread id, of that thread), in ms. */
function cpuMs(pid: number, tid?: number): number {
  const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}
/** USER_HZ: 100 on every Linux that Node supports. */
const CLOCK_TICKS_PER_SECOND = 100;

async function isReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

async function startOnce(dataDir: string): Promise<Sample> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [entry], {
    cwd: root,
    env: { ...process.env, PCF_DATA_DIR: dataDir, PCF_PORT: String(port), PCF_HOST: '127.0.0.1', PCF_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? `code ${code}`)));
  let gone: string | undefined;
  void exited.then((how) => (gone = how));
  try {
    const url = `http://127.0.0.1:${port}/health/ready`;
    for (;;) {
      if (gone) throw new Error(`the server exited (${gone}) before it was ready`);
      if (performance.now() - started > READY_TIMEOUT_MS) throw new Error('the server was not ready in time');
      if (await isReady(url)) break;
      await sleep(POLL_MS);
    }
    const readyMs = performance.now() - started;
    // The main thread's id is the process's.
    return { readyMs, cpuMs: cpuMs(child.pid!), mainCpuMs: cpuMs(child.pid!, child.pid!), peakMb: peakRssMb(child.pid!) };
  } finally {
    if (!gone) {
      child.kill('SIGTERM');
      const how = await exited;
      if (how !== 'code 0') process.stderr.write(`warning: the server stopped with ${how}\n`);
    }
  }
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

if (!existsSync(entry)) throw new Error(`${entry} is missing: run npm run build first`);
const first: Sample[] = [];
const restart: Sample[] = [];
const fmt = (s: Sample) =>
  `${Math.round(s.readyMs)} ms (${Math.round(s.cpuMs)} ms CPU, ${Math.round(s.mainCpuMs)} on the main thread), ${Math.round(s.peakMb)} MB`;
for (let round = 1; round <= rounds; round++) {
  const tmp = mkdtempSync(join(tmpdir(), 'pcf-bench-start-'));
  try {
    const dataDir = join(tmp, 'data');
    const a = await startOnce(dataDir);
    const b = await startOnce(dataDir);
    first.push(a);
    restart.push(b);
    console.log(`round ${round}: first start ${fmt(a)}; restart ${fmt(b)}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
const summary = (samples: Sample[]) =>
  fmt({
    readyMs: median(samples.map((s) => s.readyMs)),
    cpuMs: median(samples.map((s) => s.cpuMs)),
    mainCpuMs: median(samples.map((s) => s.mainCpuMs)),
    peakMb: median(samples.map((s) => s.peakMb)),
  });
console.log(`median of ${rounds} (time to /health/ready 200, CPU used by then, peak RSS): first start ${summary(first)}; restart ${summary(restart)}`);
