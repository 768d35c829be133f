import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DATABASE_KINDS } from '../support/databases.js';
import { as, assertProblem, createAdminAccount, login, registerRaw, type Session } from '../support/identity.js';
import { startTestServer, type TestServer } from '../support/server.js';

/*
 * An invitation is a deferred `create user` (docs/identity.md "Accounts"), so a conditional grant bounds
 * whom it invites (the email when inviting, the name when the invitation is accepted), and an
 * invitation goes with its author's permission.
 */

const PARTNERS = ['ana@partner.example', 'ben@partner.example', 'cy@partner.example'];
const INVITE = 'mutation($email: String!) { createInvitation(email: $email) { id email token } }';

for (const kind of DATABASE_KINDS) {
  describe(`invitations under a conditional create-user grant (${kind})`, () => {
    let t: TestServer;
    let admin: Session;
    let inviter: Session;
    let grantId: string;
    before(async () => {
      t = await startTestServer(kind, { config: { 'auth.registration': 'invite' } });
      await createAdminAccount(t, { email: 'root@invitations.example', name: 'Root', password: 'root passphrase' });
      admin = await login(t, 'root@invitations.example', 'root passphrase');
      const invited = (await as(t, admin.token, 'POST', '/api/v1/auth/invitations', { email: 'inviter@invitations.example' })).json() as { token: string };
      const registered = await registerRaw(t, {
        email: 'inviter@invitations.example',
        name: 'Inviter',
        password: 'inviter passphrase',
        invitation: invited.token,
      });
      assert.equal(registered.statusCode, 201, registered.body);
      inviter = await login(t, 'inviter@invitations.example', 'inviter passphrase');
      const granted = await as(t, admin.token, 'POST', `/api/v1/users/${inviter.user.id}/permissions`, {
        resourceType: 'user',
        action: 'create',
        conditions: { email: { $in: PARTNERS }, name: { $ne: 'Root' } },
      });
      assert.equal(granted.statusCode, 201, granted.body);
      grantId = (granted.json() as { id: string }).id;
    });
    after(() => t.close());

    const invite = (email: string) => as(t, inviter.token, 'POST', '/api/v1/auth/invitations', { email });

    it('refuses to invite an address the grant does not cover, on REST and GraphQL alike', async () => {
      assertProblem(await invite('mallory@elsewhere.example'), 403, 'FORBIDDEN');
      const graphql = await as(t, inviter.token, 'POST', '/graphql', { query: INVITE, variables: { email: 'mallory@elsewhere.example' } });
      const body = graphql.json() as { data: unknown; errors?: { extensions: { code: string } }[] };
      assert.equal(body.errors?.[0]?.extensions.code, 'FORBIDDEN', graphql.body);
      const stored = await t.server.database.db.selectFrom('invitations').select('email').where('email', '=', 'mallory@elsewhere.example').execute();
      assert.deepEqual(stored, [], 'no invitation was stored');
    });

    it('invites a covered address, and checks the name when the invitation is accepted', async () => {
      const invited = await invite(PARTNERS[0]!);
      assert.equal(invited.statusCode, 201, invited.body);
      const { token } = invited.json() as { token: string };
      assertProblem(await registerRaw(t, { email: PARTNERS[0], name: 'Root', password: 'partner passphrase', invitation: token }), 403, 'FORBIDDEN');
      const registered = await registerRaw(t, { email: PARTNERS[0], name: 'Ana', password: 'partner passphrase', invitation: token });
      assert.equal(registered.statusCode, 201, registered.body);
    });

    it('lets a pending invitation go with its author’s permission', async () => {
      const invited = await invite(PARTNERS[1]!);
      assert.equal(invited.statusCode, 201, invited.body);
      const { token } = invited.json() as { token: string };
      assert.equal((await as(t, admin.token, 'DELETE', `/api/v1/users/${inviter.user.id}/permissions/${grantId}`)).statusCode, 204);
      assertProblem(await registerRaw(t, { email: PARTNERS[1], name: 'Ben', password: 'partner passphrase', invitation: token }), 403, 'FORBIDDEN');
      assertProblem(await invite(PARTNERS[2]!), 403, 'FORBIDDEN');
    });
  });
}
