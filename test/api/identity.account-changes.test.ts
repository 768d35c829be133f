import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DATABASE_KINDS } from '../support/databases.js';
import { buildUser, signedInUser, type Session, type User } from '../support/factories.js';
import { ADMIN_ROLE_ID, as, assertInvalidField, assertProblem, login, loginRaw, registerRaw } from '../support/identity.js';
import { startTestServer, type TestServer } from '../support/server.js';

// What identity writes guarantee beyond their happy path: an id in any case names the same
// record (docs/identity.md "Principal resolution and caching"); a create or update is allowed
// only when the caller's conditions hold for the record as it would be (docs/design.md
// "Permissions"); a JSON body is never coerced to the expected type (docs/limits.md "Input:
// one rule for every transport"); a password or email change ends the sessions that knew the
// old credentials (docs/limits.md "Sessions ending").
for (const kind of DATABASE_KINDS) {
  describe(`identity: ids, permission checks and account changes (${kind})`, () => {
    let t: TestServer;
    let admin: Session;
    let member: Session;
    before(async () => {
      t = await startTestServer(kind);
      admin = await signedInUser(t, { name: 'Admin' });
      member = await signedInUser(t, { name: 'Member' });
    });
    after(() => t.close());

    const me = async (s: Session) => (await as(t, s.token, 'GET', '/api/v1/auth/me')).json() as { permissions: { id: string }[]; roles: { name: string }[] };

    describe('canonical ids', () => {
      it('treats an upper-case id like its canonical form: revocations reach the cache, the last admin stays', async () => {
        const granted = await as(t, admin.token, 'POST', `/api/v1/users/${member.user.id}/permissions`, { resourceType: 'user', action: 'read' });
        assert.equal(granted.statusCode, 201, granted.body);
        const permission = granted.json() as { id: string };
        assert.ok(
          (await me(member)).permissions.some((p) => p.id === permission.id),
          'granted (and now cached)',
        );

        const upper = member.user.id.toUpperCase();
        assert.equal((await as(t, admin.token, 'DELETE', `/api/v1/users/${upper}/permissions/${permission.id.toUpperCase()}`)).statusCode, 204);
        assert.ok(!(await me(member)).permissions.some((p) => p.id === permission.id), 'revoked at once, not after the cache expires');
        const users = (await as(t, member.token, 'GET', '/api/v1/users')).json() as { items: User[] };
        assert.deepEqual(
          users.items.map((u) => u.id),
          [member.user.id],
        );

        assertProblem(await as(t, admin.token, 'DELETE', `/api/v1/users/${admin.user.id.toUpperCase()}/roles/${ADMIN_ROLE_ID.toUpperCase()}`), 409, 'CONFLICT');
        assertProblem(await as(t, admin.token, 'DELETE', `/api/v1/users/${admin.user.id.toUpperCase()}`), 409, 'CONFLICT');
        assert.deepEqual(
          (await me(admin)).roles.map((r) => r.name),
          ['admin'],
        );
        const fetched = await as(t, admin.token, 'GET', `/api/v1/users/${member.user.id.toUpperCase()}`);
        assert.equal((fetched.json() as User).id, member.user.id, 'answers with the canonical id');
      });
    });

    describe('permission checks on the record as it would be', () => {
      it('checks create and update permissions against the record as it would be', async () => {
        const grant = async (input: Record<string, unknown>) => {
          const r = await as(t, admin.token, 'POST', `/api/v1/users/${member.user.id}/permissions`, input);
          assert.equal(r.statusCode, 201, r.body);
          return (r.json() as { id: string }).id;
        };
        const createOne = await grant({ resourceType: 'user', action: 'create', conditions: { email: 'only-this@hardening.example' } });
        assertProblem(
          await as(t, member.token, 'POST', '/api/v1/users', { email: 'anyone@hardening.example', name: 'Any', password: 'a fine passphrase' }),
          403,
          'FORBIDDEN',
        );
        assert.equal(
          (await as(t, member.token, 'POST', '/api/v1/users', { email: 'only-this@hardening.example', name: 'Only', password: 'a fine passphrase' }))
            .statusCode,
          201,
        );

        const createTeamRole = await grant({ resourceType: 'role', action: 'create', conditions: { name: { $in: ['team-b', 'team-b2'] } } });
        const updateTeamRole = await grant({ resourceType: 'role', action: 'update', conditions: { name: { $in: ['team-b', 'team-b2'] } } });
        const readRoles = await grant({ resourceType: 'role', action: 'read' });
        assertProblem(await as(t, member.token, 'POST', '/api/v1/roles', { name: 'root' }), 403, 'FORBIDDEN');
        const created = await as(t, member.token, 'POST', '/api/v1/roles', { name: 'team-b' });
        assert.equal(created.statusCode, 201, created.body);
        const roleId = (created.json() as { id: string }).id;
        assertProblem(await as(t, member.token, 'PATCH', `/api/v1/roles/${roleId}`, { name: 'root' }), 403, 'FORBIDDEN');
        assert.equal((await as(t, member.token, 'PATCH', `/api/v1/roles/${roleId}`, { name: 'team-b2' })).statusCode, 200);

        for (const id of [createOne, createTeamRole, updateTeamRole, readRoles]) {
          assert.equal((await as(t, admin.token, 'DELETE', `/api/v1/users/${member.user.id}/permissions/${id}`)).statusCode, 204);
        }
      });
    });

    describe('JSON bodies taken as typed', () => {
      it('never coerces a JSON body: a wrong type is 400, not a quiet conversion', async () => {
        for (const conditions of ['', false, 0, [null]]) {
          assertInvalidField(
            await as(t, admin.token, 'POST', `/api/v1/users/${member.user.id}/permissions`, { resourceType: 'user', action: 'read', conditions }),
            /^conditions/,
          );
        }
        assertInvalidField(await registerRaw(t, { email: 'typed@hardening.example', name: 42, password: 'a fine passphrase' }), /^name$/);
        assertInvalidField(await registerRaw(t, { email: 'typed@hardening.example', name: 'Typed', password: 12345678 }), /^password$/);
        // Query strings are text and still read as numbers.
        assert.equal((await as(t, admin.token, 'GET', '/api/v1/users?limit=2')).statusCode, 200);
      });
    });

    describe('password and email changes ending sessions', () => {
      it('lets no session opened with the old password survive a concurrent password change', async () => {
        const email = 'racer@hardening.example';
        const racer = await signedInUser(t, { email, name: 'Racer', password: 'old racer passphrase' });
        const change = as(t, racer.token, 'POST', '/api/v1/auth/password', { currentPassword: 'old racer passphrase', newPassword: 'new racer passphrase' });
        const logins = await Promise.all([change, ...Array.from({ length: 4 }, () => loginRaw(t, email, 'old racer passphrase'))]);
        assert.equal(logins[0]!.statusCode, 204, logins[0]!.body);
        for (const response of logins.slice(1)) {
          if (response.statusCode !== 200) continue;
          const { token } = response.json() as { token: string };
          assertProblem(await as(t, token, 'GET', '/api/v1/auth/me'), 401, 'UNAUTHORIZED');
        }
        assertProblem(await loginRaw(t, email, 'old racer passphrase'), 401, 'UNAUTHORIZED');
      });

      it('changes your own email only with your current password, and ends your other sessions', async () => {
        const password = 'mover passphrase';
        await buildUser(t, { email: 'mover@hardening.example', name: 'Mover', password });
        const current = await login(t, 'mover@hardening.example', password);
        const other = await login(t, 'mover@hardening.example', password);
        const url = `/api/v1/users/${current.user.id}`;

        assertInvalidField(await as(t, current.token, 'PATCH', url, { email: 'thief@hardening.example' }), /^currentPassword$/);
        assertInvalidField(
          await as(t, current.token, 'PATCH', url, { email: 'thief@hardening.example', currentPassword: 'a wrong guess' }),
          /^currentPassword$/,
        );
        const graphql = await as(t, current.token, 'POST', '/graphql', {
          query: 'mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { email } }',
          variables: { id: current.user.id, input: { email: 'thief@hardening.example' } },
        });
        assert.equal((graphql.json() as { errors?: { extensions: { code: string } }[] }).errors?.[0]?.extensions.code, 'INVALID_INPUT', graphql.body);
        assert.equal((await loginRaw(t, 'mover@hardening.example', password)).statusCode, 200, 'the email did not change');
        // A name alone needs no password.
        assert.equal((await as(t, current.token, 'PATCH', url, { name: 'Mover Renamed' })).statusCode, 200);

        const moved = await as(t, current.token, 'PATCH', url, { email: 'moved@hardening.example', currentPassword: password });
        assert.equal(moved.statusCode, 200, moved.body);
        assert.equal((moved.json() as User).email, 'moved@hardening.example');
        assert.equal((await as(t, current.token, 'GET', '/api/v1/auth/me')).statusCode, 200, 'the session that changed it goes on');
        assertProblem(await as(t, other.token, 'GET', '/api/v1/auth/me'), 401, 'UNAUTHORIZED');
        const sessions = (await as(t, current.token, 'GET', '/api/v1/auth/sessions')).json() as { items: { current: boolean }[] };
        assert.deepEqual(
          sessions.items.map((s) => s.current),
          [true],
        );
      });

      it('ends every session of a user whose email an administrator changes', async () => {
        const managed = await signedInUser(t, { email: 'managed@hardening.example', name: 'Managed' });
        const changed = await as(t, admin.token, 'PATCH', `/api/v1/users/${managed.user.id}`, { email: 'managed.new@hardening.example' });
        assert.equal(changed.statusCode, 200, changed.body);
        assertProblem(await as(t, managed.token, 'GET', '/api/v1/auth/me'), 401, 'UNAUTHORIZED');
        assert.equal((await as(t, admin.token, 'GET', '/api/v1/auth/me')).statusCode, 200);
      });
    });
  });
}
