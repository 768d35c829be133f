import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/core/package.js';
import { freePort } from '../support/net.js';

/** One problem Prism found with a request or its response (the `sl-violations` header). */
export interface Violation {
  location: string[];
  severity: string;
  code: string | number;
  message: string;
}

export interface PrismProxy {
  /** Base URL of the proxy. */
  url: string;
  /** Everything Prism printed, for a failure's message. */
  output(): string;
  close(): Promise<void>;
}

/**
 * Prism (Stoplight's OpenAPI proxy, a tool nobody here wrote) in front of `upstream`,
 * validating every request and response against `document`. Without `--errors` it forwards
 * even a request it finds invalid and reports what it found in an `sl-violations` header:
 * the tests send invalid requests on purpose (to see the server's 400, 415, 422 …) and need
 * the server's answer to them checked too.
 */
export async function startPrismProxy(document: unknown, upstream: string): Promise<PrismProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'pcf-prism-'));
  const file = join(dir, 'openapi.json');
  writeFileSync(file, JSON.stringify(document));
  const port = await freePort();
  const bin = join(packageRoot(), 'node_modules', '@stoplight', 'prism-cli', 'dist', 'index.js');
  const child: ChildProcess = spawn(
    process.execPath,
    [bin, 'proxy', file, upstream, '--port', String(port), '--host', '127.0.0.1', '--errors=false', '--cors=false', '--verboseLevel', 'warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;

  // Ready once it answers: the `warn` level prints nothing on start.
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prism exited (${child.exitCode}):\n${output}`);
    try {
      await fetch(`${url}/health`);
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill();
        throw new Error(`prism did not start:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    url,
    output: () => output,
    async close() {
      child.kill();
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The violations Prism reported for one exchange. */
export function violationsOf(response: Response): Violation[] {
  const header = response.headers.get('sl-violations');
  return header ? (JSON.parse(header) as Violation[]) : [];
}
