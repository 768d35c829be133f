import { spawn, type ChildProcess } from 'node:child_process';

const ROOT = new URL('../../', import.meta.url).pathname;
const CLI = 'src/cli/main.ts';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** PCF_ settings of the child: none of this process's reach it. */
  env?: Record<string, string>;
  /** Written to the child's stdin, then closed; without it stdin is ignored. */
  input?: string;
  /** Run the built bundle (`dist/bundle/pcf.js`, what the `pcf` bin runs) instead of the sources. */
  built?: boolean;
}

/** The bundle `npm run build` writes: what `npm start` and the `pcf` bin run. */
export const BUILT_CLI = 'dist/bundle/pcf.js';

const running = new Set<ChildProcess>();

/** Kills every `pcf` child still running (a test file's `after`). */
export function killCliChildren(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** Starts `pcf <args>` from the sources, as a user would run it, without waiting for its end. */
export function startPcf(args: string[], options: CliOptions = {}): { child: ChildProcess; result: Promise<CliResult> } {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PCF_') && !name.startsWith('NODE_TEST')));
  const child = spawn(process.execPath, options.built ? [BUILT_CLI, ...args] : ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    env: { ...clean, ...options.env },
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  if (options.input !== undefined) child.stdin!.end(options.input);
  const result = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      running.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
  return { child, result };
}

/** Runs `pcf <args>` to its end; past `timeoutMs` it is killed and the promise rejects with its output. */
export async function runPcf(args: string[], options: CliOptions & { timeoutMs?: number } = {}): Promise<CliResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const { child, result } = startPcf(args, options);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  try {
    const outcome = await result;
    if (timedOut) throw new Error(`pcf ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${outcome.stdout}\nstderr: ${outcome.stderr}`);
    return outcome;
  } finally {
    clearTimeout(timer);
  }
}
