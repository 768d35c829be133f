import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * librdkafka's mock cluster (`test.mock.num.brokers`), run through Debian's `kcat`, which
 * bundles librdkafka: the only implementation of the Kafka protocol this machine and CI can
 * have (no Kafka broker is packaged). See docs/queue.md for what it can and cannot serve.
 */

export const KCAT_MISSING = 'kcat is not installed (Debian: apt-get install kcat); .ci/run installs it';

/** Whether `kcat` runs here. */
export function kcatInstalled(): boolean {
  return spawnSync('kcat', ['-V'], { stdio: 'ignore' }).status === 0;
}

/** The line librdkafka logs (level 5, so without any debug flag) once its mock brokers listen. */
const BOOTSTRAP_LINE = /Mock cluster enabled: .*replaced with (\S+)/;

/**
 * A mock cluster of `brokers` brokers on loopback ports, alive while this object is. kcat
 * is started as a producer reading standard input: the mock lives inside it until its input
 * closes, so a test process that dies takes the cluster with it (no orphan on a failure).
 */
export class KcatMockCluster {
  private constructor(
    readonly child: ChildProcess,
    readonly exited: Promise<void>,
    readonly read: () => string,
    /** `host:port,host:port,…`, as PCF_QUEUE_URL (after `kafka://`) and PCF_TEST_KAFKA_BROKERS take it. */
    readonly bootstrap: string,
  ) {}

  get brokers(): { host: string; port: number }[] {
    return this.bootstrap.split(',').map((entry) => {
      const [host, port] = entry.split(':');
      return { host: host!, port: Number(port) };
    });
  }

  /** What kcat printed so far (for failure messages). */
  get output(): string {
    return this.read();
  }

  /** Starts kcat and resolves once the mock brokers listen (10 s at most); fails clearly when kcat is missing. */
  static async start(brokers = 3): Promise<KcatMockCluster> {
    if (!kcatInstalled()) throw new Error(KCAT_MISSING);
    // The bootstrap address is ignored (the mock replaces it); the topic is created on the mock when kcat asks for its metadata.
    const child = spawn('kcat', ['-b', '127.0.0.1:1', '-P', '-t', 'pcf-mock-keepalive', '-X', `test.mock.num.brokers=${brokers}`], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let output = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    child.once('error', (err) => (output += `\n${err.message}`));
    const deadline = Date.now() + 10_000;
    for (;;) {
      const match = BOOTSTRAP_LINE.exec(output);
      if (match) return new KcatMockCluster(child, exited, () => output, match[1]!);
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`kcat exited before its mock cluster listened:\n${output}`);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`kcat's mock cluster did not report its brokers within 10 s:\n${output}`);
      }
      await sleep(20);
    }
  }

  /** Closes kcat's input (it exits, and the mock with it), SIGKILL if it is still there after 5 s. */
  async stop(): Promise<void> {
    this.child.stdin?.end();
    const exited = await Promise.race([this.exited.then(() => true), sleep(5000, false, { ref: false })]);
    if (!exited) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** Supported versions per API key, as a broker announces them. */
export type ApiVersionRanges = Map<number, { min: number; max: number }>;

/**
 * Asks a broker which protocol versions it serves, with ApiVersions v0: the one request every
 * Kafka broker answers whatever its age, so this works where the client under test cannot connect.
 */
export async function brokerApiVersions(host: string, port: number): Promise<ApiVersionRanges> {
  const clientId = Buffer.from('pcf-test');
  // Request header v1: api key 18 (ApiVersions), version 0, correlation id, client id; no body.
  const request = Buffer.alloc(4 + 10 + clientId.length);
  request.writeInt32BE(request.length - 4, 0);
  request.writeInt16BE(18, 4);
  request.writeInt16BE(0, 6);
  request.writeInt32BE(1, 8);
  request.writeInt16BE(clientId.length, 12);
  clientId.copy(request, 14);
  const response = await new Promise<Buffer>((resolve, reject) => {
    const socket = connect(port, host, () => socket.write(request));
    let received = Buffer.alloc(0);
    socket.setTimeout(5000, () => socket.destroy(new Error(`no ApiVersions answer from ${host}:${port} within 5 s`)));
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 4 && received.length >= 4 + received.readInt32BE(0)) {
        socket.end();
        resolve(received);
      }
    });
  });
  // Size, correlation id, error code, then [api key, min, max] * count.
  const errorCode = response.readInt16BE(8);
  if (errorCode !== 0) throw new Error(`ApiVersions v0 answered error code ${errorCode}`);
  const count = response.readInt32BE(10);
  const ranges: ApiVersionRanges = new Map();
  for (let i = 0, at = 14; i < count; i++, at += 6)
    ranges.set(response.readInt16BE(at), { min: response.readInt16BE(at + 2), max: response.readInt16BE(at + 4) });
  return ranges;
}
