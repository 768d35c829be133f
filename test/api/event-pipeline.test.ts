import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryQueue } from '../../src/infra/queue/memory.js';
import type { EventHandler, Subscription } from '../../src/infra/queue/port.js';
import { createResource, signedInUser } from '../support/factories.js';
import { as } from '../support/identity.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The event pipeline's set-up (outbox → relay → queue → consumers): a queue that fails while
 * its consumers are being subscribed (a broker going away between two calls) must not leave
 * the instance with no consumers while it reports itself ready; the set-up starts over.
 */

/** A queue whose broadcast subscription fails, as a broker that went away after the connect. */
class BrokenBroadcast extends MemoryQueue {
  closed = false;

  override async broadcast(_handler: EventHandler): Promise<Subscription> {
    throw new Error('the broker went away');
  }

  override async close(): Promise<void> {
    this.closed = true;
    await super.close();
  }
}

interface Readiness {
  status: string;
  checks: Record<string, { status: string }>;
}

describe('event pipeline set-up', () => {
  let t: TestServer | undefined;
  after(() => t?.close());

  it('starts over when the queue fails half-way through the set-up, reporting the queue down until then', async () => {
    const opened: MemoryQueue[] = [];
    const openQueue = async () => {
      const queue = opened.length === 0 ? new BrokenBroadcast() : new MemoryQueue();
      opened.push(queue);
      return queue;
    };
    t = await startTestServer('pglite', { openQueue });
    const server = t;
    const readiness = async () => (await server.app.inject({ method: 'GET', url: '/health/ready' })).json() as Readiness;

    // The first attempt failed: the queue is reported down (the instance still serves, degraded).
    const first = await readiness();
    if (opened.length === 1) assert.equal(first.checks.queue?.status, 'down', JSON.stringify(first));
    await t.server.events.started;
    assert.equal(opened.length, 2, 'one more attempt after the failed one');
    assert.ok((opened[0] as BrokenBroadcast).closed, 'the half set-up queue was closed');
    // Readiness answers from one round of checks a second: the next round sees the queue up.
    const readyBy = Date.now() + 3000;
    while ((await readiness()).checks.queue?.status !== 'up') {
      assert.ok(Date.now() < readyBy, 'the queue check never came up');
      await sleep(100);
    }
    assert.ok(t.logs.records().some((r) => r.msg === 'message queue unreachable; events wait in the outbox'));

    // Events flow: a change by one member tells the owner it shared with.
    await signedInUser(t, { name: 'Admin' });
    const owner = await signedInUser(t, { name: 'Owner' });
    const editor = await signedInUser(t, { name: 'Editor' });
    const doc = await createResource(t, owner);
    assert.equal(
      (await as(t, owner.token, 'POST', `/api/v1/resources/${doc.id}/shares`, { userId: editor.user.id, actions: ['read', 'update'] })).statusCode,
      201,
    );
    assert.equal((await as(t, editor.token, 'PATCH', `/api/v1/resources/${doc.id}`, { data: { n: 1 } })).statusCode, 200);
    const deadline = Date.now() + 5000;
    for (;;) {
      const items = ((await as(t, owner.token, 'GET', '/api/v1/notifications')).json() as { items: { kind: string }[] }).items;
      if (items.some((n) => n.kind === 'resource.updated')) break;
      assert.ok(Date.now() < deadline, `no notification of the change: ${JSON.stringify(items)}`);
      await sleep(50);
    }
  });
});
