import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphQLError } from 'graphql';
import { withClientErrors } from '../../src/api/graphql/resolvers.js';
import { appError } from '../../src/core/errors.js';
import { createLogger } from '../../src/infra/telemetry/logger.js';
import { captureLogs } from '../support/logs.js';

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';

describe('GraphQL resolver errors', () => {
  const logs = captureLogs();
  const context = { trace: { traceId }, log: createLogger({ level: 'info', destination: logs.stream }) };
  const resolvers = withClientErrors({
    Query: {
      ok: () => 42,
      missing: async () => {
        throw appError('NOT_FOUND', 'No such resource.');
      },
      broken: () => {
        throw new Error('relation "users" does not exist at SELECT * FROM users');
      },
      own: () => {
        throw new GraphQLError('Already a GraphQL error', { extensions: { code: 'INVALID_INPUT' } });
      },
    },
  });
  const call = (name: keyof typeof resolvers.Query) => (resolvers.Query[name] as (...a: unknown[]) => unknown)(undefined, {}, context, undefined);

  it('leaves results alone, synchronous ones synchronous', () => {
    assert.equal(call('ok'), 42);
  });

  it('keeps a contract error’s code and detail, with the trace id', async () => {
    await assert.rejects(
      Promise.resolve().then(() => call('missing')),
      (err: GraphQLError) => {
        assert.equal(err.message, 'No such resource.');
        assert.deepEqual(err.extensions, { code: 'NOT_FOUND', traceId });
        return true;
      },
    );
  });

  it('hides an unexpected error behind INTERNAL_ERROR and logs it', () => {
    assert.throws(
      () => call('broken'),
      (err: GraphQLError) => {
        assert.equal(err.extensions.code, 'INTERNAL_ERROR');
        assert.equal(err.extensions.traceId, traceId);
        assert.doesNotMatch(err.message, /relation|SELECT/);
        return true;
      },
    );
    assert.match(logs.text(), /relation \\"users\\" does not exist/);
    assert.match(logs.text(), new RegExp(traceId));
  });

  it('passes GraphQL errors through', () => {
    assert.throws(
      () => call('own'),
      (err: GraphQLError) => err.message === 'Already a GraphQL error',
    );
  });
});
