import type { Logger } from '../telemetry/logger.js';
import { MemoryQueue } from './memory.js';
import type { Queue } from './port.js';

export type { EventHandler, Queue, QueueEvent, Subscription } from './port.js';

export interface QueueOptions {
  /** '' (in-process), nats://… or kafka://… (DESIGN §1, PCF_QUEUE_URL). */
  url: string;
  /** The NATS stream (and subject prefix) or Kafka topic holding the events. */
  name: string;
  /** How long the broker keeps events. */
  retentionMs: number;
}

/**
 * The queue adapter the URL names. The broker clients are loaded only when used, so an
 * embedded instance never loads them. Rejects when the broker cannot be reached.
 */
export async function openQueue(options: QueueOptions, log: Logger): Promise<Queue> {
  if (options.url === '') return new MemoryQueue();
  if (options.url.startsWith('nats://')) {
    const { NatsQueue } = await import('./nats.js');
    return NatsQueue.open({ url: options.url, stream: options.name, subjectPrefix: options.name, retentionMs: options.retentionMs }, log);
  }
  if (options.url.startsWith('kafka://')) {
    const { openKafkaQueue } = await import('./kafka.js');
    return openKafkaQueue({ url: options.url, topic: options.name, clientId: 'pcf-api', retentionMs: options.retentionMs }, log);
  }
  throw new TypeError('the queue URL must be empty, nats://… or kafka://…');
}
