import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { listening } from './net.js';

/**
 * A server process of a test's own (a redis-server, a nats-server) on a loopback port, which
 * the test can stop and start again to play an outage, without touching the shared services
 * other tests use.
 */
export class ChildServer {
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #output = '';

  constructor(
    readonly name: string,
    readonly port: number,
  ) {}

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** What the process printed so far (for failure messages). */
  get output(): string {
    return this.#output;
  }

  /**
   * Spawns `command` and resolves once the port accepts connections and `ready(output)`
   * holds (10 s at most); rejects, with the process stopped, otherwise.
   */
  async start(command: string, args: string[], ready: (output: string) => boolean = () => true): Promise<void> {
    if (this.#child) throw new Error(`${this.name} already running`);
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('close', () => resolve()));
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.#output += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.#output += chunk));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        this.#child = undefined;
        throw new Error(`${this.name} exited early:\n${this.#output}`);
      }
      if (ready(this.#output) && (await listening(this.port))) return;
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`${this.name} not ready on ${this.port} within 10 s:\n${this.#output}`);
      }
      await sleep(25);
    }
  }

  /** SIGTERM, and waits for the process to be gone (SIGKILL after 5 s). */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const exited = await Promise.race([this.#exited.then(() => true), sleep(5000, false, { ref: false })]);
    if (!exited) child.kill('SIGKILL');
    await this.#exited;
    this.#child = undefined;
  }
}
