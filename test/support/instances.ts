import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './net.js';

/**
 * Real server processes (`node src/main.ts`) for the tests of several instances: each is
 * configured by PCF_* variables only, as a container would run it, and the test talks to it
 * over HTTP. Test files call `stopAll()` in an `after` hook, so no child outlives a failure.
 */

const ROOT = new URL('../../', import.meta.url).pathname;

export interface Instance {
  name: string;
  base: string;
  child: ChildProcess;
  output(): string;
  exited: Promise<void>;
}

export interface Reply {
  status: number;
  body: Record<string, unknown>;
}

const running = new Set<Instance>();

/** SIGTERM (drain), then SIGKILL for whatever is still running after 10 s. */
export async function stop(instances: Iterable<Instance>): Promise<void> {
  await Promise.all(
    [...instances].map(async (instance) => {
      if (instance.child.exitCode === null && instance.child.signalCode === null) instance.child.kill('SIGTERM');
      const exited = await Promise.race([instance.exited.then(() => true), sleep(10_000, undefined, { ref: false }).then(() => false)]);
      if (!exited) instance.child.kill('SIGKILL');
      await instance.exited;
      running.delete(instance);
    }),
  );
}

/** Every instance spawned by this module and not stopped yet. */
export function stopAll(): Promise<void> {
  return stop(running);
}

/** `node src/main.ts` configured by PCF_* only, as a container would run it. */
export async function spawnInstance(name: string, env: Record<string, string>): Promise<Instance> {
  const port = await freePort();
  const clean = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PCF_') && !key.startsWith('NODE_TEST')));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { ...clean, PCF_HOST: '127.0.0.1', PCF_PORT: String(port), PCF_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const instance: Instance = { name, base: `http://127.0.0.1:${port}`, child, output: () => output, exited };
  running.add(instance);
  return instance;
}

/** Resolves once GET /health/ready answers 200; fails with the instance's output if it exits or takes too long. */
export async function waitReady(instance: Instance, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (instance.child.exitCode !== null) assert.fail(`instance ${instance.name} exited early:\n${instance.output()}`);
    const status = await fetch(`${instance.base}/health/ready`, { signal: AbortSignal.timeout(5000) }).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) return;
    if (Date.now() > deadline) assert.fail(`instance ${instance.name} not ready after ${timeoutMs} ms:\n${instance.output()}`);
    await sleep(100);
  }
}

/** A REST call under /api/v1, with an optional bearer token and JSON body. */
export async function call(instance: Instance, method: string, path: string, options: { token?: string; body?: unknown } = {}): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${instance.base}/api/v1${path}`, {
    method,
    headers,
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** `call`, failing the test unless it answers `status`; resolves with the body. */
export async function expectStatus(
  instance: Instance,
  method: string,
  path: string,
  status: number,
  options: { token?: string; body?: unknown } = {},
): Promise<Record<string, unknown>> {
  const reply = await call(instance, method, path, options);
  assert.equal(reply.status, status, `${method} ${path} on ${instance.name}: ${JSON.stringify(reply.body)}`);
  return reply.body;
}

/** Polls `check` every 25 ms until it holds; fails after `timeoutMs` with what `detail` says of the state then. */
export async function until(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean, detail: () => string = () => ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms ${detail()}`);
    await sleep(25);
  }
}

/** An instance's live subscriptions, as its /metrics gauge counts them. */
export async function liveSubscriptions(instance: Instance): Promise<number> {
  const text = await (await fetch(`${instance.base}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  return Number(/^live_subscriptions (\d+)$/m.exec(text)?.[1] ?? NaN);
}

/** Ready, and its readiness reports the queue connected (it is reported down until the broker is reached). */
export async function queueUp(instance: Instance, timeoutMs: number): Promise<void> {
  await waitReady(instance);
  let last = '';
  await until(
    `${instance.name} connected to its queue`,
    timeoutMs,
    async () => {
      const response = await fetch(`${instance.base}/health/ready`, { signal: AbortSignal.timeout(5000) });
      last = await response.text();
      return (JSON.parse(last) as { checks?: { queue?: { status?: string } } }).checks?.queue?.status === 'up';
    },
    () => `readiness: ${last}\n${instance.output()}`,
  );
}
