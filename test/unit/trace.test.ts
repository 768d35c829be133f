import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay } from '../../src/core/backoff.js';
import { toTraceparent, traceFromHeader } from '../../src/core/trace.js';

describe('W3C trace context', () => {
  const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

  it('continues a valid traceparent with a span of its own', () => {
    const trace = traceFromHeader(valid);
    assert.equal(trace.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(trace.parentSpanId, '00f067aa0ba902b7');
    assert.notEqual(trace.spanId, '00f067aa0ba902b7');
    assert.match(toTraceparent(trace), /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
  });

  it('accepts future versions with extra fields', () => {
    assert.equal(traceFromHeader(`01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra`).traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
  });

  for (const [name, header] of [
    ['missing', undefined],
    ['garbage', 'hello'],
    ['all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['all-zero parent id', `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`],
    ['version ff', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['version 00 with extra fields', `${valid}-extra`],
    ['short trace id', '00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01'],
    ['uppercase hex', valid.toUpperCase()],
  ] as const) {
    it(`starts a new trace when the header is ${name}`, () => {
      const trace = traceFromHeader(header);
      assert.match(trace.traceId, /^[0-9a-f]{32}$/);
      assert.notEqual(trace.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
      assert.equal(trace.parentSpanId, undefined);
    });
  }
});

describe('start-up backoff', () => {
  const options = { initialMs: 1000, maxMs: 60_000 };

  it('doubles from 1 s up to 60 s', () => {
    const top = (attempt: number) => backoffDelay(attempt, { ...options, random: () => 0.999999 });
    assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8, 20].map(top), [1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
  });

  it('jitters within the upper half of each step', () => {
    assert.equal(backoffDelay(3, { ...options, random: () => 0 }), 2000);
    assert.equal(backoffDelay(3, { ...options, random: () => 0.5 }), 3000);
    for (let i = 0; i < 100; i++) {
      const delay = backoffDelay(4, options);
      assert.ok(delay >= 4000 && delay <= 8000, `delay ${delay} within [4000, 8000]`);
    }
  });
});
