import WebSocket from 'ws';

/** A graphql-transport-ws message as it travels. */
export interface WsMessage {
  type: string;
  id?: string;
  payload?: unknown;
}

export interface Closed {
  code: number;
  reason: string;
}

/**
 * A raw graphql-transport-ws client for tests: it sends exactly what a test says (so
 * protocol violations can be sent too) and lets a test wait for the next message of an
 * operation, or for the close, with a deadline instead of a sleep.
 */
export class WsProbe {
  readonly messages: WsMessage[] = [];
  readonly closed: Promise<Closed>;
  readonly pings: number[] = [];
  #waiters: { match: (m: WsMessage) => boolean; resolve: (m: WsMessage) => void }[] = [];
  #read = new Map<string, number>();

  private constructor(readonly socket: WebSocket) {
    this.closed = new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    socket.on('ping', () => this.pings.push(Date.now()));
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString()) as WsMessage;
      this.messages.push(message);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.match(message)) return true;
        w.resolve(message);
        return false;
      });
    });
  }

  /**
   * Opens a socket to `baseUrl`/graphql (http:// is turned into ws://). `autoPong: false`
   * plays a peer that has gone silent: pings get no answer.
   */
  static async open(baseUrl: string, protocol: string | string[] = 'graphql-transport-ws', options: { autoPong?: boolean } = {}): Promise<WsProbe> {
    const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/graphql`, protocol, { autoPong: options.autoPong ?? true });
    const probe = new WsProbe(socket);
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    return probe;
  }

  /** Opens and initialises a connection; resolves once acknowledged (rejects if it closes instead). */
  static async connect(baseUrl: string, token?: string, options: { autoPong?: boolean } = {}): Promise<WsProbe> {
    const probe = await WsProbe.open(baseUrl, 'graphql-transport-ws', options);
    probe.send({ type: 'connection_init', payload: token === undefined ? {} : { authorization: `Bearer ${token}` } });
    const outcome = await Promise.race([probe.nextOfType('connection_ack'), probe.closed]);
    if ('code' in outcome) throw new Error(`closed ${outcome.code} ${outcome.reason} instead of acknowledging`);
    return probe;
  }

  send(message: unknown): void {
    this.socket.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  subscribe(id: string, query: string, variables?: Record<string, unknown>): void {
    this.send({ type: 'subscribe', id, payload: { query, ...(variables ? { variables } : {}) } });
  }

  /** The next message of this operation id not yet returned by this method. */
  next(id: string, timeoutMs = 10_000): Promise<WsMessage> {
    const seen = this.#read.get(id) ?? 0;
    const mine = this.messages.filter((m) => m.id === id);
    if (mine.length > seen) {
      this.#read.set(id, seen + 1);
      return Promise.resolve(mine[seen]!);
    }
    return this.#wait((m) => m.id === id, timeoutMs, `a message for operation ${id}`).then((m) => {
      this.#read.set(id, seen + 1);
      return m;
    });
  }

  nextOfType(type: string, timeoutMs = 5000): Promise<WsMessage> {
    const found = this.messages.find((m) => m.type === type);
    return found ? Promise.resolve(found) : this.#wait((m) => m.type === type, timeoutMs, `a ${type} message`);
  }

  /** Resolves with the close, or rejects if the socket is still open after `timeoutMs`. */
  closedWithin(timeoutMs: number): Promise<Closed> {
    return Promise.race([
      this.closed,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still open after ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
  }

  close(): void {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) this.socket.close();
  }

  #wait(match: (m: WsMessage) => boolean, timeoutMs: number, what: string): Promise<WsMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms; got ${JSON.stringify(this.messages).slice(-800)}`)), timeoutMs);
      timer.unref();
      this.#waiters.push({
        match,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }
}

/** The data of a `next` message, or a failure naming what came instead. */
export function nextData<T>(message: WsMessage): T {
  if (message.type !== 'next') throw new Error(`expected next, got ${JSON.stringify(message)}`);
  const payload = message.payload as { data?: T; errors?: unknown[] };
  if (payload.errors?.length) throw new Error(`errors: ${JSON.stringify(payload.errors)}`);
  return payload.data as T;
}

/** The two subscriptions, with every field a test looks at. */
export const RESOURCE_CHANGED = `subscription($id: ID!, $after: ID) { resourceChanged(id: $id, after: $after) { eventId kind resourceId version actorId restoredFrom at resource { id name version } } }`;
export const NOTIFICATION_RECEIVED = `subscription($after: ID) { notificationReceived(after: $after) { resync notification { id kind payload read } } }`;

/** A resourceChanged event as those documents ask for it. */
export interface Change {
  eventId: string | null;
  kind: string;
  resourceId: string;
  version: number | null;
  actorId: string | null;
  restoredFrom: number | null;
  at: string;
  resource: { id: string; name: string; version: number } | null;
}

export const changeOf = (message: WsMessage): Change => nextData<{ resourceChanged: Change }>(message).resourceChanged;
