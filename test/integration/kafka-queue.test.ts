import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseKafkaUrl } from '../../src/core/queue-url.js';
import { openKafkaQueue, type KafkaQueueOptions } from '../../src/infra/queue/kafka.js';
import { createLogger } from '../../src/infra/telemetry/logger.js';

/**
 * What the Kafka adapter does without a broker (this machine and CI have none; the queue
 * contract in queue.contract.test.ts runs against one when PCF_TEST_KAFKA_BROKERS is set):
 * it refuses a malformed URL before connecting, and fails fast and cleanly when nothing
 * listens, rather than hanging or leaving a rejection or a socket behind.
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
