import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { newId } from '../../src/core/ids.js';
import { DATABASE_KINDS } from '../support/databases.js';
import { ADMIN_ROLE_ID, MEMBER_ROLE_ID, TOKEN_SHAPE, USER_KEYS, as, keysDeep } from '../support/identity.js';
import { assertGraphqlError, data, gql, type Connection, type GraphqlError, type GraphqlResponse } from '../support/graphql.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { statementCounter } from '../support/statements.js';

/**
 * Identity and access over GraphQL (DESIGN §5 "Errors", "Identity", "Permissions", "GraphQL"):
 * the same service calls as REST, as mutations, queries and Relay connections, over HTTP
 * and over WebSocket (graphql-transport-ws), with the contract codes in `extensions`.
 */

interface User {
  id: string;
  email: string;
  name: string;
  createdAt: string;
  updatedAt: string;
}

interface Auth {
  token: string;
  expiresAt: string;
  user: User;
}

const USER_FIELDS = 'id email name createdAt updatedAt';

/** An error raised while executing (HTTP 200, GraphQL over HTTP); data is null for a non-null root field. */
async function executionError(
  t: TestServer,
  query: string,
  variables: Record<string, unknown> | undefined,
  token: string | undefined,
  code: string,
): Promise<GraphqlError> {
  const { status, body } = await gql(t, query, variables, token);
  assert.equal(status, 200, JSON.stringify(body));
  assert.equal(body.data, null, JSON.stringify(body));
  return assertGraphqlError(body, code);
}

const REGISTER = `mutation Register($input: RegisterInput!) { register(input: $input) { ${USER_FIELDS} roles { id name } } }`;
const LOGIN = `mutation Login($email: String!, $password: String!) { login(email: $email, password: $password) { token expiresAt user { ${USER_FIELDS} } } }`;
const ME = '{ me { user { id email name } roles { id name } permissions { id resourceType action conditions } } }';

async function register(t: TestServer, email: string, name: string, password: string): Promise<User & { roles: { id: string; name: string }[] }> {
  const result = await data<{ register: User & { roles: { id: string; name: string }[] } }>(t, REGISTER, { input: { email, name, password } });
  return result.register;
}

async function login(t: TestServer, email: string, password: string): Promise<Auth> {
  return (await data<{ login: Auth }>(t, LOGIN, { email, password })).login;
}

/** Runs one operation to completion over a graphql-ws client. */
function wsRun(client: Client, query: string): Promise<GraphqlResponse> {
  return new Promise((resolve, reject) => {
    let result: GraphqlResponse | undefined;
    client.subscribe(
      { query },
      {
        next: (value) => (result = value as GraphqlResponse),
        error: reject,
        complete: () => (result ? resolve(result) : reject(new Error('completed without a result'))),
      },
    );
  });
}

