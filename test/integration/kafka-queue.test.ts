import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import * as kafka from '@platformatic/kafka';
import { parseKafkaUrl } from '../../src/core/queue-url.js';
import { openKafkaQueue, type KafkaQueueOptions } from '../../src/infra/queue/kafka.js';
import { createLogger } from '../../src/infra/telemetry/logger.js';
import { brokerApiVersions, KcatMockCluster } from '../support/kafka.js';
import { spawnInstance, stopAll } from '../support/instances.js';

/**
 * What the Kafka adapter does without a Kafka broker it can use (this machine and CI have
 * none; the queue contract in queue.contract.test.ts runs against one when
 * PCF_TEST_KAFKA_BROKERS is set): it refuses a malformed URL before connecting, fails fast and
 * cleanly when nothing listens, and, against the one Kafka protocol implementation obtainable
 * here (librdkafka's mock cluster in Debian's kcat), fails fast with an error that says the
 * broker's protocol is too old, and why (docs/queue.md, "What ran against what").
 */
const silent = createLogger({ level: 'silent' });
const options = (url: string): KafkaQueueOptions => ({ url, topic: 'pcf-test', clientId: 'pcf-test', retentionMs: 60_000 });

describe('Kafka queue adapter without a broker', { timeout: 30_000 }, () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  before(() => process.on('unhandledRejection', onUnhandled));
  after(() => process.off('unhandledRejection', onUnhandled));

  it('reads kafka://host:port lists, with 9092 as the default port', () => {
    assert.deepEqual(parseKafkaUrl('kafka://localhost:9092'), [{ host: 'localhost', port: 9092 }]);
    assert.deepEqual(parseKafkaUrl('kafka://a.example:19092, b.example ,kafka://10.0.0.3:9093'), [
      { host: 'a.example', port: 19092 },
      { host: 'b.example', port: 9092 },
      { host: '10.0.0.3', port: 9093 },
    ]);
    assert.deepEqual(parseKafkaUrl('kafka://[::1]:9092'), [{ host: '::1', port: 9092 }]);
  });

  it('refuses an invalid URL before connecting, without quoting it', async () => {
    for (const url of [
      '',
      'localhost:9092',
      'nats://localhost:4222',
      'kafka://',
      'kafka://a:0',
      'kafka://a:65536',
      'kafka://a:9092,',
      'kafka://user:secret@a:9092',
      'kafka://a:9092/path',
      'kafka://a b:9092',
    ]) {
      await assert.rejects(openKafkaQueue(options(url), silent), (err: Error) => {
        assert.ok(err instanceof TypeError, `${url}: ${err.message}`);
        assert.match(err.message, /invalid Kafka URL/);
        assert.ok(!err.message.includes('secret'), 'the URL is not echoed');
        return true;
      });
    }
  });

  it('refuses an invalid topic name or retention', async () => {
    await assert.rejects(openKafkaQueue({ ...options('kafka://127.0.0.1:1'), topic: 'has space' }, silent), TypeError);
    await assert.rejects(openKafkaQueue({ ...options('kafka://127.0.0.1:1'), retentionMs: 0 }, silent), TypeError);
  });

  it('rejects within a few seconds, with a clear error, when nothing listens', async () => {
    const started = Date.now();
    await assert.rejects(openKafkaQueue(options('kafka://127.0.0.1:1'), silent), (err: Error) => {
      assert.match(err.message, /^Kafka at 127\.0\.0\.1:1: cannot set up topic "pcf-test": /);
      assert.match(err.message, /ECONNREFUSED|Cannot connect/i);
      assert.ok(err.cause, 'the library error is kept as the cause');
      return true;
    });
    const took = Date.now() - started;
    assert.ok(took < 10_000, `rejected after ${took} ms`);
    // Anything left running (a retry timer, a socket) would surface here or keep the test file alive.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual(unhandled, []);
  });
});

const run = promisify(execFile);

/**
 * The calls the adapter makes (src/infra/queue/kafka.ts through @platformatic/kafka), by
 * Kafka API key; the test cleanup's ListGroups and DeleteTopics included.
 */
const CALLS_MADE: Record<number, string> = {
  0: 'Produce',
  1: 'Fetch',
  2: 'ListOffsets',
  3: 'Metadata',
  8: 'OffsetCommit',
  9: 'OffsetFetch',
  10: 'FindCoordinator',
  11: 'JoinGroup',
  12: 'Heartbeat',
  13: 'LeaveGroup',
  14: 'SyncGroup',
  16: 'ListGroups',
  18: 'ApiVersions',
  19: 'CreateTopics',
  20: 'DeleteTopics',
  42: 'DeleteGroups',
  44: 'IncrementalAlterConfigs',
};

/** The protocol versions the client implements, per API key, read from the library's own exports (`metadataV12.api` …). */
function clientVersions(): Map<number, number[]> {
  const versions = new Map<number, number[]>();
  for (const value of Object.values(kafka)) {
    const api = (value as { api?: { key?: unknown; version?: unknown } } | undefined)?.api;
    if (typeof api?.key === 'number' && typeof api.version === 'number') versions.set(api.key, [...(versions.get(api.key) ?? []), api.version]);
  }
  return versions;
}

