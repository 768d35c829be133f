import { sql, type Kysely } from 'kysely';
import type PgModule from 'pg';
import { backoffDelay, sleep } from '../../core/backoff.js';
import type { Logger } from '../telemetry/logger.js';
import type { Tables } from './tables.js';
import { loadPg } from './pg-driver.js';

/** The channel every instance of one database signals on (one database, one deployment). */
const CHANNEL = 'pcf_outbox';
/** Longest wait between attempts to get the listening connection back. */
const RECONNECT_MAX_MS = 10_000;
/** How long opening the listening connection may take before it is tried again. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Wakes the outbox relay of another process when this one commits events (PostgreSQL
 * LISTEN/NOTIFY). An instance that runs no relay (roles without `worker`) signals after each
 * commit; the instance that runs it listens and nudges its relay. A lost signal only delays
 * the events until the relay's next poll, which stays as the fallback.
 */
export interface Wakeups {
  /** A change was committed: wake the listening relays. Never throws, never waits. */
  signal(): void;
  /** Calls `wake` on every signal, and once after each (re)connection for the ones missed meanwhile. */
  listen(wake: () => void): { close(): Promise<void> };
}

/**
 * `db` sends the signals (through the pool); `url` opens the one connection a listener holds
 * for itself (LISTEN belongs to a session, so it cannot borrow pooled connections).
 */
export function postgresWakeups(db: Kysely<Tables>, url: string, log: Logger): Wakeups {
  // One NOTIFY in flight at a time; commits meanwhile are folded into one more after it, so a
  // burst of writes costs two round trips, not one each.
  let sending = false;
  let again = false;
  async function send(): Promise<void> {
    sending = true;
    try {
      do {
        again = false;
        await sql`SELECT pg_notify(${CHANNEL}, '')`.execute(db).catch((err: unknown) => log.debug({ err }, 'outbox signal not sent; the relay polls'));
      } while (again);
    } finally {
      sending = false;
    }
  }
  return {
    signal() {
      if (sending) again = true;
      else void send();
    },
    listen: (wake) => listenFor(url, wake, log),
  };
}

function listenFor(url: string, wake: () => void, log: Logger): { close(): Promise<void> } {
  const stopping = new AbortController();
  let client: PgModule.Client | undefined;
  // One for all attempts: a listener added per attempt would pile up across reconnections.
  const whenStopped = stopped(stopping.signal);
  whenStopped.catch(() => undefined);
  const running = (async () => {
    const pg = loadPg();
    for (let attempt = 1; !stopping.signal.aborted;) {
      const current = new pg.Client({
        connectionString: url,
        application_name: 'pcf-api relay wakeups',
        keepAlive: true,
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      });
      client = current;
      // A persistent handler: an 'error' nobody listens to would end the process.
      const lost = new Promise<unknown>((resolve) => {
        current.on('error', resolve);
        current.once('end', () => resolve(new Error('connection ended')));
      });
      try {
        // pg never settles connect() on a client ended while it connects (close(), below):
        // the wait ends with the stop instead.
        await Promise.race([current.connect(), whenStopped]);
        current.on('notification', () => wake());
        await current.query(`LISTEN ${CHANNEL}`);
        if (attempt > 1) log.info({ attempt }, 'listening for outbox signals again');
        attempt = 1;
        // Signals sent while no connection listened are lost: one pass covers them.
        wake();
        const err = await lost;
        if (stopping.signal.aborted) return;
        log.warn({ err: { message: (err as Error).message } }, 'outbox signal connection lost; reconnecting (the relay polls meanwhile)');
      } catch (err) {
        if (stopping.signal.aborted) return;
        const delayMs = backoffDelay(attempt++, { initialMs: 500, maxMs: RECONNECT_MAX_MS });
        log.warn({ err: { message: (err as Error).message }, delayMs }, 'cannot listen for outbox signals; the relay polls meanwhile');
        await current.end().catch(() => undefined);
        await sleep(delayMs, stopping.signal);
        continue;
      }
      await current.end().catch(() => undefined);
      await sleep(backoffDelay(attempt++, { initialMs: 500, maxMs: RECONNECT_MAX_MS }), stopping.signal);
    }
  })();
  return {
    async close() {
      stopping.abort();
      await client?.end().catch(() => undefined);
      await running;
    },
  };
}

/** Rejects when `signal` aborts. */
function stopped(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const abort = () => reject(new Error('stopping'));
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
  });
}
