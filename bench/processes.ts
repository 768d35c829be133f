/**
 * Child processes of the benchmark: every server under test runs in one, so autocannon
 * (in the parent) and the server never share an event loop. Each child gets its own
 * process group, and every group is killed when the benchmark ends, fails or is
 * interrupted, so no server is left behind.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';

export interface Child {
  label: string;
  process: ChildProcess;
  pid: number;
  /** The last lines the child printed, for error messages. */
  tail(): string;
  /** Resolves with the exit code (or signal) once the child has exited. */
  exited: Promise<string>;
  hasExited(): boolean;
}

const live = new Set<Child>();
const TAIL_LINES = 40;

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal); // the whole process group: the child and anything it started
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Spawns `command args` in its own process group, echoing its output prefixed with its label. */
export function spawnChild(label: string, command: string, args: string[], options: Pick<SpawnOptions, 'cwd' | 'env'> & { ipc?: boolean } = {}): Child {
  const proc = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: options.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  if (proc.pid === undefined) throw new Error(`Could not start ${label}: ${command} ${args.join(' ')}`);
  const lines: string[] = [];
  const echo = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      lines.push(line);
      if (lines.length > TAIL_LINES) lines.shift();
      process.stderr.write(`[${label}] ${line}\n`);
    }
  };
  proc.stdout?.on('data', echo);
  proc.stderr?.on('data', echo);
  let done = false;
  const exited = new Promise<string>((resolve) => {
    proc.once('exit', (code, signal) => {
      done = true;
      live.delete(child);
      resolve(signal ? `signal ${signal}` : `code ${code}`);
    });
    proc.once('error', (err) => {
      done = true;
      live.delete(child);
      resolve(`spawn error: ${err.message}`);
    });
  });
  const child: Child = {
    label,
    process: proc,
    pid: proc.pid,
    tail: () => lines.join('\n'),
    exited,
    hasExited: () => done,
  };
  live.add(child);
  return child;
}

/** SIGTERM, then SIGKILL if the child hasn't exited after `graceMs`. */
export async function stopChild(child: Child, graceMs = 10_000): Promise<void> {
  if (child.hasExited()) return;
  child.process.channel?.unref();
  killGroup(child.pid, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    child.exited.then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), graceMs);
    }),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    console.error(`bench: ${child.label} did not exit ${graceMs} ms after SIGTERM; killing it`);
    killGroup(child.pid, 'SIGKILL');
    await child.exited;
  }
}

export async function stopAllChildren(): Promise<void> {
  await Promise.all([...live].map((c) => stopChild(c)));
}

let handlersInstalled = false;

/**
 * Makes sure children die with the benchmark: on SIGINT/SIGTERM (stop them, then exit)
 * and on any exit at all (SIGKILL whatever is still alive, synchronously).
 */
export function installCleanupHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const child of live) killGroup(child.pid, 'SIGKILL');
  });
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      const code = signal === 'SIGINT' ? 130 : 143;
      // A second signal means "now": exiting runs the 'exit' handler above, which SIGKILLs.
      if (stopping) process.exit(code);
      stopping = true;
      console.error(`\nbench: ${signal} received, stopping servers…`);
      void stopAllChildren().finally(() => process.exit(code));
      // A stuck child must not keep us here either.
      setTimeout(() => process.exit(code), 12_000).unref();
    });
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('Could not determine a free port'));
      });
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resident set size of a process in MB (Linux /proc only; undefined elsewhere). */
export async function rssMb(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match?.[1] ? Math.round(Number(match[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}

/** Resident set size of a process in kB (Linux /proc only; undefined elsewhere). */
export async function rssKb(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match?.[1] ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** CPU time (user + system) a process has used so far, in ms (Linux /proc only). */
export async function cpuTimeMs(pid: number): Promise<number | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / USER_HZ;
  } catch {
    return undefined;
  }
}
