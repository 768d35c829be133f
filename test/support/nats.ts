import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { ChildServer } from './child-server.js';
import { freePort } from './net.js';

/** The nats-server binary the e2e tests start (Debian's package puts it in /usr/sbin). */
export const NATS_SERVER_BIN = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'].find((path) => existsSync(path));

/**
 * A nats-server of a test's own, with JetStream, on a free loopback port and a temporary
 * store directory: a test can stop it (SIGTERM) and start it again on the same port and
 * store, as after a broker outage, without touching the shared broker other tests use.
 */
export class DedicatedNats {
  readonly #process: ChildServer;

  private constructor(
    readonly port: number,
    readonly storeDir: string,
  ) {
    this.#process = new ChildServer('nats-server', port);
  }

  /** A free port and an empty store directory; not started yet. */
  static async create(): Promise<DedicatedNats> {
    return new DedicatedNats(await freePort(), await mkdtemp(join(tmpdir(), 'pcf-nats-')));
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.#process.running;
  }

  /** What the server printed so far (for failure messages). */
  get output(): string {
    return this.#process.output;
  }

  /** Starts it and resolves once it accepts connections with JetStream ready (10 s at most). */
  async start(): Promise<void> {
    if (!NATS_SERVER_BIN) throw new Error('nats-server is not installed');
    // "Server is ready" comes after JetStream has recovered its streams from the store.
    await this.#process.start(NATS_SERVER_BIN, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir], (output) =>
      output.includes('Server is ready'),
    );
  }

  /** SIGTERM, and waits for the process to be gone (SIGKILL after 5 s). */
  stop(): Promise<void> {
    return this.#process.stop();
  }

  /** Stops it and deletes its store. */
  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.storeDir, { recursive: true, force: true });
  }
}

/**
 * Deletes streams a test made on a shared broker (`nats://a,nats://b` as PCF_QUEUE_URL
 * takes it), so runs do not leave their events behind. A stream already gone is no failure.
 */
export async function deleteStreams(url: string, names: string[]): Promise<void> {
  if (names.length === 0) return;
  const connection = await connect({ servers: url.split(',').map((s) => s.trim().replace(/^nats:\/\//, '')), timeout: 5000 });
  try {
    const manager = await jetstreamManager(connection);
    for (const name of names) await manager.streams.delete(name).catch(() => undefined);
  } finally {
    await connection.close();
  }
}
