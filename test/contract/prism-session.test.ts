import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../support/server.js';
import { startPrismProxy, violationsOf, type PrismProxy, type Violation } from './prism.js';

/**
 * A whole client session through Prism in proxy mode (docs/contract.md): every operation of
 * the served document, its successes and its refusals, each answer checked by Prism against
 * the document. No answer may violate it. A request sent invalid on purpose must be one
 * Prism finds invalid too: the document states the rule the server enforces.
 */

interface Call {
  token?: string;
  json?: unknown;
  body?: string;
  contentType?: string;
  headers?: Record<string, string>;
  /** The status the server must answer. */
  status: number;
  /** Sent invalid on purpose: Prism must find the request invalid (and nothing wrong with the answer). */
  invalidRequest?: boolean;
}

interface Exchange {
  status: number;
  headers: Headers;
  body: unknown;
}

interface ResponseObject {
  $ref?: string;
  headers?: Record<string, unknown>;
  content?: Record<string, unknown>;
}

interface OperationObject {
  operationId: string;
  responses: Record<string, ResponseObject>;
}

interface Document {
  paths: Record<string, Record<string, OperationObject>>;
  components: { headers: Record<string, unknown>; responses: Record<string, ResponseObject> };
}

interface Operation {
  method: string;
  pattern: RegExp;
  operation: OperationObject;
}

// The auth budget (login, register) is small, so the session can spend it and see a 429.
const AUTH_BUDGET = 40;

