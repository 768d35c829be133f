import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HealthService, type HealthCheck, type LifecyclePhase } from '../../src/services/health/health.service.js';

function counting(name: string, critical: boolean, behaviour: () => Promise<void>) {
  const check = { name, critical, calls: 0, check: () => (check.calls++, behaviour()) };
  return check satisfies HealthCheck & { calls: number };
}

const up = () => Promise.resolve();
const down = () => Promise.reject(new Error('ECONNREFUSED 10.0.0.5:5432 for user admin'));

describe('health service', () => {
  it('reports healthy, degraded and unhealthy from critical and optional checks', async () => {
    const phase = (): LifecyclePhase => 'running';
    const healthy = new HealthService({ timeoutMs: 100, phase, checks: [counting('db', true, up), counting('cache', false, up)] });
    assert.equal((await healthy.readiness()).status, 'healthy');
    const degraded = new HealthService({ timeoutMs: 100, phase, checks: [counting('db', true, up), counting('cache', false, down)] });
    const result = await degraded.readiness();
    assert.equal(result.status, 'degraded');
    assert.deepEqual({ ...result.checks.cache, latencyMs: 0 }, { status: 'down', latencyMs: 0, error: 'unreachable' });
    assert.doesNotMatch(JSON.stringify(result), /10\.0\.0\.5|admin/, 'driver messages stay inside');
    const unhealthy = new HealthService({ timeoutMs: 100, phase, checks: [counting('db', true, down), counting('cache', false, up)] });
    assert.equal((await unhealthy.readiness()).status, 'unhealthy');
  });

  it('follows the lifecycle: starting, then running, then stopping is unhealthy', async () => {
    let phase: LifecyclePhase = 'starting';
    const service = new HealthService({ timeoutMs: 100, phase: () => phase, reuseMs: 0, checks: [counting('db', true, up)] });
    assert.equal((await service.readiness()).status, 'starting');
    phase = 'running';
    assert.equal((await service.readiness()).status, 'healthy');
    phase = 'stopping';
    assert.equal((await service.readiness()).status, 'unhealthy');
    assert.equal(HealthService.isReady('degraded'), true);
    assert.equal(HealthService.isReady('starting'), false);
  });

  it('bounds a check that never answers', async () => {
    const service = new HealthService({ timeoutMs: 50, phase: () => 'running', checks: [counting('db', true, () => new Promise(() => undefined))] });
    const result = await service.readiness();
    assert.equal(result.status, 'unhealthy');
    assert.equal(result.checks.db?.error, 'no answer within 50 ms');
  });

  it('answers concurrent and rapid probes from one round of checks', async () => {
    let now = 0;
    const db = counting('db', true, up);
    const service = new HealthService({ timeoutMs: 100, phase: () => 'running', reuseMs: 1000, now: () => now, checks: [db] });
    await Promise.all(Array.from({ length: 50 }, () => service.readiness()));
    assert.equal(db.calls, 1);
    now = 999;
    await service.readiness();
    assert.equal(db.calls, 1, 'still fresh');
    now = 1000;
    await service.readiness();
    assert.equal(db.calls, 2, 'a new round once the last one is old');
  });
});
