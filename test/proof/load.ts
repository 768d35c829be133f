import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { RESOURCE_CHANGED } from '../support/ws.js';

/**
 * The steady mixed load of the deployment proof, through nginx: reads, creates and updates
 * with Idempotency-Keys (a client retries a failed write with the same key, as the contract
 * tells it to), logins, and WebSocket subscribers that resume with `after` when their socket
 * ends. Every attempt is counted in the current phase; a failure is a network error or an
 * answer other than the one expected.
 */

export interface PhaseStats {
  name: string;
  requests: number;
  failures: number;
  samples: string[];
  /** Latencies of successful reads, in ms. */
  reads: number[];
}

export interface Account {
  email: string;
  password: string;
  token: string;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export class Load {
  readonly phases: PhaseStats[] = [];
  #phase!: PhaseStats;
  #running = false;
  #loops: Promise<void>[] = [];
  inflight = 0;
  /** Creates acknowledged (201) per name: each name is one logical write, sent until acknowledged. */
  readonly created = new Map<string, number>();
  /** The version each watched resource reached, from the acknowledged updates. */
  readonly versions = new Map<string, number>();

  constructor(
    readonly base: string,
    readonly accounts: Account[],
    readonly watched: string[],
    readonly tag: string,
  ) {
    this.phase('setup');
  }

  phase(name: string): PhaseStats {
    this.#phase = { name, requests: 0, failures: 0, samples: [], reads: [] };
    this.phases.push(this.#phase);
    return this.#phase;
  }

  async #request(
    method: string,
    path: string,
    options: { token?: string; body?: unknown; key?: string; expect: number[] },
  ): Promise<Record<string, unknown> | undefined> {
    const phase = this.#phase;
    phase.requests++;
    this.inflight++;
    const started = performance.now();
    try {
      const headers: Record<string, string> = {};
      if (options.token) headers.authorization = `Bearer ${options.token}`;
      if (options.body !== undefined) headers['content-type'] = 'application/json';
      if (options.key) headers['idempotency-key'] = options.key;
      const response = await fetch(`${this.base}/api/v1${path}`, {
        method,
        headers,
        ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        signal: AbortSignal.timeout(15_000),
      });
      const text = await response.text();
      if (!options.expect.includes(response.status)) {
        phase.failures++;
        if (phase.samples.length < 10) phase.samples.push(`${method} ${path} → ${response.status} ${text.slice(0, 200)}`);
        return undefined;
      }
      if (method === 'GET') phase.reads.push(performance.now() - started);
      return text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch (err) {
      phase.failures++;
      if (phase.samples.length < 10) phase.samples.push(`${method} ${path} → ${(err as Error).cause ?? (err as Error).message}`);
      return undefined;
    } finally {
      this.inflight--;
    }
  }

  /** A write sent until acknowledged, with one key: applied once however often it is sent. */
  async #write(method: string, path: string, token: string, body: unknown, expect: number): Promise<Record<string, unknown> | undefined> {
    const key = randomUUID();
    for (let attempt = 0; attempt < 8 && this.#running; attempt++) {
      const reply = await this.#request(method, path, { token, body, key, expect: [expect] });
      if (reply) return reply;
      await sleep(200 * (attempt + 1));
    }
    return undefined;
  }

  start(mix: { readers: number; creators: number; updaters: boolean; logins: number }): void {
    this.#running = true;
    const account = (i: number) => this.accounts[i % this.accounts.length]!;
    for (let i = 0; i < mix.readers; i++) {
      this.#loops.push(
        (async () => {
          while (this.#running) await this.#request('GET', '/resources?limit=10', { token: account(i).token, expect: [200] });
        })(),
      );
    }
    for (let i = 0; i < mix.creators; i++) {
      this.#loops.push(
        (async () => {
          for (let n = 0; this.#running; n++) {
            const name = `load ${this.tag} ${i}-${n}-${randomUUID().slice(0, 8)}`;
            const created = await this.#write('POST', '/resources', account(i).token, { name, type: 'doc', data: { n } }, 201);
            if (created) this.created.set(name, (this.created.get(name) ?? 0) + 1);
            await sleep(50);
          }
        })(),
      );
    }
    if (mix.updaters) {
      for (const id of this.watched) {
        this.#loops.push(
          (async () => {
            for (let n = 0; this.#running; n++) {
              const updated = await this.#write('PATCH', `/resources/${id}`, this.accounts[0]!.token, { data: { n } }, 200);
              if (updated) this.versions.set(id, updated.version as number);
              await sleep(100);
            }
          })(),
        );
      }
    }
    for (let i = 0; i < mix.logins; i++) {
      this.#loops.push(
        (async () => {
          while (this.#running) {
            const a = account(i);
            await this.#request('POST', '/auth/login', { body: { email: a.email, password: a.password }, expect: [200] });
          }
        })(),
      );
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
    this.#loops = [];
  }
}

/**
 * A client of resourceChanged(id) through nginx that, when its socket ends (an instance
 * drained or died), opens another and resumes with `after` = the last eventId it got.
 */
export class Subscriber {
  readonly versions = new Set<number>();
  readonly problems: string[] = [];
  reconnects = 0;
  #lastEventId: string | undefined;
  #socket: WebSocket | undefined;
  #closed = false;

  constructor(
    readonly base: string,
    readonly token: string,
    readonly resourceId: string,
  ) {}

  async open(): Promise<void> {
    await new Promise<void>((resolve) => this.#connect(resolve));
  }

  #connect(onSubscribed?: () => void): void {
    if (this.#closed) return;
    const socket = new WebSocket(`${this.base.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
    this.#socket = socket;
    const retry = () => {
      if (this.#closed || this.#socket !== socket) return;
      this.#socket = undefined;
      this.reconnects++;
      setTimeout(() => this.#connect(onSubscribed), 100);
    };
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${this.token}` } })));
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString()) as { type: string; id?: string; payload?: unknown };
      if (message.type === 'connection_ack') {
        socket.send(
          JSON.stringify({
            type: 'subscribe',
            id: 'r',
            payload: { query: RESOURCE_CHANGED, variables: { id: this.resourceId, after: this.#lastEventId ?? null } },
          }),
        );
        // Acknowledged and subscribed: what happens from now on reaches this socket.
        const subscribed = onSubscribed;
        onSubscribed = undefined;
        if (subscribed) setTimeout(subscribed, 200);
      } else if (message.type === 'next') {
        const payload = message.payload as { data?: { resourceChanged: { eventId: string | null; kind: string; version: number | null } }; errors?: unknown[] };
        const change = payload.data?.resourceChanged;
        if (!change) {
          this.problems.push(`errors: ${JSON.stringify(payload.errors)}`);
          return;
        }
        if (change.kind === 'RESYNC') this.problems.push('RESYNC: the events since the last one could not be replayed');
        if (change.eventId) this.#lastEventId = change.eventId;
        if (change.version !== null) this.versions.add(change.version);
      } else if (message.type === 'error' || message.type === 'complete') {
        this.problems.push(`${message.type}: ${JSON.stringify(message.payload)}`);
      }
    });
    socket.on('close', retry);
    socket.on('error', () => socket.terminate());
  }

  /** Versions from 2 (the first update) to `latest` that never arrived. */
  missing(latest: number): number[] {
    const gaps: number[] = [];
    for (let v = 2; v <= latest; v++) if (!this.versions.has(v)) gaps.push(v);
    return gaps;
  }

  close(): void {
    this.#closed = true;
    this.#socket?.terminate();
  }
}
