import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { listening } from './net.js';

/**
 * nginx from the machine's packages, run from deploy/nginx/pcf.conf.template in a temporary
 * prefix of its own, as an unprivileged user: under root it is started as `nobody` (spawn's
 * uid/gid), so no test needs, or quietly relies on, root.
 */

const TEMPLATE = new URL('../../deploy/nginx/pcf.conf.template', import.meta.url);

export interface NginxUpstreams {
  api: string[];
  auth: string[];
}

export interface NginxOptions {
  port: number;
  upstreams: NginxUpstreams;
  bodyLimitBytes: number;
  /** Parameters of every `server` line; the deployment's passive health check unless a test needs another. */
  serverParameters?: string;
  /** A configuration of the test's own instead of the deployment's template, given nginx's prefix and port. */
  config?: (prefix: string, port: number) => string;
}

/** Passive health checks: one failed attempt takes a server out of rotation for 5 s. */
export const PASSIVE_HEALTH = 'max_fails=1 fail_timeout=5s';

/** The path of the nginx binary, or undefined when the machine has none. */
export function nginxBinary(): string | undefined {
  for (const candidate of ['/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx']) {
    try {
      execFileSync(candidate, ['-v'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/** `server` lines of an upstream block: passive health checks on each (docs/deployment-proof.md). */
export function serverLines(addresses: string[], parameters = PASSIVE_HEALTH): string {
  return addresses.map((address) => `        server ${address} ${parameters};`).join('\n');
}

/** Fills in the template's ${PCF_NGINX_*} placeholders, and only those. */
export function renderConfig(values: Record<string, string>): string {
  return readFileSync(TEMPLATE, 'utf8').replace(/\$\{(PCF_NGINX_[A-Z_]+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no value for ${name}`);
    return value;
  });
}

function unprivilegedIds(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

export class Nginx {
  readonly prefix: string;
  readonly base: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #output = '';
  readonly #ids = unprivilegedIds();

  constructor(
    readonly binary: string,
    readonly options: NginxOptions,
  ) {
    this.prefix = mkdtempSync(join(tmpdir(), 'pcf-nginx-'));
    this.base = `http://127.0.0.1:${options.port}`;
    for (const dir of ['tmp', 'tmp/client_body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) mkdirSync(join(this.prefix, dir));
    this.#writeConfig();
  }

  get configPath(): string {
    return join(this.prefix, 'nginx.conf');
  }

  /** nginx's stderr and error log, for failure messages. */
  output(): string {
    let log = '';
    try {
      log = readFileSync(join(this.prefix, 'error.log'), 'utf8');
    } catch {
      // not written yet
    }
    return `${this.#output}${log}`;
  }

  accessLog(): string {
    try {
      return readFileSync(join(this.prefix, 'access.log'), 'utf8');
    } catch {
      return '';
    }
  }

  #writeConfig(): void {
    writeFileSync(
      this.configPath,
      this.options.config?.(this.prefix, this.options.port) ??
        renderConfig({
          PCF_NGINX_PREFIX: this.prefix,
          PCF_NGINX_LISTEN: `127.0.0.1:${this.options.port}`,
          PCF_NGINX_API_SERVERS: serverLines(this.options.upstreams.api, this.options.serverParameters),
          PCF_NGINX_AUTH_SERVERS: serverLines(this.options.upstreams.auth, this.options.serverParameters),
          PCF_NGINX_BODY_LIMIT: String(this.options.bodyLimitBytes),
        }),
    );
    if (this.#ids) this.#chown(this.prefix);
  }

  #chown(path: string): void {
    chownSync(path, this.#ids!.uid, this.#ids!.gid);
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      if (entry.isDirectory()) this.#chown(join(path, entry.name));
      else chownSync(join(path, entry.name), this.#ids!.uid, this.#ids!.gid);
    }
  }

  #args(...extra: string[]): string[] {
    return ['-p', this.prefix, '-c', this.configPath, '-e', join(this.prefix, 'error.log'), ...extra];
  }

  /** `nginx -t` on the rendered configuration; throws with nginx's message when it is refused. */
  check(): void {
    execFileSync(this.binary, this.#args('-t', '-q'), { stdio: 'pipe', ...(this.#ids ?? {}) });
  }

  /** Starts nginx in the foreground (`daemon off`) and resolves once it accepts connections. */
  async start(): Promise<void> {
    this.check();
    const child = spawn(this.binary, this.#args('-g', 'daemon off;'), { stdio: ['ignore', 'pipe', 'pipe'], ...(this.#ids ?? {}) });
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('close', () => resolve()));
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (this.#output += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.#output += chunk));
    const deadline = Date.now() + 10_000;
    while (!(await listening(this.options.port))) {
      if (child.exitCode !== null) throw new Error(`nginx exited early:\n${this.output()}`);
      if (Date.now() > deadline) throw new Error(`nginx not listening within 10 s:\n${this.output()}`);
      await sleep(25);
    }
  }

  /** SIGTERM (nginx's fast shutdown: open WebSockets need not end first), SIGKILL after 5 s; removes the prefix. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const exited = await Promise.race([this.#exited.then(() => true), sleep(5000, false, { ref: false })]);
      if (!exited) child.kill('SIGKILL');
      await this.#exited;
    }
    this.#child = undefined;
    rmSync(this.prefix, { recursive: true, force: true });
  }
}