for (const kind of DATABASE_KINDS) {
  describe(`identity over GraphQL (${kind})`, () => {
    let t: TestServer;
    const passwords = { admin: 'admin passphrase gql', member: 'member passphrase gql', other: 'other passphrase gql' };
    let adminUser: User & { roles: { id: string; name: string }[] };
    let memberUser: User & { roles: { id: string; name: string }[] };
    let otherUser: User;
    let admin: Auth;
    let member: Auth;

    before(async () => {
      t = await startTestServer(kind);
      adminUser = await register(t, '  Admin@GraphQL.example ', 'Admin', passwords.admin);
      memberUser = await register(t, 'member@graphql.example', 'Member', passwords.member);
      otherUser = await register(t, 'other@graphql.example', 'Other', passwords.other);
      [admin, member] = await Promise.all([login(t, 'admin@graphql.example', passwords.admin), login(t, 'member@graphql.example', passwords.member)]);
    });
    after(() => t.close());

    describe('accounts and sessions', () => {
      it('registers through a mutation: normalised email, no secret fields, the first account an admin', async () => {
        assert.equal(adminUser.email, 'admin@graphql.example');
        assert.deepEqual(adminUser.roles, [{ id: ADMIN_ROLE_ID, name: 'admin' }]);
        assert.deepEqual(memberUser.roles, [{ id: MEMBER_ROLE_ID, name: 'member' }]);
        assert.ok(!Number.isNaN(Date.parse(adminUser.createdAt)));
        // The schema has no field that could leak a secret.
        const leak = await gql(
          t,
          'mutation { register(input: { email: "x@graphql.example", name: "X", password: "long enough passphrase" }) { id passwordHash } }',
        );
        assert.equal(leak.status, 400);
        assert.match(assertGraphqlError(leak.body, 'INVALID_INPUT').message, /Cannot query field "passwordHash"/);
      });

      it('refuses a taken email with CONFLICT and invalid fields with INVALID_INPUT listing each field', async () => {
        const taken = await gql(t, REGISTER, { input: { email: 'MEMBER@graphql.example', name: 'Again', password: 'another long passphrase' } });
        assert.equal(taken.status, 200);
        assert.equal(taken.body.data, null);
        assertGraphqlError(taken.body, 'CONFLICT');

        const invalid = await gql(t, REGISTER, { input: { email: 'not an email', name: 'Bad', password: 'short' } });
        assert.equal(invalid.body.data, null);
        const error = assertGraphqlError(invalid.body, 'INVALID_INPUT');
        const fields = (error.extensions.errors ?? []).map((e) => e.field).sort();
        assert.deepEqual(fields, ['email', 'password'], JSON.stringify(error.extensions.errors));
      });

      it('logs in with a token of the documented shape; a wrong password is UNAUTHORIZED', async () => {
        assert.match(admin.token, TOKEN_SHAPE);
        assert.ok(Date.parse(admin.expiresAt) > Date.now());
        assert.deepEqual(Object.keys(admin.user).sort(), USER_KEYS);
        assert.equal(admin.user.id, adminUser.id);
        const wrong = await executionError(t, LOGIN, { email: 'member@graphql.example', password: 'not the passphrase' }, undefined, 'UNAUTHORIZED');
        const unknown = await executionError(t, LOGIN, { email: 'nobody@graphql.example', password: 'not the passphrase' }, undefined, 'UNAUTHORIZED');
        assert.equal(wrong.message, unknown.message, 'an unknown account reads exactly like a wrong password');
      });

      it('answers me with the caller’s user, roles and permissions; anonymous me is UNAUTHORIZED', async () => {
        const { me } = await data<{
          me: { user: User; roles: { id: string; name: string }[]; permissions: { action: string; resourceType: string; conditions: unknown }[] };
        }>(t, ME, undefined, member.token);
        assert.equal(me.user.id, memberUser.id);
        assert.deepEqual(me.roles, [{ id: MEMBER_ROLE_ID, name: 'member' }]);
        assert.ok(me.permissions.some((p) => p.resourceType === 'user' && p.action === 'read' && JSON.stringify(p.conditions) === '{"id":"${user.id}"}'));
        assert.ok(!keysDeep(me).some((key) => /password|hash|token/i.test(key)), 'no secret fields');

        const adminMe = await data<{ me: { roles: { name: string }[] } }>(t, ME, undefined, admin.token);
        assert.deepEqual(
          adminMe.me.roles.map((r) => r.name),
          ['admin'],
        );

        await executionError(t, ME, undefined, undefined, 'UNAUTHORIZED');
        // Anonymous callers still reach what needs no account.
        assert.deepEqual((await data(t, '{ server { name } }')).server, { name: 'PCF API' });
      });

      it('lists the caller’s sessions, revokes another, and logs out the calling one', async () => {
        const email = `sessions-${randomBytes(4).toString('hex')}@graphql.example`;
        await register(t, email, 'Sessions', 'sessions passphrase');
        const first = await login(t, email, 'sessions passphrase');
        const second = await login(t, email, 'sessions passphrase');
        const third = await login(t, email, 'sessions passphrase');
        const SESSIONS = '{ sessions { id createdAt lastSeenAt expiresAt userAgent ip current } }';
        const { sessions } = await data<{ sessions: { id: string; current: boolean }[] }>(t, SESSIONS, undefined, second.token);
        assert.equal(sessions.length, 3);
        assert.equal(sessions.filter((s) => s.current).length, 1, 'exactly one is the current session');
        assert.ok(!keysDeep(sessions).some((key) => /token|hash/i.test(key)));

        // Revoke the newest session (the third login) from the second.
        const newest = sessions.find((s) => !s.current && s.id === sessions[0]!.id)!;
        assert.ok(newest, 'sessions are newest first');
        assert.deepEqual(await data(t, 'mutation($id: ID!) { revokeSession(id: $id) }', { id: newest.id }, second.token), { revokeSession: true });
        const refused = await gql(t, '{ me { user { id } } }', undefined, third.token);
        assert.equal(refused.status, 401);

        // Another user's session reads like a missing one.
        const foreign = await gql(t, 'mutation($id: ID!) { revokeSession(id: $id) }', { id: sessions.find((s) => s.current)!.id }, member.token);
        assertGraphqlError(foreign.body, 'NOT_FOUND');

        assert.deepEqual(await data(t, 'mutation { logout }', undefined, second.token), { logout: true });
        const afterLogout = await gql(t, ME, undefined, second.token);
        assert.equal(afterLogout.status, 401, 'the token is refused at once');
        assertGraphqlError(afterLogout.body, 'UNAUTHORIZED');
        assert.equal((await as(t, second.token, 'GET', '/api/v1/auth/me')).statusCode, 401, 'on REST too');
        // The first session is untouched.
        const left = await data<{ sessions: { id: string }[] }>(t, SESSIONS, undefined, first.token);
        assert.equal(left.sessions.length, 1);
      });

      it('changes the password: the current one is checked, other sessions end, the calling one stays', async () => {
        const email = `password-${randomBytes(4).toString('hex')}@graphql.example`;
        await register(t, email, 'Password', 'old passphrase one');
        const calling = await login(t, email, 'old passphrase one');
        const other = await login(t, email, 'old passphrase one');
        const CHANGE = 'mutation($current: String!, $next: String!) { changePassword(currentPassword: $current, newPassword: $next) }';

        const wrong = await executionError(t, CHANGE, { current: 'not it at all', next: 'new passphrase two' }, calling.token, 'INVALID_INPUT');
        assert.deepEqual(
          wrong.extensions.errors?.map((e) => e.field),
          ['currentPassword'],
        );
        const weak = await executionError(t, CHANGE, { current: 'old passphrase one', next: 'short' }, calling.token, 'INVALID_INPUT');
        assert.deepEqual(
          weak.extensions.errors?.map((e) => e.field),
          ['newPassword'],
        );
        await executionError(t, CHANGE, { current: 'old passphrase one', next: 'new passphrase two' }, undefined, 'UNAUTHORIZED');

        assert.deepEqual(await data(t, CHANGE, { current: 'old passphrase one', next: 'new passphrase two' }, calling.token), { changePassword: true });
        assert.equal((await gql(t, ME, undefined, other.token)).status, 401, 'the other session ended');
        await data(t, ME, undefined, calling.token);
        await executionError(t, LOGIN, { email, password: 'old passphrase one' }, undefined, 'UNAUTHORIZED');
        assert.match((await login(t, email, 'new passphrase two')).token, TOKEN_SHAPE);
      });

      it('answers an invalid, unknown or revoked token on POST /graphql with HTTP 401 and UNAUTHORIZED', async () => {
        const revoked = await login(t, 'member@graphql.example', passwords.member);
        assert.equal((await as(t, revoked.token, 'POST', '/api/v1/auth/logout')).statusCode, 204);
        for (const [label, authorization] of [
          ['malformed', 'Bearer nope'],
          ['unknown', `Bearer pcf_${randomBytes(32).toString('base64url')}`],
          ['revoked', `Bearer ${revoked.token}`],
          ['another scheme', 'Basic YTpi'],
        ] as const) {
          const response = await t.app.inject({ method: 'POST', url: '/graphql', headers: { authorization }, payload: { query: '{ server { name } }' } });
          assert.equal(response.statusCode, 401, `${label}: ${response.body}`);
          assert.match(String(response.headers['content-type']), /^application\/(graphql-response\+)?json/, label);
          const body = response.json() as GraphqlResponse;
          assert.equal(body.data, null, label);
          assert.equal(assertGraphqlError(body, 'UNAUTHORIZED').extensions.code, 'UNAUTHORIZED', label);
        }
        await data(t, '{ server { name } }', undefined, member.token);
      });
    });

    describe('permissions', () => {
      it('answers a member reading another user with NOT_FOUND, exactly like a missing one', async () => {
        const USER = `query($id: ID!) { user(id: $id) { ${USER_FIELDS} } }`;
        const own = await data<{ user: User }>(t, USER, { id: memberUser.id }, member.token);
        assert.equal(own.user.email, 'member@graphql.example');
        const { status, body } = await gql(t, USER, { id: otherUser.id }, member.token);
        assert.equal(status, 200);
        assert.deepEqual(body.data, { user: null });
        const hidden = assertGraphqlError(body, 'NOT_FOUND');
        assert.deepEqual(hidden.path, ['user']);
        const missing = assertGraphqlError((await gql(t, USER, { id: newId() }, member.token)).body, 'NOT_FOUND');
        assert.equal(hidden.message, missing.message);
        // An admin reads it.
        assert.equal((await data<{ user: User }>(t, USER, { id: otherUser.id }, admin.token)).user.id, otherUser.id);
      });

      it('refuses a member createRole, assignRole and grantUserPermission with FORBIDDEN; nothing changes', async () => {
        const before = await data<{ me: { roles: unknown[]; permissions: unknown[] } }>(t, ME, undefined, member.token);
        const roleCount = (await data<{ roles: { totalCount: number } }>(t, '{ roles { totalCount } }', undefined, admin.token)).roles.totalCount;

        await executionError(t, 'mutation { createRole(input: { name: "mine" }) { id } }', undefined, member.token, 'FORBIDDEN');
        for (const roleId of [ADMIN_ROLE_ID, MEMBER_ROLE_ID]) {
          await executionError(
            t,
            'mutation($u: ID!, $r: ID!) { assignRole(userId: $u, roleId: $r) }',
            { u: memberUser.id, r: roleId },
            member.token,
            'FORBIDDEN',
          );
        }
        await executionError(
          t,
          'mutation($u: ID!) { grantUserPermission(userId: $u, input: { resourceType: "*", action: "manage" }) { id } }',
          { u: memberUser.id },
          member.token,
          'FORBIDDEN',
        );
        await executionError(
          t,
          'mutation($u: ID!) { grantUserPermission(userId: $u, input: { resourceType: "user", action: "read" }) { id } }',
          { u: otherUser.id },
          member.token,
          'FORBIDDEN',
        );

        assert.deepEqual(await data(t, ME, undefined, member.token), before, 'the member’s grants are unchanged');
        assert.equal((await data<{ roles: { totalCount: number } }>(t, '{ roles { totalCount } }', undefined, admin.token)).roles.totalCount, roleCount);
      });

      it('refuses updateUser with a roles field before execution: 400 INVALID_INPUT, nothing changes', async () => {
        const { status, body } = await gql(
          t,
          `mutation($id: ID!) { updateUser(id: $id, input: { name: "Boss", roles: ["admin"] }) { ${USER_FIELDS} } }`,
          { id: memberUser.id },
          member.token,
        );
        assert.equal(status, 400);
        assert.equal(body.data, null);
        assert.match(assertGraphqlError(body, 'INVALID_INPUT').message, /"roles" is not defined by type "UpdateUserInput"/);
        // The same through variables.
        const viaVariables = await gql(
          t,
          'mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id } }',
          { id: memberUser.id, input: { roles: [ADMIN_ROLE_ID] } },
          member.token,
        );
        assert.equal(viaVariables.status, 400);
        assertGraphqlError(viaVariables.body, 'INVALID_INPUT');

        const { me } = await data<{ me: { user: User; roles: { name: string }[] } }>(t, ME, undefined, member.token);
        assert.equal(me.user.name, 'Member');
        assert.deepEqual(
          me.roles.map((r) => r.name),
          ['member'],
        );
        // What the input allows still works.
        const renamed = await data<{ updateUser: User }>(
          t,
          'mutation($id: ID!) { updateUser(id: $id, input: { name: "Member Renamed" }) { name } }',
          { id: memberUser.id },
          member.token,
        );
        assert.equal(renamed.updateUser.name, 'Member Renamed');
        await data(t, 'mutation($id: ID!) { updateUser(id: $id, input: { name: "Member" }) { name } }', { id: memberUser.id }, member.token);
      });

      it('shows another user’s roles only where the caller may read roles; its own always', async () => {
        const other = await login(t, 'other@graphql.example', passwords.other);
        const GRANT = 'mutation($userId: ID!, $input: PermissionInput!) { grantUserPermission(userId: $userId, input: $input) { id } }';
        const REVOKE = 'mutation($userId: ID!, $id: ID!) { revokeUserPermission(userId: $userId, permissionId: $id) }';
        const readUsers = await data<{ grantUserPermission: { id: string } }>(
          t,
          GRANT,
          { userId: otherUser.id, input: { resourceType: 'user', action: 'read' } },
          admin.token,
        );
        const LIST = '{ users { edges { node { id roles { name } } } } }';
        type Listed = { users: { edges: { node: { id: string; roles: { name: string }[] } }[] } };
        const rolesById = async () =>
          new Map((await data<Listed>(t, LIST, undefined, other.token)).users.edges.map((e) => [e.node.id, e.node.roles.map((r) => r.name)]));

        let seen = await rolesById();
        assert.ok(seen.size >= 3, 'the grant lets it read every user');
        assert.deepEqual(seen.get(otherUser.id), ['member'], 'its own roles');
        assert.deepEqual(seen.get(adminUser.id), [], 'not another user’s: it may not read roles');

        const readRoles = await data<{ grantUserPermission: { id: string } }>(
          t,
          GRANT,
          { userId: otherUser.id, input: { resourceType: 'role', action: 'read' } },
          admin.token,
        );
        seen = await rolesById();
        assert.deepEqual(seen.get(adminUser.id), ['admin'], 'with read on roles it sees them');

        await data(t, REVOKE, { userId: otherUser.id, id: readRoles.grantUserPermission.id }, admin.token);
        await data(t, REVOKE, { userId: otherUser.id, id: readUsers.grantUserPermission.id }, admin.token);
      });
    });

    describe('connections', () => {
      const BULK = 60;
      const customRoles: string[] = [];

      before(async () => {
        // Ten roles with two permissions each, created as an admin would.
        for (let i = 0; i < 10; i++) {
          const { createRole } = await data<{ createRole: { id: string } }>(
            t,
            'mutation($name: String!) { createRole(input: { name: $name, description: "bulk" }) { id } }',
            { name: `bulk-${i}` },
            admin.token,
          );
          customRoles.push(createRole.id);
          for (const action of ['read', 'update']) {
            await data(
              t,
              'mutation($r: ID!, $a: String!) { addRolePermission(roleId: $r, input: { resourceType: "document", action: $a }) { id } }',
              { r: createRole.id, a: action },
              admin.token,
            );
          }
        }
        // Users straight into the tables: they never sign in, so no argon2 hash is computed.
        const db = t.server.database.db;
        const now = new Date();
        const rows = Array.from({ length: BULK }, (_, i) => ({
          id: newId(),
          email: `bulk-${String(i).padStart(2, '0')}@graphql.example`,
          name: `Bulk ${i}`,
          password_hash: '$argon2id$v=19$m=19456,t=2,p=1$never$used',
          created_at: now,
          updated_at: now,
        }));
        await db.insertInto('users').values(rows).execute();
        await db
          .insertInto('user_roles')
          .values(
            rows.flatMap((row, i) => [
              { user_id: row.id, role_id: MEMBER_ROLE_ID },
              { user_id: row.id, role_id: customRoles[i % customRoles.length]! },
            ]),
          )
          .execute();
      });

      /** Reads a whole connection page by page; checks cursors and page sizes on the way. */
      async function readAll<T extends { id: string }>(field: 'users' | 'roles', selection: string, first: number, token: string) {
        const query = `query($first: Int, $after: String) { ${field}(first: $first, after: $after) { edges { cursor node { ${selection} } } pageInfo { hasNextPage endCursor } totalCount } }`;
        const pages: Connection<T>[] = [];
        let after: string | null = null;
        do {
          const page: Connection<T> = (await data<Record<string, Connection<T>>>(t, query, { first, after }, token))[field]!;
          assert.ok(page.edges.length <= first, `a page holds at most ${first} edges`);
          if (page.pageInfo.hasNextPage) {
            assert.equal(page.edges.length, first, 'only the last page is short');
            assert.equal(page.pageInfo.endCursor, page.edges.at(-1)!.cursor, 'endCursor is the cursor of the last edge');
          } else {
            assert.equal(page.pageInfo.endCursor, null);
          }
          pages.push(page);
          after = page.pageInfo.endCursor;
          assert.ok(pages.length < 100, 'pagination ends');
        } while (after !== null);
        const nodes = pages.flatMap((p) => p.edges.map((e) => e.node));
        return { pages, nodes };
      }

      it('pages users with first/after to the end: every readable user once, in id order, totalCount matching', async () => {
        const expected = (await t.server.database.db.selectFrom('users').select('id').orderBy('id').execute()).map((r) => r.id);
        assert.ok(expected.length >= BULK + 3);
        const { pages, nodes } = await readAll<User>('users', USER_FIELDS, 7, admin.token);
        assert.deepEqual(
          nodes.map((n) => n.id),
          expected,
        );
        assert.equal(pages.length, Math.ceil(expected.length / 7));
        for (const page of pages) assert.equal(page.totalCount, expected.length);
        for (const node of nodes) assert.deepEqual(Object.keys(node).sort(), USER_KEYS);

        // A member reads itself only, and the count says so.
        const mine = await readAll<User>('users', 'id', 5, member.token);
        assert.deepEqual(
          mine.nodes.map((n) => n.id),
          [memberUser.id],
        );
        assert.equal(mine.pages[0]!.totalCount, 1);

        // The default page is 20; out-of-range sizes and foreign cursors are INVALID_INPUT.
        const { users } = await data<{ users: Connection<User> }>(t, '{ users { edges { node { id } } pageInfo { hasNextPage } } }', undefined, admin.token);
        assert.equal(users.edges.length, 20);
        assert.equal(users.pageInfo.hasNextPage, true);
        for (const args of ['first: 0', 'first: 101', 'after: "bm90LWEtY3Vyc29y"']) {
          await executionError(t, `{ users(${args}) { totalCount } }`, undefined, admin.token, 'INVALID_INPUT');
        }
      });

      it('pages roles with first/after to the end, with their permissions; a member sees none', async () => {
        const expected = (await t.server.database.db.selectFrom('roles').select('id').orderBy('id').execute()).map((r) => r.id);
        assert.ok(expected.length >= 12);
        const { pages, nodes } = await readAll<{
          id: string;
          name: string;
          builtin: boolean;
          permissions: { id: string; resourceType: string; action: string }[];
        }>('roles', 'id name builtin permissions { id resourceType action }', 5, admin.token);
        assert.deepEqual(
          nodes.map((n) => n.id),
          expected,
        );
        for (const page of pages) assert.equal(page.totalCount, expected.length);
        assert.deepEqual(
          nodes
            .filter((n) => n.builtin)
            .map((n) => n.name)
            .sort(),
          ['admin', 'member'],
        );
        for (const node of nodes.filter((n) => n.name.startsWith('bulk-'))) {
          assert.deepEqual(node.permissions.map((p) => `${p.resourceType}:${p.action}`).sort(), ['document:read', 'document:update']);
        }

        const none = await data<{ roles: Connection<{ id: string }> }>(
          t,
          '{ roles(first: 5) { edges { node { id } } pageInfo { hasNextPage endCursor } totalCount } }',
          undefined,
          member.token,
        );
        assert.deepEqual(none.roles, { edges: [], pageInfo: { hasNextPage: false, endCursor: null }, totalCount: 0 });
      });

      it('loads a page of users with their roles and the roles’ permissions in a bounded number of statements', async () => {
        const query = 'query($first: Int!) { users(first: $first) { edges { node { id roles { id permissions { id } } } } } }';
        const counter = statementCounter(t);
        try {
          // The least of a few runs: a session or grants entry expiring in between (1 s
          // without a shared cache) would add the statements of re-authentication.
          const measure = async (first: number) => {
            const runs: string[][] = [];
            for (let i = 0; i < 3; i++) {
              runs.push(
                await counter.during(async () => {
                  const { users } = await data<{ users: Connection<{ id: string; roles: { id: string; permissions: { id: string }[] }[] }> }>(
                    t,
                    query,
                    { first },
                    admin.token,
                  );
                  assert.equal(users.edges.length, first);
                  if (first > 5) {
                    const roles = new Set(users.edges.flatMap((e) => e.node.roles.map((r) => r.id)));
                    assert.ok(roles.size >= 10, `the page spans many roles (${roles.size})`);
                    assert.ok(
                      users.edges.every((e) => e.node.roles.every((r) => r.permissions.length > 0)),
                      'every role has its permissions',
                    );
                  }
                }),
              );
            }
            return runs.reduce((least, run) => (run.length < least.length ? run : least));
          };
          await measure(5); // warm: the admin's session and grants are cached now
          const small = await measure(5);
          const large = await measure(50);
          assert.ok(small.length > 0, 'the counter sees the statements');
          const show = (statements: string[]) =>
            `${statements.length} statements:\n  ${statements.slice(0, 6).join('\n  ')}${statements.length > 6 ? '\n  …' : ''}`;
          assert.equal(large.length, small.length, `as many statements for 50 users as for 5\n5 users: ${show(small)}\n50 users: ${show(large)}`);
          // One page, one batch of roles, one batch of permissions.
          assert.ok(large.length <= 3, `at most 3 statements, got ${show(large)}`);
        } finally {
          counter.restore();
        }
      });
    });

    describe('over WebSocket (graphql-transport-ws)', () => {
      const url = () => `${t.url.replace('http', 'ws')}/graphql`;
      const clients: Client[] = [];
      after(async () => {
        await Promise.all(clients.map((c) => c.dispose()));
      });

      /** A client that connects at once and stays connected, recording how its socket closes. */
      function connect(connectionParams?: Record<string, unknown>) {
        const closes: { code: number; reason: string }[] = [];
        let connections = 0;
        const client = createClient({
          url: url(),
          webSocketImpl: WebSocket,
          retryAttempts: 0,
          lazy: false,
          ...(connectionParams ? { connectionParams } : {}),
          onNonLazyError: () => undefined,
          on: {
            connected: () => void connections++,
            closed: (event) => void closes.push({ code: (event as { code: number }).code, reason: String((event as { reason?: unknown }).reason ?? '') }),
          },
        });
        clients.push(client);
        const connected = new Promise<void>((resolve, reject) => {
          client.on('connected', () => resolve());
          client.on('closed', (event) => reject(Object.assign(new Error('closed before connection_ack'), { event })));
        });
        return { client, closes, connected, connections: () => connections };
      }

      it('runs me with the token from connection_init', async () => {
        const { client, connected } = connect({ authorization: `Bearer ${member.token}` });
        await connected;
        const result = await wsRun(client, '{ me { user { id email } roles { name } } }');
        assert.equal(result.errors, undefined, JSON.stringify(result.errors));
        assert.deepEqual(result.data, { me: { user: { id: memberUser.id, email: 'member@graphql.example' }, roles: [{ name: 'member' }] } });
      });

      it('refuses the connection when connection_init carries a bad token', async () => {
        for (const authorization of ['Bearer nope', `Bearer pcf_${randomBytes(32).toString('base64url')}`, 42]) {
          const { client, closes, connected } = connect({ authorization });
          await assert.rejects(connected, /closed before connection_ack/, `no connection_ack for ${String(authorization)}`);
          assert.equal(closes.length, 1);
          // Whatever the close code, it is not a normal closure, and no operation runs.
          assert.notEqual(closes[0]!.code, 1000, JSON.stringify(closes));
          await assert.rejects(wsRun(client, '{ server { name } }'));
        }

        // On the wire: no connection_ack, and the server closes the socket itself.
        const socket = new WebSocket(url(), 'graphql-transport-ws');
        const messages: string[] = [];
        socket.on('message', (message) => messages.push(String(message)));
        await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
        const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
        socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: 'Bearer nope' } }));
        const code = await Promise.race([closed, new Promise<'open'>((resolve) => setTimeout(() => resolve('open'), 2000).unref())]);
        if (code === 'open') socket.terminate();
        assert.notEqual(code, 'open', 'the server closed the socket');
        assert.ok(!messages.some((m) => m.includes('connection_ack')), `never acknowledged: ${messages.join(' ')}`);
        assert.notEqual(code, 1000, 'not a normal closure');
      });

      it('closes an open socket with 4403 once its session is logged out over REST', async () => {
        const session = await login(t, 'other@graphql.example', passwords.other);
        const { client, closes, connected, connections } = connect({ authorization: `Bearer ${session.token}` });
        await connected;
        const first = await wsRun(client, '{ me { user { id } } }');
        assert.deepEqual(first.data, { me: { user: { id: otherUser.id } } });
        const closed = new Promise<void>((resolve) => client.on('closed', () => resolve()));

        assert.equal((await as(t, session.token, 'POST', '/api/v1/auth/logout')).statusCode, 204);

        // Closed by the revocation itself (docs/limits.md "Sessions ending"), not by a later check or operation.
        await closed;
        assert.equal(closes[0]?.code, 4403, JSON.stringify(closes));
        assert.equal(connections(), 1, 'never reconnected');
      });

      it('without connectionParams: me is UNAUTHORIZED, { server { name } } works', async () => {
        const { client, connected } = connect();
        await connected;
        const me = await wsRun(client, '{ me { user { id } } }');
        assert.equal(me.data, null);
        assert.equal(me.errors?.[0]?.extensions.code, 'UNAUTHORIZED', JSON.stringify(me.errors));
        assert.deepEqual((await wsRun(client, '{ server { name } }')).data, { server: { name: 'PCF API' } });

        // Errors carry the same extensions as over HTTP: code, trace id, field problems.
        const invalid = await wsRun(client, 'mutation { register(input: { email: "nope", name: "X", password: "short" }) { id } }');
        const error = invalid.errors?.[0];
        assert.equal(error?.extensions.code, 'INVALID_INPUT', JSON.stringify(invalid.errors));
        assert.match(error.extensions.traceId, /^[0-9a-f]{32}$/);
        assert.deepEqual(error.extensions.errors?.map((e) => e.field).sort(), ['email', 'password']);
      });
    });
  });
}