describe('the contract, checked by Prism in front of the server', () => {
  let t: TestServer;
  let prism: PrismProxy;
  let document: Document;
  let operations: Operation[];
  const exercised = new Set<string>();

  before(async () => {
    t = await startTestServer('pglite', { config: { 'rateLimit.authPerWindow': AUTH_BUDGET } });
    document = (await (await fetch(`${t.url}/openapi.json`)).json()) as Document;
    operations = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.entries(item).map(([method, operation]) => ({
        method: method.toUpperCase(),
        pattern: new RegExp(`^${path.replace(/\./g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`),
        operation,
      })),
    );
    prism = await startPrismProxy(document, t.url);
  });
  after(async () => {
    await prism?.close();
    await t?.close();
  });

  /** One request through Prism; fails on a violation in the answer, or an unexpected one in the request. */
  async function call(method: string, path: string, options: Call): Promise<Exchange> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body = options.body;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
    }
    if (options.contentType) headers['content-type'] = options.contentType;
    const response = await fetch(`${prism.url}${path}`, { method, headers, body });
    const text = await response.text();
    const label = `${method} ${path}`;
    const violations = violationsOf(response);
    const inResponse = violations.filter((v) => v.location[0] === 'response');
    const inRequest = violations.filter((v) => v.location[0] === 'request');
    assert.deepEqual(inResponse, [], `${label} answered ${response.status} against the document:\n${listViolations(inResponse)}\n${text.slice(0, 500)}`);
    if (options.invalidRequest) assert.ok(inRequest.length > 0, `${label} was sent invalid, but the document does not say so`);
    else assert.deepEqual(inRequest, [], `${label} is valid, but the document refuses it:\n${listViolations(inRequest)}`);
    assert.equal(response.status, options.status, `${label}: ${text.slice(0, 500)}`);
    const operation = operations.find((o) => o.method === method && o.pattern.test(path.split('?', 1)[0]!))?.operation;
    assert.ok(operation, `${label} is no operation of the document`);
    exercised.add(operation.operationId);
    const type = response.headers.get('content-type') ?? '';
    assertDeclared(label, operation, response, type, text);
    return { status: response.status, headers: response.headers, body: /json/.test(type) && text ? JSON.parse(text) : text };
  }

  /**
   * What Prism lets pass: an answer whose media type the document does not list for its
   * status is not checked at all (an error sent as problem+json where the document says
   * application/json passes), and undeclared headers are ignored. So: the media type must be
   * the status's, and every header the document knows of that the answer carries must be
   * declared on it.
   */
  function assertDeclared(label: string, operation: OperationObject, response: Response, type: string, text: string): void {
    let declared = operation.responses[String(response.status)];
    assert.ok(declared, `${label}: ${response.status} is not declared`);
    if (declared.$ref) declared = document.components.responses[declared.$ref.split('/').pop()!]!;
    const mediaType = type.split(';', 1)[0]!.trim();
    if (text !== '') assert.ok(mediaType in (declared.content ?? {}), `${label}: ${response.status} ${mediaType} is not declared`);
    const names = Object.keys(declared.headers ?? {}).map((name) => name.toLowerCase());
    for (const name of Object.keys(document.components.headers)) {
      if (response.headers.has(name)) assert.ok(names.includes(name.toLowerCase()), `${label}: ${response.status} carries ${name}, undeclared`);
    }
  }

  const listViolations = (violations: Violation[]) => violations.map((v) => `  ${v.location.join('.')}: ${v.message}`).join('\n');

  let admin: string;
  let member: string;
  let memberId: string;
  let adminId: string;

  it('probes, the index and the SDL', async () => {
    await call('GET', '/health', { status: 200 });
    await call('GET', '/health/ready', { status: 200 });
    await call('GET', '/metrics', { status: 200 });
    await call('GET', '/api/v1', { status: 200 });
    await call('GET', '/graphql/schema.graphql', { status: 200 });
  });

  it('registers, signs in and reads the caller', async () => {
    const a = { email: 'admin@contract.example', name: 'Admin', password: 'admin passphrase' };
    const m = { email: 'member@contract.example', name: 'Member', password: 'member passphrase' };
    adminId = ((await call('POST', '/api/v1/auth/register', { json: a, status: 201 })).body as { user: { id: string } }).user.id;
    memberId = ((await call('POST', '/api/v1/auth/register', { json: m, status: 201 })).body as { user: { id: string } }).user.id;
    await call('POST', '/api/v1/auth/register', { json: m, status: 409 });
    await call('POST', '/api/v1/auth/register', { json: { email: 'x@contract.example', name: 'X' }, status: 400, invalidRequest: true });
    await call('POST', '/api/v1/auth/register', { json: { ...m, email: 'y@contract.example', name: 'Bad\u202Ename' }, status: 400, invalidRequest: true });
    const signIn = ({ email, password }: typeof a) => ({ email, password });
    admin = ((await call('POST', '/api/v1/auth/login', { json: signIn(a), status: 200 })).body as { token: string }).token;
    member = ((await call('POST', '/api/v1/auth/login', { json: signIn(m), status: 200 })).body as { token: string }).token;
    await call('POST', '/api/v1/auth/login', { json: { email: a.email, password: 'wrong passphrase' }, status: 401 });

    await call('GET', '/api/v1/auth/me', { token: admin, status: 200 });
    await call('GET', '/api/v1/auth/me', { status: 401, invalidRequest: true });
    await call('GET', '/api/v1/auth/me', { token: 'not-a-token', status: 401 });
  });

  it('lists and revokes sessions, changes a password, invites', async () => {
    const second = ((await call('POST', '/api/v1/auth/login', { json: { email: 'member@contract.example', password: 'member passphrase' }, status: 200 })).body as {
      token: string;
    }).token;
    const sessions = (await call('GET', '/api/v1/auth/sessions', { token: member, status: 200 })).body as { items: { id: string; current: boolean }[] };
    const other = sessions.items.find((s) => !s.current)!;
    await call('DELETE', `/api/v1/auth/sessions/${other.id}`, { token: member, status: 204 });
    await call('DELETE', `/api/v1/auth/sessions/${randomUUID()}`, { token: member, status: 404 });
    await call('GET', '/api/v1/auth/me', { token: second, status: 401 });
    await call('POST', '/api/v1/auth/password', {
      token: member,
      json: { currentPassword: 'member passphrase', newPassword: 'member passphrase 2' },
      status: 204,
    });
    await call('POST', '/api/v1/auth/password', { token: member, json: { currentPassword: 'x', newPassword: 'short' }, status: 400, invalidRequest: true });
    await call('POST', '/api/v1/auth/invitations', { token: admin, json: { email: 'invited@contract.example' }, status: 201 });
  });

  it('manages users, roles and permissions as an admin, and refuses a member', async () => {
    await call('GET', '/api/v1/users?limit=5', { token: admin, status: 200 });
    await call('GET', '/api/v1/users?limit=500', { token: admin, status: 400, invalidRequest: true });
    const created = (await call('POST', '/api/v1/users', { token: admin, json: { email: 'made@contract.example', name: 'Made', password: 'made passphrase' }, status: 201 }))
      .body as { id: string };
    await call('POST', '/api/v1/users', { token: member, json: { email: 'no@contract.example', name: 'No', password: 'no passphrase' }, status: 403 });
    await call('GET', `/api/v1/users/${created.id}`, { token: admin, status: 200 });
    await call('GET', `/api/v1/users/${randomUUID()}`, { token: admin, status: 404 });
    await call('PATCH', `/api/v1/users/${created.id}`, { token: admin, json: { name: 'Made Again' }, status: 200 });

    const roles = (await call('GET', '/api/v1/roles', { token: admin, status: 200 })).body as { items: { id: string; name: string }[] };
    const role = (await call('POST', '/api/v1/roles', { token: admin, json: { name: 'editors', description: 'Edit docs' }, status: 201 })).body as { id: string };
    await call('POST', '/api/v1/roles', { token: admin, json: { name: 'editors' }, status: 409 });
    await call('GET', `/api/v1/roles/${role.id}`, { token: admin, status: 200 });
    await call('PATCH', `/api/v1/roles/${role.id}`, { token: admin, json: { description: 'Edit all docs' }, status: 200 });
    const rolePermission = (await call('POST', `/api/v1/roles/${role.id}/permissions`, {
      token: admin,
      json: { resourceType: 'doc', action: 'update' },
      status: 201,
    })).body as { id: string };
    await call('DELETE', `/api/v1/roles/${role.id}/permissions/${rolePermission.id}`, { token: admin, status: 204 });
    const preview = { resourceType: '*', action: 'read', conditions: { ownerId: '${user.id}' }, userId: created.id, limit: 5 };
    await call('POST', '/api/v1/permissions/preview', { token: admin, json: preview, status: 200 });
    await call('POST', '/api/v1/permissions/preview', { token: admin, json: { ...preview, conditions: { $where: 'x' } }, status: 400 });
    await call('POST', '/api/v1/permissions/preview', { token: admin, json: { ...preview, limit: 500 }, status: 400, invalidRequest: true });
    await call('POST', '/api/v1/permissions/preview', { token: member, json: preview, status: 403 });
    await call('PUT', `/api/v1/users/${created.id}/roles/${role.id}`, { token: admin, status: 204 });
    await call('DELETE', `/api/v1/users/${created.id}/roles/${role.id}`, { token: admin, status: 204 });
    await call('PUT', `/api/v1/users/${created.id}/roles/${roles.items[0]!.id}`, { token: member, status: 403 });
    const permission = (await call('POST', `/api/v1/users/${created.id}/permissions`, {
      token: admin,
      json: { resourceType: 'doc', action: 'read', conditions: null },
      status: 201,
    })).body as { id: string };
    await call('GET', `/api/v1/users/${created.id}/grants`, { token: admin, status: 200 });
    await call('GET', `/api/v1/users/${created.id}/grants`, { token: member, status: 403 });
    await call('DELETE', `/api/v1/users/${created.id}/permissions/${permission.id}`, { token: admin, status: 204 });
    await call('DELETE', `/api/v1/roles/${role.id}`, { token: admin, status: 204 });
    await call('DELETE', `/api/v1/users/${created.id}`, { token: admin, status: 204 });
  });

  it('creates, reads, changes, diffs, restores, shares and deletes a resource', async () => {
    const key = { 'idempotency-key': randomUUID() };
    const doc = { name: 'Plan', type: 'doc', metadata: { tag: 'q3' }, data: { steps: [1] } };
    const created = await call('POST', '/api/v1/resources', { token: member, json: doc, headers: key, status: 201 });
    const id = (created.body as { id: string }).id;
    assert.equal(created.headers.get('location'), `/api/v1/resources/${id}`);
    const replayed = await call('POST', '/api/v1/resources', { token: member, json: doc, headers: key, status: 201 });
    assert.equal(replayed.headers.get('idempotent-replayed'), 'true');
    await call('POST', '/api/v1/resources', { token: member, json: { ...doc, name: 'Other' }, headers: key, status: 422 });

    await call('POST', '/api/v1/resources', { token: member, json: { ...doc, type: 'Not A Type' }, status: 400, invalidRequest: true });
    await call('POST', '/api/v1/resources', { token: member, json: { ...doc, type: 'user' }, status: 400, invalidRequest: true });
    await call('POST', '/api/v1/resources', { token: member, json: { ...doc, metadata: [1] }, status: 400, invalidRequest: true });
    await call('POST', '/api/v1/resources', { token: member, json: { ...doc, name: '   ' }, status: 400, invalidRequest: true });
    await call('POST', '/api/v1/resources', { token: member, body: 'name=Plan', contentType: 'text/plain', status: 415, invalidRequest: true });
    await call('POST', '/api/v1/resources', { token: member, json: { ...doc, data: 'x'.repeat(2_200_000) }, status: 413 });

    await call('GET', '/api/v1/resources?type=doc&limit=10', { token: member, status: 200 });
    const read = await call('GET', `/api/v1/resources/${id}`, { token: member, status: 200 });
    const etag = read.headers.get('etag')!;
    await call('GET', `/api/v1/resources/${randomUUID()}`, { token: member, status: 404 });
    const changed = await call('PATCH', `/api/v1/resources/${id}`, { token: member, json: { data: { steps: [1, 2] } }, headers: { 'if-match': etag }, status: 200 });
    assert.notEqual(changed.headers.get('etag'), etag);
    const stale = await call('PATCH', `/api/v1/resources/${id}`, { token: member, json: { name: 'Late' }, headers: { 'if-match': etag }, status: 412 });
    assert.equal(stale.headers.get('etag'), changed.headers.get('etag'));
    await call('PATCH', `/api/v1/resources/${id}`, { token: admin, json: { metadata: { tag: 'q4' } }, status: 200 });
    await call('PATCH', `/api/v1/resources/${id}`, { token: admin, json: { name: 'Plan', unknown: 1 }, status: 400, invalidRequest: true });

    await call('GET', `/api/v1/resources/${id}/versions`, { token: member, status: 200 });
    await call('GET', `/api/v1/resources/${id}/versions/1`, { token: member, status: 200 });
    await call('GET', `/api/v1/resources/${id}/versions/9`, { token: member, status: 404 });
    await call('GET', `/api/v1/resources/${id}/diff?from=1&to=2`, { token: member, status: 200 });
    await call('GET', `/api/v1/resources/${id}/diff?from=1`, { token: member, status: 400, invalidRequest: true });
    await call('POST', `/api/v1/resources/${id}/versions/1/restore`, { token: member, headers: { 'idempotency-key': randomUUID() }, status: 200 });

    await call('POST', `/api/v1/resources/${id}/shares`, { token: member, json: { userId: adminId, actions: ['read'] }, status: 201 });
    await call('POST', `/api/v1/resources/${id}/shares`, { token: member, json: { userId: memberId, actions: ['read'] }, status: 400 });
    await call('POST', `/api/v1/resources/${id}/shares`, { token: member, json: { email: 'ADMIN@contract.example', actions: ['update'] }, status: 201 });
    await call('POST', `/api/v1/resources/${id}/shares`, { token: member, json: { email: 'nobody@contract.example', actions: ['read'] }, status: 404 });
    const both = { userId: adminId, email: 'admin@contract.example', actions: ['read'] };
    await call('POST', `/api/v1/resources/${id}/shares`, { token: member, json: both, status: 400, invalidRequest: true });
    await call('POST', `/api/v1/resources/${id}/shares`, { token: member, json: { actions: ['read'] }, status: 400, invalidRequest: true });
    await call('GET', `/api/v1/resources/${id}/shares`, { token: member, status: 200 });
    await call('DELETE', `/api/v1/resources/${id}/shares/${adminId}`, { token: member, status: 204 });
    const others = (await call('POST', '/api/v1/resources', { token: admin, json: { name: 'Admin doc', type: 'doc', data: 1 }, status: 201 })).body as { id: string };
    await call('DELETE', `/api/v1/resources/${others.id}`, { token: member, status: 404 });

    await call('DELETE', `/api/v1/resources/${id}`, { token: member, status: 204 });
    await call('GET', `/api/v1/resources/${id}`, { token: member, status: 404 });
  });

  it('reads and marks notifications, and sets preferences', async () => {
    await call('GET', '/api/v1/notifications?limit=10', { token: admin, status: 200 });
    await call('GET', '/api/v1/notifications?unread=true', { token: admin, status: 200 });
    await call('GET', '/api/v1/notifications/unread-count', { token: admin, status: 200 });
    await call('POST', `/api/v1/notifications/${randomUUID()}/read`, { token: admin, status: 404 });
    await call('POST', '/api/v1/notifications/read-all', { token: admin, status: 200 });
    const preferences = (await call('GET', '/api/v1/notifications/preferences', { token: admin, status: 200 })).body as { email: string[] };
    await call('PUT', '/api/v1/notifications/preferences', { token: admin, json: { email: preferences.email.slice(0, 1) }, status: 200 });
    await call('PUT', '/api/v1/notifications/preferences', { token: admin, json: { email: ['no.such.kind'] }, status: 400, invalidRequest: true });
  });

  it('answers GraphQL over GET and POST, and refuses what it must', async () => {
    const query = encodeURIComponent('{ server { name version } }');
    await call('GET', `/graphql?query=${query}`, { status: 200 });
    await call('GET', `/graphql?query=${encodeURIComponent('mutation { logout }')}`, { token: member, status: 405 });
    await call('POST', '/graphql', { token: member, json: { query: '{ me { user { id } } }' }, status: 200 });
    await call('POST', '/graphql', { json: [{ query: '{ server { name } }' }, { query: '{ server { version } }' }], status: 200 });
    await call('POST', '/graphql', { body: '{ server { name } }', contentType: 'application/graphql', status: 200 });
    await call('POST', '/graphql', { json: { query: '{ nope }' }, status: 400 });
    await call('POST', '/graphql', { json: { query: 1 }, status: 400, invalidRequest: true });
    await call('POST', '/graphql', { body: '{ server { name } }', contentType: 'text/plain', status: 415, invalidRequest: true });
    await call('POST', '/graphql', { token: 'not-a-token', json: { query: '{ server { name } }' }, status: 401 });
  });

  it('signs out, then answers 429 once the sign-in budget is spent', async () => {
    await call('POST', '/api/v1/auth/logout', { token: admin, status: 204 });
    await call('GET', '/api/v1/auth/me', { token: admin, status: 401 });
    let status = 0;
    for (let i = 0; i <= AUTH_BUDGET && status !== 429; i++) {
      const response = await fetch(`${prism.url}/api/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'nobody@contract.example', password: 'wrong passphrase' }),
      });
      status = response.status;
      if (status === 429) {
        assert.deepEqual(violationsOf(response), [], await response.text());
        assert.ok(response.headers.get('retry-after'));
      } else await response.arrayBuffer();
    }
    assert.equal(status, 429);
  });

  it('exercised every operation of the document', () => {
    const missed = operations.map((o) => o.operation.operationId).filter((id) => !exercised.has(id));
    assert.deepEqual(missed, []);
  });
});
