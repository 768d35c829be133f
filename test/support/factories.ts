import assert from 'node:assert/strict';
import { bearer, login, registerRaw, type InjectedResponse, type Session, type User } from './identity.js';
import type { TestServer } from './server.js';

/**
 * Factories for the records most API tests start from: users (registered, or signed in) and
 * resources, made through the public API as a client would make them, each failing the test
 * at once if the server refuses. Defaults make every call a new record; a test passes only
 * what its assertions depend on.
 */

export type { Session, User };

/** A resource as REST and GraphQL answer it (docs/design.md "Resources"). */
export interface Resource {
  id: string;
  ownerId: string;
  name: string;
  type: string;
  metadata: Record<string, unknown>;
  version: number;
  revision: number;
  data: unknown;
  createdAt: string;
  updatedAt: string;
}

/** A resource in a list: everything but its data. */
export type Summary = Omit<Resource, 'data'>;

/** A REST list page (keyset pagination). */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** What registering takes. */
export interface Registration {
  email: string;
  name: string;
  password: string;
}

/** A registered user and the credentials it was registered with. */
export interface BuiltUser extends Registration {
  user: User;
}

let serial = 0;

/**
 * Registers a user through `POST /api/v1/auth/register` (201, or the test fails). Without
 * overrides the name, email and password are new on every call; the email is derived from the
 * name unless given. The first user of a server in the development profile is its admin.
 */
export async function buildUser(t: TestServer, overrides: Partial<Registration> = {}): Promise<BuiltUser> {
  serial += 1;
  const name = overrides.name ?? `User ${serial}`;
  const email = overrides.email ?? `${name.toLowerCase().replace(/[^a-z0-9]+/g, '.')}.${serial}@factory.example`;
  const password = overrides.password ?? `${name} passphrase`;
  const response = await registerRaw(t, { email, name, password });
  assert.equal(response.statusCode, 201, `register ${email}: ${response.body}`);
  return { email, name, password, user: response.json() as User };
}

/** A user registered by {@link buildUser} and signed in: its session. */
export async function signedInUser(t: TestServer, overrides: Partial<Registration> = {}): Promise<Session> {
  const { email, password } = await buildUser(t, overrides);
  return login(t, email, password);
}

/** `POST /api/v1/resources` as this session, a `doc` named `Doc` unless overridden; the raw answer. */
export function createResourceRaw(
  t: TestServer,
  session: Session,
  overrides: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<InjectedResponse> {
  return t.app.inject({
    method: 'POST',
    url: '/api/v1/resources',
    headers: { ...bearer(session.token), ...headers },
    payload: { name: 'Doc', type: 'doc', data: {}, ...overrides },
  });
}

/** A resource created by {@link createResourceRaw} (201, or the test fails). */
export async function createResource(
  t: TestServer,
  session: Session,
  overrides: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): Promise<Resource> {
  const response = await createResourceRaw(t, session, overrides, headers);
  assert.equal(response.statusCode, 201, response.body);
  return response.json() as Resource;
}
