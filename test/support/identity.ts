import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { PasswordHasher } from '../../src/services/auth/password.js';
import { ADMIN_ROLE_ID, MEMBER_ROLE_ID } from '../../src/services/roles/builtin.js';
import { createAccount } from '../../src/services/auth/accounts.js';
import type { TestServer } from './server.js';

/**
 * Helpers for tests of the identity API (DESIGN §5 "Identity", "Permissions"): accounts,
 * tokens and problem bodies. Additive only: other test files import these too.
 */

export { ADMIN_ROLE_ID, MEMBER_ROLE_ID };

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';
/** What every issued bearer token looks like. */
export const TOKEN_SHAPE = /^pcf_[A-Za-z0-9_-]{43}$/;
/** The keys of a user object, and nothing else (no password or token hash ever). */
export const USER_KEYS = ['createdAt', 'email', 'id', 'name', 'updatedAt'];

export interface InjectedResponse {
  statusCode: number;
  headers: Record<string, unknown>;
  body: string;
  json(): unknown;
}

import type { Problem } from '../../src/api/problem.js';
export type { Problem };

export interface User {
  id: string;
  email: string;
  name: string;
  createdAt: string;
  updatedAt: string;
}

export interface Session {
  token: string;
  expiresAt: string;
  user: User;
}

/** Asserts an RFC 9457 problem+json answer with this status and code, and returns its body. */
export function assertProblem(response: InjectedResponse, status: number, code: string): Problem {
  assert.equal(response.statusCode, status, `expected ${status} ${code}, got ${response.statusCode}: ${response.body.slice(0, 500)}`);
  assert.equal(response.headers['content-type'], PROBLEM_CONTENT_TYPE);
  const body = response.json() as Problem;
  assert.equal(body.status, status);
  assert.equal(body.code, code);
  for (const field of ['type', 'title', 'detail', 'instance', 'traceId'] as const) assert.equal(typeof body[field], 'string', `problem.${field}`);
  assert.match(body.traceId, /^[0-9a-f]{32}$/);
  assert.doesNotMatch(JSON.stringify(body), /\bat \S+:\d+:\d+|node_modules|stack/i, 'no stack trace');
  return body;
}

/** Asserts a 400 INVALID_INPUT whose `errors` name a field matching `field`. */
export function assertInvalidField(response: InjectedResponse, field: RegExp): Problem {
  const body = assertProblem(response, 400, 'INVALID_INPUT');
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, 'errors are listed');
  assert.ok(
    body.errors.some((e) => field.test(e.field) && typeof e.message === 'string'),
    `an error on a field matching ${field}: ${JSON.stringify(body.errors)}`,
  );
  return body;
}

/** The parts of a problem that must not tell two failures apart (everything but the trace id and path). */
export function problemIdentity(body: Problem): Pick<Problem, 'status' | 'code' | 'detail' | 'title' | 'type'> {
  return { status: body.status, code: body.code, detail: body.detail, title: body.title, type: body.type };
}

/** Asserts a user object holds exactly the public user fields. */
export function assertUserShape(user: unknown): asserts user is User {
  assert.ok(user && typeof user === 'object', 'a user object');
  assert.deepEqual(Object.keys(user).sort(), USER_KEYS);
}

/** Every key anywhere in a JSON value, so a test can say no `password*` or `*hash*` key appears. */
export function keysDeep(value: unknown, into: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) keysDeep(item, into);
  else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      into.push(key);
      keysDeep(item, into);
    }
  }
  return into;
}

export const bearer = (token: string): { authorization: string } => ({ authorization: `Bearer ${token}` });

/** POST /api/v1/auth/register, returning the raw response. */
export function registerRaw(t: TestServer, body: Record<string, unknown>): Promise<InjectedResponse> {
  return t.app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: body });
}

/** POST /api/v1/auth/login, returning the raw response. */
export function loginRaw(t: TestServer, email: string, password: string): Promise<InjectedResponse> {
  return t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });
}

/** A successful login; fails the test otherwise. */
export async function login(t: TestServer, email: string, password: string): Promise<Session> {
  const response = await loginRaw(t, email, password);
  assert.equal(response.statusCode, 200, `login ${email}: ${response.body}`);
  return response.json() as Session;
}

/** A request made with a bearer token; `payload` is sent as JSON. */
export function as(
  t: TestServer,
  token: string,
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  url: string,
  payload?: unknown,
): Promise<InjectedResponse> {
  return t.app.inject({ method, url, headers: bearer(token), ...(payload === undefined ? {} : { payload: payload as object }) });
}

/** The OWASP-minimum argon2id policy the server uses by default. */
export const TEST_PASSWORD_POLICY = { memoryKib: 19_456, iterations: 2, parallelism: 1 } as const;

/**
 * An admin created through the services, as `pcf users create --admin` does: for servers
 * whose registration is closed or invite-only.
 */
export function createAdminAccount(t: TestServer, account: { email: string; name: string; password: string }): Promise<User> {
  return createAccount(t.server.database, new PasswordHasher(TEST_PASSWORD_POLICY), account, { admin: true });
}

/** The stored form of a session or invitation token (SHA-256), to find its row. */
export function tokenHash(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** Compares strings by Unicode code point, as PostgreSQL's `COLLATE "C"` and the access rules do. */
export function compareCodePoints(a: string, b: string): number {
  const left = [...a].map((c) => c.codePointAt(0)!);
  const right = [...b].map((c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(left.length, right.length); i++) if (left[i] !== right[i]) return left[i]! - right[i]!;
  return left.length - right.length;
}
