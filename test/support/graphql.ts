import assert from 'node:assert/strict';
import { bearer } from './identity.js';
import type { TestServer } from './server.js';

export interface GraphqlError {
  message: string;
  path?: (string | number)[];
  extensions: { code: string; traceId: string; errors?: { field: string; message: string }[] };
}

export interface GraphqlResponse<T = Record<string, unknown>> {
  data?: T | null;
  errors?: GraphqlError[];
}

/** A Relay connection with its total count, as the users and resources lists answer. */
export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  totalCount: number;
}

/** POST /graphql, as the caller of `token` (anonymous without one). */
export async function gql<T = Record<string, unknown>>(
  t: TestServer,
  query: string,
  variables?: Record<string, unknown>,
  token?: string,
): Promise<{ status: number; body: GraphqlResponse<T> }> {
  const response = await t.app.inject({
    method: 'POST',
    url: '/graphql',
    payload: { query, ...(variables ? { variables } : {}) },
    headers: token === undefined ? {} : bearer(token),
  });
  return { status: response.statusCode, body: response.json() as GraphqlResponse<T> };
}

/** A request that executed without errors: its data. */
export async function data<T = Record<string, unknown>>(t: TestServer, query: string, variables?: Record<string, unknown>, token?: string): Promise<T> {
  const { status, body } = await gql<T>(t, query, variables, token);
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  assert.ok(body.data, 'data is present');
  return body.data;
}

/** One error carrying the contract `code` and a trace id, and nothing internal; returns it. */
export function assertGraphqlError(body: GraphqlResponse<unknown>, code: string): GraphqlError {
  assert.ok(body.errors && body.errors.length > 0, `an error is reported: ${JSON.stringify(body)}`);
  assert.equal(body.errors.length, 1, JSON.stringify(body.errors));
  const error = body.errors[0]!;
  assert.equal(error.extensions.code, code, JSON.stringify(error));
  assert.match(error.extensions.traceId, /^[0-9a-f]{32}$/);
  assert.doesNotMatch(JSON.stringify(body), /\bat \S+:\d+:\d+|node_modules|stack|select |insert |update "|jsonb/i, 'no stack trace or SQL');
  return error;
}