describe("Kafka queue adapter against librdkafka's mock cluster (kcat)", { timeout: 60_000 }, () => {
  let cluster: KcatMockCluster;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    // Fails, saying how to install it, when kcat is missing: CI installs it, so this never skips there.
    cluster = await KcatMockCluster.start(3);
  });
  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    await stopAll();
    await cluster?.stop();
  });

  it('is a working Kafka protocol implementation on loopback: another kcat produces to it and consumes back', async () => {
    assert.equal(cluster.brokers.length, 3, cluster.bootstrap);
    const topic = `pcf-mock-${randomBytes(3).toString('hex')}`;
    const lines = ['one', 'two', 'three'];
    const producer = run('kcat', ['-b', cluster.bootstrap, '-P', '-t', topic], { timeout: 15_000 });
    producer.child.stdin!.end(`${lines.join('\n')}\n`);
    await producer;
    const consumed = await run('kcat', ['-b', cluster.bootstrap, '-C', '-t', topic, '-o', 'beginning', '-e', '-q'], { timeout: 15_000 });
    // The mock creates topics with four partitions: order holds per partition only.
    assert.deepEqual(consumed.stdout.split('\n').filter(Boolean).sort(), [...lines].sort());
  });

  it('serves no protocol version the client speaks for most of the calls the adapter makes', async () => {
    const broker = cluster.brokers[0]!;
    const served = await brokerApiVersions(broker.host, broker.port);
    const spoken = clientVersions();
    const usable = (key: number) => (spoken.get(key) ?? []).some((v) => v >= served.get(key)!.min && v <= served.get(key)!.max);
    const missing = Object.entries(CALLS_MADE)
      .filter(([key]) => !served.has(Number(key)))
      .map(([, name]) => name);
    const noCommonVersion = Object.entries(CALLS_MADE)
      .filter(([key]) => served.has(Number(key)) && !usable(Number(key)))
      .map(
        ([key, name]) => `${name} (mock v${served.get(Number(key))!.min}-v${served.get(Number(key))!.max}, client v${Math.min(...spoken.get(Number(key))!)}+)`,
      );
    const fine = Object.entries(CALLS_MADE)
      .filter(([key]) => served.has(Number(key)) && usable(Number(key)))
      .map(([, name]) => name);
    // If this starts failing after a kcat or @platformatic/kafka upgrade, the gap has moved:
    // run the queue contract against the mock (PCF_TEST_KAFKA_BROKERS) and update docs/queue.md.
    assert.deepEqual(
      { missing, noCommonVersion: noCommonVersion.map((entry) => entry.split(' ')[0]), fine },
      {
        missing: ['ListGroups', 'CreateTopics', 'DeleteTopics', 'DeleteGroups', 'IncrementalAlterConfigs'],
        noCommonVersion: [
          'Fetch',
          'Metadata',
          'OffsetCommit',
          'OffsetFetch',
          'FindCoordinator',
          'JoinGroup',
          'Heartbeat',
          'LeaveGroup',
          'SyncGroup',
          'ApiVersions',
        ],
        fine: ['Produce', 'ListOffsets'],
      },
      noCommonVersion.join('; '),
    );
  });

  it('makes opening a queue fail within seconds, saying the broker speaks too old a protocol, with nothing left running', async () => {
    const started = Date.now();
    await assert.rejects(openKafkaQueue(options(`kafka://${cluster.bootstrap}`), silent), (err: Error) => {
      assert.match(err.message, /^Kafka at 127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+: cannot set up topic "pcf-test": /);
      assert.match(err.message, /ApiVersions\(v3\)/);
      assert.match(err.message, /the broker does not serve the protocol versions this client needs \(those of Apache Kafka 3\.5 to 4\.1\)$/);
      return true;
    });
    const took = Date.now() - started;
    assert.ok(took < 10_000, `rejected after ${took} ms`);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual(unhandled, []);
  });

  it('leaves a server configured with PCF_QUEUE_URL=kafka://<mock> serving, degraded, its queue check down and the reason logged', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'pcf-kafka-e2e-'));
    try {
      const server = await spawnInstance('kafka-mock', {
        PCF_DATA_DIR: dataDir,
        PCF_QUEUE_URL: `kafka://${cluster.bootstrap}`,
        PCF_QUEUE_NAME: `pcf-e2e-${randomBytes(3).toString('hex')}`,
      });
      // As with any unreachable queue, the instance runs on and events wait in the outbox (docs/queue.md).
      let ready: { status: number; body: { checks?: { queue?: { status?: string } } } } | undefined;
      const reason = /the broker does not serve the protocol versions this client needs/;
      for (const deadline = Date.now() + 60_000; Date.now() < deadline && !(ready?.body.checks?.queue && reason.test(server.output()));) {
        if (server.child.exitCode !== null) assert.fail(`the server exited:\n${server.output()}`);
        ready = await fetch(`${server.base}/health/ready`, { signal: AbortSignal.timeout(5000) }).then(
          async (r) => ({ status: r.status, body: (await r.json()) as { checks?: { queue?: { status?: string } } } }),
          () => undefined,
        );
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.equal(ready?.body.checks?.queue?.status, 'down', JSON.stringify(ready));
      assert.match(server.output(), reason, server.output());
    } finally {
      await stopAll();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
