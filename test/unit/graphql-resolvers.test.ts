import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { execute, GraphQLError, parse, type ExecutionResult } from 'graphql';
import { formatErrors, type FormattedError } from '../../src/api/graphql/errors.js';
import { executableSchema } from '../../src/api/graphql/schema.js';
import { appError } from '../../src/core/errors.js';
import { createLogger } from '../../src/infra/telemetry/logger.js';
import { captureLogs } from '../support/logs.js';

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';

// What resolvers throw is classified once, by the formatter both transports use
// (api/graphql/errors.ts): resolvers themselves are not wrapped.
describe('GraphQL resolver errors', () => {
  const logs = captureLogs();
  const scope = { traceId, log: createLogger({ level: 'info', destination: logs.stream }), hideSuggestions: false };
  const schema = executableSchema('type Query { ok: Int, missing: Int, broken: Int, own: Int, stale: Int }', {
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
      stale: async () => {
        throw appError('PRECONDITION_FAILED', 'The resource changed since revision 3.');
      },
    },
  });

  async function run(field: string): Promise<{ result: ExecutionResult; error: FormattedError | undefined }> {
    const result = await execute({ schema, document: parse(`{ ${field} }`) });
    return { result, error: formatErrors(result.errors ?? [], scope)[0] };
  }

  it('leaves results alone', async () => {
    const { result, error } = await run('ok');
    assert.equal(result.data?.ok, 42);
    assert.equal(error, undefined);
  });

  it('keeps a contract error’s code and detail, with the trace id and path', async () => {
    const { error } = await run('missing');
    assert.equal(error?.message, 'No such resource.');
    assert.deepEqual(error?.extensions, { code: 'NOT_FOUND', traceId });
    assert.deepEqual(error?.path, ['missing']);
  });

  it('hides an unexpected error behind INTERNAL_ERROR and logs it', async () => {
    const { error } = await run('broken');
    assert.equal(error?.extensions.code, 'INTERNAL_ERROR');
    assert.equal(error?.extensions.traceId, traceId);
    assert.doesNotMatch(error!.message, /relation|SELECT/);
    assert.match(logs.text(), /relation \\"users\\" does not exist/);
    assert.match(logs.text(), new RegExp(traceId));
  });

  it('passes GraphQL errors through with their code', async () => {
    const { error } = await run('own');
    assert.equal(error?.message, 'Already a GraphQL error');
    assert.equal(error?.extensions.code, 'INVALID_INPUT');
  });

  it('reports a stale expected revision as CONFLICT: GraphQL has no If-Match', async () => {
    const { error } = await run('stale');
    assert.equal(error?.extensions.code, 'CONFLICT');
    assert.equal(error?.message, 'The resource changed since revision 3.');
  });
});
