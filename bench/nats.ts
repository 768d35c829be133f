/**
 * NATS for the `pcf-realtime-nats` server: a reachability probe before it starts, a stream
 * name of the run's own (PCF_QUEUE_NAME, which is also its subject prefix), and deletion of
 * that stream (with the consumers PCF made on it) after the server stops. Streams that runs
 * killed before their cleanup left behind (`pcf-bench-…`, created more than an hour ago) are
 * deleted at the same time.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';

/** Prefix of the streams the benchmark makes; never a real PCF instance's (default `pcf-events`). */
const STREAM_PREFIX = 'pcf-bench-';
const STALE_AFTER_MS = 60 * 60 * 1000;

async function withConnection<T>(url: string, fn: (nc: NatsConnection) => Promise<T>): Promise<T> {
  const servers = url.split(',').map((s) => s.trim().replace(/^nats:\/\//, ''));
  const nc = await connect({ servers, timeout: 2_000, maxReconnectAttempts: 0, name: 'pcf-bench' });
  try {
    return await fn(nc);
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** The NATS server's version, or throws with why it can't be reached (or has no JetStream). */
export async function probeNats(url: string): Promise<string> {
  return withConnection(url, async (nc) => {
    const jsm = await jetstreamManager(nc);
    await jsm.getAccountInfo(); // fails when JetStream is off
    return nc.info?.version ?? 'unknown';
  });
}

/** A stream (and subject prefix) no other run, nor a real PCF instance, uses. */
export function uniqueStreamName(): string {
  return `${STREAM_PREFIX}${Date.now().toString(36)}-${process.pid}`;
}

/**
 * Deletes `stream`, and the benchmark's streams older than an hour (left by killed runs).
 * Returns the names deleted.
 */
export async function deleteBenchStreams(url: string, stream: string): Promise<string[]> {
  if (!stream.startsWith(STREAM_PREFIX)) throw new Error(`refusing to delete the stream "${stream}", which is not the benchmark's`);
  return withConnection(url, async (nc) => {
    const jsm = await jetstreamManager(nc);
    const doomed: string[] = [];
    for await (const info of jsm.streams.list()) {
      const name = info.config.name;
      if (name === stream || (name.startsWith(STREAM_PREFIX) && Date.now() - Date.parse(info.created) > STALE_AFTER_MS)) doomed.push(name);
    }
    for (const name of doomed) await jsm.streams.delete(name);
    return doomed;
  });
}
