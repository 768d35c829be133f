import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DATABASE_KINDS } from '../support/databases.js';
import { signedInUser, type Session } from '../support/factories.js';
import { ADMIN_ROLE_ID, as, assertProblem, MEMBER_ROLE_ID } from '../support/identity.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * GET /api/v1/users/{id}/grants: what one user holds (its roles, its direct permissions), the
 * console's user page. Administrators only, like granting.
 */
interface Grants {
  roles: { id: string; name: string; builtin: boolean }[];
  permissions: { id: string; resourceType: string; action: string; conditions: Record<string, unknown> | null }[];
}

for (const kind of DATABASE_KINDS) {
  describe(`a user's grants (${kind})`, () => {
    let t: TestServer;
    let admin: Session;
    let alice: Session;

    before(async () => {
      t = await startTestServer(kind);
      admin = await signedInUser(t, { name: 'Admin' });
      alice = await signedInUser(t, { name: 'Alice' });
    });
    after(() => t.close());

    const grantsOf = (by: Session, id: string) => as(t, by.token, 'GET', `/api/v1/users/${id}/grants`);

    it('lists the roles and the direct permissions, not the permissions of the roles', async () => {
      const role = (await as(t, admin.token, 'POST', '/api/v1/roles', { name: 'Editors', description: '' })).json() as { id: string };
      assert.equal((await as(t, admin.token, 'PUT', `/api/v1/users/${alice.user.id}/roles/${role.id}`)).statusCode, 204);
      const granted = await as(t, admin.token, 'POST', `/api/v1/users/${alice.user.id}/permissions`, {
        resourceType: 'note',
        action: 'update',
        conditions: { 'metadata.team': 'blue' },
      });
      assert.equal(granted.statusCode, 201, granted.body);

      const r = await grantsOf(admin, alice.user.id);
      assert.equal(r.statusCode, 200, r.body);
      const body = r.json() as Grants;
      assert.deepEqual(body.roles.map((x) => x.name).sort(), ['Editors', 'member']);
      assert.ok(body.roles.some((x) => x.id === MEMBER_ROLE_ID));
      assert.deepEqual(body.permissions, [
        { id: (granted.json() as { id: string }).id, resourceType: 'note', action: 'update', conditions: { 'metadata.team': 'blue' } },
      ]);

      const ofAdmin = (await grantsOf(admin, admin.user.id)).json() as Grants;
      assert.ok(ofAdmin.roles.some((x) => x.id === ADMIN_ROLE_ID));
      assert.deepEqual(ofAdmin.permissions, []);
    });

    it('is for administrators: a member gets 403 even for itself; an unknown user is 404', async () => {
      assertProblem(await grantsOf(alice, alice.user.id), 403, 'FORBIDDEN');
      assertProblem(await grantsOf(admin, '00000000-0000-4000-8000-000000000000'), 404, 'NOT_FOUND');
      assertProblem(await grantsOf(admin, 'nope'), 404, 'NOT_FOUND');
      assertProblem(await t.app.inject({ method: 'GET', url: `/api/v1/users/${alice.user.id}/grants` }), 401, 'UNAUTHORIZED');
    });
  });
}
