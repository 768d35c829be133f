import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { listening } from '../support/net.js';

/**
 * The instances of the deployment proof: `node dist/bundle/main.js` (what the image runs),
 * configured by PCF_* only, each on a fixed loopback port so a restarted instance comes back
 * where nginx expects it.
 */

const ROOT = new URL('../../', import.meta.url).pathname;
export const BUNDLE = `${ROOT}dist/bundle/main.js`;

export class Instance {
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #output = '';

  constructor(
    readonly name: string,
    readonly roles: string,
    readonly port: number,
    readonly env: Record<string, string>,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get base(): string {
    return `http://${this.address}`;
  }

  /** The last of what the process printed, for failure messages (its log level is warn). */
  output(): string {
    return this.#output.slice(-4000);
  }

  start(): void {
    if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run npm run build first`);
    const clean = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PCF_') && !key.startsWith('NODE_TEST')));
    const child = spawn(process.execPath, [BUNDLE], {
      cwd: ROOT,
      env: { ...clean, ...this.env, PCF_ROLES: this.roles, PCF_HOST: '127.0.0.1', PCF_PORT: String(this.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('close', () => resolve()));
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.#output += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.#output += chunk));
  }

  /** Ready (200), with every readiness check up, the queue included (it connects after the port opens). */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const child = this.#child;
      if (!child || child.exitCode !== null) throw new Error(`${this.name} exited:\n${this.output()}`);
      const ready = await fetch(`${this.base}/health/ready`, { signal: AbortSignal.timeout(5000) }).then(
        async (r) =>
          r.status === 200 && Object.values(((await r.json()) as { checks: Record<string, { status: string }> }).checks).every((c) => c.status === 'up'),
        () => false,
      );
      if (ready) return;
      if (Date.now() > deadline) throw new Error(`${this.name} not ready within ${timeoutMs} ms:\n${this.output()}`);
      await sleep(100);
    }
  }

  /** SIGTERM and wait for the exit (the drain); resolves with the exit code. */
  async terminate(timeoutMs = 20_000): Promise<number | null> {
    const child = this.#child;
    if (!child) return null;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const exited = await Promise.race([this.#exited.then(() => true), sleep(timeoutMs, false, { ref: false })]);
    if (!exited) {
      child.kill('SIGKILL');
      await this.#exited;
      throw new Error(`${this.name} did not exit within ${timeoutMs} ms of SIGTERM:\n${this.output()}`);
    }
    this.#child = undefined;
    return child.exitCode;
  }

  /** kill -9: no drain, no goodbye. */
  async crash(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    child.kill('SIGKILL');
    await this.#exited;
    this.#child = undefined;
    // The kernel closes its sockets; wait until the port is really free for the restart.
    while (await listening(this.port)) await sleep(25);
  }
}
