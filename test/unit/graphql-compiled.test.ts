import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { execute, GraphQLError, parse, type DocumentNode, type ExecutionResult } from 'graphql';
import { COMPILE_AFTER_RUNS, CompiledOperations } from '../../src/api/graphql/compiled.js';
import { formatErrors } from '../../src/api/graphql/errors.js';
import { JSONScalar } from '../../src/api/graphql/json-scalars.js';
import { executableSchema } from '../../src/api/graphql/schema.js';
import { appError } from '../../src/core/errors.js';
import { createLogger } from '../../src/infra/telemetry/logger.js';
import { captureLogs } from '../support/logs.js';

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';

// An operation run often is executed by graphql-jit (api/graphql/compiled.ts): its answers
// and its errors, as the one formatter gives them, must be graphql-js's.
describe('GraphQL compiled operations', () => {
  const logs = captureLogs();
  const scope = { traceId, log: createLogger({ level: 'info', destination: logs.stream }), hideSuggestions: false };
  const stored: unknown[] = [];
  const schema = executableSchema(
    `
    scalar JSON
    type Item { id: ID!, version: Int!, data: JSON, owner: String! }
    type Query { own: Int, item(id: ID!): Item, missing(id: ID!): Item, items(first: Int = 2): [Item!]! }
    type Mutation { store(data: JSON!): Boolean! }
    `,
    {
      JSON: JSONScalar,
      Query: {
        own: () => {
          throw new GraphQLError('Already a GraphQL error', { extensions: { code: 'INVALID_INPUT' } });
        },
        item: (_p: unknown, args: { id: string }) => ({ id: args.id, version: 1, data: { title: 't', tags: ['a'], n: 1.5 }, owner: null }),
        missing: async () => {
          throw appError('NOT_FOUND', 'No such item.');
        },
        items: (_p: unknown, args: { first: number }) => Array.from({ length: args.first }, (_, i) => ({ id: `i${i}`, version: i, data: null, owner: 'o' })),
      },
      Mutation: {
        store: (_p: unknown, args: { data: unknown }) => {
          stored.push(args.data);
          return true;
        },
      },
    } as never,
  );

  /** Runs `document` past the compile threshold; each run must answer as graphql-js does. */
  async function compare(document: DocumentNode, variableValues?: Record<string, unknown>, compiles = true): Promise<ExecutionResult> {
    const compiled = new CompiledOperations(schema);
    const expected = await execute({ schema, document, variableValues, contextValue: {} });
    let last: ExecutionResult | undefined;
    for (let run = 0; run <= COMPILE_AFTER_RUNS; run++) {
      last = await compiled.execute({ schema, document, variableValues, contextValue: {} });
      assert.deepEqual(JSON.parse(JSON.stringify(last.data ?? null)), JSON.parse(JSON.stringify(expected.data ?? null)), `run ${run}`);
      assert.deepEqual(formatErrors(last.errors ?? [], scope), formatErrors(expected.errors ?? [], scope), `run ${run}`);
    }
    assert.equal(compiled.isCompiled(document), compiles);
    return last!;
  }

  it('answers with the same data, custom scalars and defaults included', async () => {
    const result = await compare(parse('query Q($id: ID!) { item(id: $id) { id version data } items { id version } }'), { id: 'x' });
    assert.deepEqual(result.data?.item, { id: 'x', version: 1, data: { title: 't', tags: ['a'], n: 1.5 } });
    assert.equal((result.data?.items as unknown[]).length, 2);
  });

  it('reports a thrown contract error, a thrown GraphQLError and a null in a non-null field as graphql-js does', async () => {
    const missing = await compare(parse('query Q($id: ID!) { missing(id: $id) { id } }'), { id: 'x' });
    assert.equal(formatErrors(missing.errors!, scope)[0]?.extensions.code, 'NOT_FOUND');
    const owner = await compare(parse('{ item(id: "x") { owner } }'));
    assert.equal(owner.data?.item, null);
    assert.equal(formatErrors(owner.errors!, scope)[0]?.extensions.code, 'INTERNAL_ERROR');
    const own = await compare(parse('{ own }'));
    assert.equal(formatErrors(own.errors!, scope)[0]?.message, 'Already a GraphQL error');
  });

  it('leaves a document writing an object literal to graphql-js, which keeps a __proto__ key an own key', async () => {
    stored.length = 0;
    await compare(parse('mutation { store(data: { a: { __proto__: { admin: true } } }) }'), undefined, false);
    assert.ok(stored.length > COMPILE_AFTER_RUNS);
    for (const data of stored) {
      const a = (data as { a: object }).a;
      assert.ok(Object.hasOwn(a, '__proto__'));
      assert.equal((a as { admin?: unknown }).admin, undefined);
    }
  });
});
