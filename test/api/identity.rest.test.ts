import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { newId } from '../../src/core/ids.js';
import { DATABASE_KINDS } from '../support/databases.js';
import {
  ADMIN_ROLE_ID,
  MEMBER_ROLE_ID,
  TOKEN_SHAPE,
  as,
  assertInvalidField,
  assertProblem,
  assertUserShape,
  bearer,
  compareCodePoints,
  createAdminAccount,
  keysDeep,
  login,
  loginRaw,
  problemIdentity,
  registerRaw,
  tokenHash,
  type InjectedResponse,
  type Session,
  type User,
} from '../support/identity.js';
import type { Page } from '../support/factories.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The identity REST API end to end (DESIGN §5 "Errors", "Identity", "Permissions"):
 * accounts, sessions, tokens, users, roles, permissions with conditions, login limits,
 * registration modes and audit lines. One server per describe keeps argon2 costs bounded.
 */

interface Me {
  user: User;
  roles: { id: string; name: string }[];
  permissions: { id: string; resourceType: string; action: string; conditions: Record<string, unknown> | null }[];
}

interface Role {
  id: string;
  name: string;
  description: string;
  builtin: boolean;
  permissions?: Me['permissions'];
}

const SEEDED_MEMBER_PERMISSIONS = ['201', '202', '203', '204', '205', '206'].map((n) => `00000000-0000-7000-8000-000000000${n}`);

/** Reads every page of a list as `token`, checking page sizes and cursors on the way. */
async function readAll<T extends { id: string }>(t: TestServer, token: string, path: string, limit: number): Promise<{ items: T[]; pages: T[][] }> {
  const pages: T[][] = [];
  let cursor: string | null = null;
  do {
    const url: string = `${path}?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const response = await as(t, token, 'GET', url);
    assert.equal(response.statusCode, 200, response.body);
    const page = response.json() as Page<T>;
    assert.ok(page.items.length <= limit, `a page holds at most ${limit} items`);
    pages.push(page.items);
    cursor = page.nextCursor;
    assert.ok(pages.length < 100, 'pagination ends');
  } while (cursor !== null);
  return { items: pages.flat(), pages };
}

const me = async (t: TestServer, token: string): Promise<Me> => {
  const response = await as(t, token, 'GET', '/api/v1/auth/me');
  assert.equal(response.statusCode, 200, response.body);
  return response.json() as Me;
};

/** A GraphQL request refused for its token: HTTP 401 and a GraphQL error carrying the contract code. */
function assertGraphqlUnauthorized(response: InjectedResponse) {
  assert.equal(response.statusCode, 401, response.body);
  const body = response.json() as { data: unknown; errors: { message: string; extensions: { code: string; traceId: string } }[] };
  assert.equal(body.data, null);
  assert.equal(body.errors.length, 1, response.body);
  assert.equal(body.errors[0]!.extensions.code, 'UNAUTHORIZED');
  assert.match(body.errors[0]!.extensions.traceId, /^[0-9a-f]{32}$/);
}

for (const kind of DATABASE_KINDS) {
  describe(`identity REST API (${kind})`, () => {
    let t: TestServer;
    // Every password and token this server saw, to check none reaches the logs.
    const secrets = new Set<string>();
    const passwords = { admin: 'admin passphrase 0001', a: 'member a passphrase', b: 'member b passphrase' };
    let adminRegistration: InjectedResponse;
    let memberRegistration: InjectedResponse;
    let admin: Session;
    let memberA: Session;
    let memberB: Session;

    const remember = <T extends Session>(session: T): T => {
      secrets.add(session.token);
      return session;
    };
    const signIn = async (email: string, password: string) => remember(await login(t, email, password));
    const adminCall = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: unknown) => as(t, admin.token, method, url, payload);
    const createUser = async (email: string, name: string, password: string): Promise<User> => {
      secrets.add(password);
      const response = await adminCall('POST', '/api/v1/users', { email, name, password });
      assert.equal(response.statusCode, 201, response.body);
      return response.json() as User;
    };

    before(async () => {
      t = await startTestServer(kind);
      for (const password of Object.values(passwords)) secrets.add(password);
      // The very first account, with an email that needs normalising.
      adminRegistration = await registerRaw(t, { email: '  Admin@Example.COM ', name: ' Admin ', password: passwords.admin });
      memberRegistration = await registerRaw(t, { email: 'member.a@example.com', name: 'Member A', password: passwords.a });
      const b = await registerRaw(t, { email: 'member.b@example.com', name: 'Member B', password: passwords.b });
      assert.equal(b.statusCode, 201, b.body);
      [admin, memberA, memberB] = await Promise.all([
        signIn('admin@example.com', passwords.admin),
        signIn('member.a@example.com', passwords.a),
        signIn('member.b@example.com', passwords.b),
      ]);
    });
    after(() => t.close());

    describe('accounts and sessions', () => {
      it('registers with a trimmed, lowercased email and no secret fields; the first account is an admin, later ones members', async () => {
        assert.equal(adminRegistration.statusCode, 201, adminRegistration.body);
        const body = adminRegistration.json() as { user: User };
        assert.deepEqual(Object.keys(body), ['user']);
        assertUserShape(body.user);
        assert.equal(body.user.email, 'admin@example.com');
        assert.equal(body.user.name, 'Admin');
        assert.ok(!adminRegistration.body.includes(passwords.admin), 'the password is not echoed');
        assert.ok(!keysDeep(body).some((k) => /password|hash/i.test(k)));

        assert.equal(memberRegistration.statusCode, 201, memberRegistration.body);
        assertUserShape((memberRegistration.json() as { user: User }).user);

        const adminMe = await me(t, admin.token);
        assert.equal(adminMe.user.id, body.user.id);
        assert.deepEqual(adminMe.roles, [{ id: ADMIN_ROLE_ID, name: 'admin' }]);
        assert.ok(adminMe.permissions.some((p) => p.resourceType === 'user' && p.action === 'manage' && p.conditions === null));

        const memberMe = await me(t, memberA.token);
        assert.deepEqual(memberMe.roles, [{ id: MEMBER_ROLE_ID, name: 'member' }]);
        assert.deepEqual(memberMe.permissions.map((p) => p.id).sort(), SEEDED_MEMBER_PERMISSIONS);
        assert.ok(!keysDeep(memberMe).some((k) => /password|hash/i.test(k)));
      });

      it('logs in with a token of the documented shape, an expiry and the user', async () => {
        for (const session of [admin, memberA, memberB]) {
          assert.deepEqual(Object.keys(session).sort(), ['expiresAt', 'token', 'user']);
          assert.match(session.token, TOKEN_SHAPE);
          assertUserShape(session.user);
        }
        assert.equal(admin.user.email, 'admin@example.com');
        const expiresIn = Date.parse(admin.expiresAt) - Date.now();
        // sessionTtlMs defaults to 7 days.
        assert.ok(expiresIn > 6.9 * 86_400_000 && expiresIn <= 7 * 86_400_000, `expiresAt ${admin.expiresAt}`);
        // Logging in with the email in another case and with spaces works too.
        const again = await loginRaw(t, '  MEMBER.B@example.com ', passwords.b);
        assert.equal(again.statusCode, 200, again.body);
        assert.equal(again.headers['cache-control'], 'no-store');
        remember(again.json() as Session);
        assert.equal((again.json() as Session).user.id, memberB.user.id);
      });

      it('refuses a second account with the same email in another case or spacing with 409', async () => {
        const response = await registerRaw(t, { email: '  MEMBER.A@Example.com  ', name: 'Impostor', password: 'impostor passphrase' });
        const body = assertProblem(response, 409, 'CONFLICT');
        assert.ok(body.errors?.some((e) => e.field === 'email'));
        const rows = await t.server.database.db.selectFrom('users').select('name').where('email', '=', 'member.a@example.com').execute();
        assert.deepEqual(rows, [{ name: 'Member A' }]);
      });

      it('refuses short passwords, megabyte passwords and malformed emails with 400', async () => {
        const countBefore = await userCount(t);
        assertInvalidField(await registerRaw(t, { email: 'short@example.com', name: 'Short', password: 'seven77' }), /(^|\/)password$/);

        const huge = randomBytes(768 * 1024).toString('base64url'); // 1 MiB of characters
        assert.equal(huge.length, 1024 * 1024);
        secrets.add(huge.slice(0, 64));
        let started = Date.now();
        assertInvalidField(await registerRaw(t, { email: 'huge@example.com', name: 'Huge', password: huge }), /(^|\/)password$/);
        assert.ok(Date.now() - started < 2000, 'refused without hashing');
        started = Date.now();
        // For an existing account: refused as input, not answered as a wrong password.
        assertInvalidField(await loginRaw(t, 'member.b@example.com', huge), /(^|\/)password$/);
        assert.ok(Date.now() - started < 2000, 'refused without hashing');

        for (const email of ['not-an-email', 'two@at@example.com', 'spaced out@example.com']) {
          const body = assertInvalidField(await registerRaw(t, { email, name: 'Bad Email', password: 'a fine passphrase' }), /^email$/);
          assert.ok(
            body.errors!.every((e) => e.field === 'email'),
            JSON.stringify(body.errors),
          );
        }
        assertInvalidField(await registerRaw(t, { email: 'extra@example.com', name: 'Extra', password: 'a fine passphrase', admin: true }), /admin$/);
        assert.equal(await userCount(t), countBefore, 'no account was created');
        // Exactly eight characters is enough.
        const eight = await registerRaw(t, { email: 'eight@example.com', name: 'Eight', password: 'eight888' });
        assert.equal(eight.statusCode, 201, eight.body);
        secrets.add('eight888');
      });

      it('lists the caller’s sessions, marks the current one, and revokes another', async () => {
        const s1 = await signIn('member.a@example.com', passwords.a);
        const s2 = await signIn('member.a@example.com', passwords.a);
        const list = async (token: string) => {
          const response = await as(t, token, 'GET', '/api/v1/auth/sessions');
          assert.equal(response.statusCode, 200, response.body);
          return (response.json() as { items: { id: string; current: boolean }[] }).items;
        };
        const seenBy1 = await list(s1.token);
        const seenBy2 = await list(s2.token);
        for (const items of [seenBy1, seenBy2]) {
          assert.equal(items.filter((s) => s.current).length, 1, 'exactly one session is current');
          for (const item of items) assert.deepEqual(Object.keys(item).sort(), ['createdAt', 'current', 'expiresAt', 'id', 'ip', 'lastSeenAt', 'userAgent']);
        }
        const id1 = seenBy1.find((s) => s.current)!.id;
        const id2 = seenBy2.find((s) => s.current)!.id;
        assert.notEqual(id1, id2);
        assert.ok(
          seenBy2.some((s) => s.id === id1 && !s.current),
          'the other session is listed, not current',
        );

        // Another user's session is not found, and stays alive.
        assertProblem(await as(t, memberB.token, 'DELETE', `/api/v1/auth/sessions/${id1}`), 404, 'NOT_FOUND');
        assert.equal((await as(t, s1.token, 'GET', '/api/v1/auth/me')).statusCode, 200);

        const revoke = await as(t, s2.token, 'DELETE', `/api/v1/auth/sessions/${id1}`);
        assert.equal(revoke.statusCode, 204, revoke.body);
        assertProblem(await as(t, s1.token, 'GET', '/api/v1/auth/me'), 401, 'UNAUTHORIZED');
        assert.equal((await as(t, s2.token, 'GET', '/api/v1/auth/me')).statusCode, 200, 'the calling session still works');
        assert.ok(!(await list(s2.token)).some((s) => s.id === id1), 'the revoked session is no longer listed');
        assertProblem(await as(t, s2.token, 'DELETE', `/api/v1/auth/sessions/${id1}`), 404, 'NOT_FOUND');
        assertProblem(await as(t, s2.token, 'DELETE', `/api/v1/auth/sessions/${newId()}`), 404, 'NOT_FOUND');

        // Logout revokes the calling session.
        const logout = await as(t, s2.token, 'POST', '/api/v1/auth/logout');
        assert.equal(logout.statusCode, 204, logout.body);
        assert.equal(logout.body, '');
        assertProblem(await as(t, s2.token, 'GET', '/api/v1/auth/me'), 401, 'UNAUTHORIZED');
        assertProblem(await as(t, s2.token, 'POST', '/api/v1/auth/logout'), 401, 'UNAUTHORIZED');
        assert.equal((await as(t, memberA.token, 'GET', '/api/v1/auth/me')).statusCode, 200, 'other sessions of the user are untouched');
      });

      it('answers a malformed session id like any missing session (404)', async () => {
        assertProblem(await as(t, memberA.token, 'DELETE', '/api/v1/auth/sessions/not-a-uuid'), 404, 'NOT_FOUND');
      });

      it('changes the password: the current one is checked, other sessions end, the calling one stays', async () => {
        const caller = await signIn('member.b@example.com', passwords.b);
        const other = await signIn('member.b@example.com', passwords.b);
        const next = 'member b new passphrase';
        secrets.add(next);

        const wrong = await as(t, caller.token, 'POST', '/api/v1/auth/password', { currentPassword: 'not my passphrase', newPassword: next });
        assertInvalidField(wrong, /^currentPassword$/);
        assert.equal((await as(t, other.token, 'GET', '/api/v1/auth/me')).statusCode, 200, 'a refused change signs nobody out');
        assertInvalidField(await as(t, caller.token, 'POST', '/api/v1/auth/password', { currentPassword: passwords.b, newPassword: 'short' }), /newPassword$/);

        const changed = await as(t, caller.token, 'POST', '/api/v1/auth/password', { currentPassword: passwords.b, newPassword: next });
        assert.equal(changed.statusCode, 204, changed.body);
        assertProblem(await as(t, other.token, 'GET', '/api/v1/auth/me'), 401, 'UNAUTHORIZED');
        assertProblem(await as(t, memberB.token, 'GET', '/api/v1/auth/me'), 401, 'UNAUTHORIZED');
        assert.equal((await as(t, caller.token, 'GET', '/api/v1/auth/me')).statusCode, 200, 'the calling session still works');

        assertProblem(await loginRaw(t, 'member.b@example.com', passwords.b), 401, 'UNAUTHORIZED');
        passwords.b = next;
        memberB = await signIn('member.b@example.com', passwords.b);
      });
    });

    describe('tokens', () => {
      it('answers 401 UNAUTHORIZED to malformed, unknown, revoked, expired and idle tokens on REST and GraphQL', async () => {
        // Every session is opened before any row is edited: a login sweeps its user's expired sessions.
        const expired = await signIn('member.a@example.com', passwords.a);
        const idle = await signIn('member.a@example.com', passwords.a);
        const revoked = await signIn('member.a@example.com', passwords.a);
        assert.equal((await as(t, revoked.token, 'POST', '/api/v1/auth/logout')).statusCode, 204);
        const db = t.server.database.db;
        const expiredRows = await db
          .updateTable('sessions')
          .set({ expires_at: new Date(Date.now() - 1000) })
          .where('token', '=', tokenHash(expired.token))
          .executeTakeFirst();
        assert.equal(expiredRows.numUpdatedRows, 1n);
        const idleRows = await db
          .updateTable('sessions')
          .set({ last_seen_at: new Date(Date.now() - 25 * 3_600_000) })
          .where('token', '=', tokenHash(idle.token))
          .executeTakeFirst();
        assert.equal(idleRows.numUpdatedRows, 1n);

        const cases: [string, string][] = [
          ['malformed', 'Bearer nope'],
          ['another scheme', `Basic ${Buffer.from('admin@example.com:x').toString('base64')}`],
          ['unknown', `Bearer pcf_${randomBytes(32).toString('base64url')}`],
          ['revoked', `Bearer ${revoked.token}`],
          ['expired', `Bearer ${expired.token}`],
          ['idle for 25 h', `Bearer ${idle.token}`],
        ];
        for (const [label, authorization] of cases) {
          for (const url of ['/api/v1/auth/me', '/api/v1/users']) {
            const response = await t.app.inject({ method: 'GET', url, headers: { authorization } });
            await labelled(label, url, () => assertProblem(response, 401, 'UNAUTHORIZED'));
          }
          const graphql = await t.app.inject({ method: 'POST', url: '/graphql', headers: { authorization }, payload: { query: '{ __typename }' } });
          await labelled(label, 'POST /graphql', () => assertGraphqlUnauthorized(graphql));
        }

        // No Authorization at all: signed out, not a server error.
        assertProblem(await t.app.inject({ method: 'GET', url: '/api/v1/auth/me' }), 401, 'UNAUTHORIZED');
        assertProblem(await t.app.inject({ method: 'GET', url: '/api/v1/users' }), 401, 'UNAUTHORIZED');

        // The same routes answer a live token, so the 401s above are about the tokens.
        assert.equal((await as(t, memberA.token, 'GET', '/api/v1/auth/me')).statusCode, 200);
        assert.equal((await as(t, memberA.token, 'GET', '/api/v1/users')).statusCode, 200);
        const live = await t.app.inject({ method: 'POST', url: '/graphql', headers: bearer(memberA.token), payload: { query: '{ __typename }' } });
        assert.equal(live.statusCode, 200, live.body);
      });
    });

    describe('users', () => {
      it('lets an admin create, list, read, update and delete a user; deletion ends its sessions', async () => {
        const created = await adminCall('POST', '/api/v1/users', { email: ' New.User@Example.com ', name: 'New User', password: 'new user passphrase' });
        secrets.add('new user passphrase');
        assert.equal(created.statusCode, 201, created.body);
        const user = created.json() as User;
        assertUserShape(user);
        assert.equal(user.email, 'new.user@example.com');
        assert.equal(created.headers.location, `/api/v1/users/${user.id}`);

        const { items } = await readAll<User>(t, admin.token, '/api/v1/users', 100);
        for (const id of [admin.user.id, memberA.user.id, memberB.user.id, user.id])
          assert.ok(
            items.some((u) => u.id === id),
            `admin lists ${id}`,
          );
        for (const item of items) assertUserShape(item);

        const read = await adminCall('GET', `/api/v1/users/${user.id}`);
        assert.equal(read.statusCode, 200);
        assert.deepEqual(read.json(), user);

        const renamed = await adminCall('PATCH', `/api/v1/users/${user.id}`, { name: 'Renamed User', email: 'RENAMED@example.com ' });
        assert.equal(renamed.statusCode, 200, renamed.body);
        assert.equal((renamed.json() as User).name, 'Renamed User');
        assert.equal((renamed.json() as User).email, 'renamed@example.com');
        assert.equal(((await adminCall('GET', `/api/v1/users/${user.id}`)).json() as User).name, 'Renamed User');
        assertProblem(await adminCall('PATCH', `/api/v1/users/${user.id}`, { email: 'Member.A@example.com' }), 409, 'CONFLICT');

        const session = await signIn('renamed@example.com', 'new user passphrase');
        assert.equal((await me(t, session.token)).user.id, user.id, 'the session is live (and cached) before the deletion');
        const deleted = await adminCall('DELETE', `/api/v1/users/${user.id}`);
        assert.equal(deleted.statusCode, 204, deleted.body);
        assertProblem(await adminCall('GET', `/api/v1/users/${user.id}`), 404, 'NOT_FOUND');
        assertProblem(await as(t, session.token, 'GET', '/api/v1/auth/me'), 401, 'UNAUTHORIZED');
        const sessions = await t.server.database.db.selectFrom('sessions').select('id').where('user_id', '=', user.id).execute();
        assert.deepEqual(sessions, []);
        assertProblem(await loginRaw(t, 'renamed@example.com', 'new user passphrase'), 401, 'UNAUTHORIZED');
      });

      it('lets a member read and update itself, list only itself, and not delete itself', async () => {
        const self = await as(t, memberA.token, 'GET', `/api/v1/users/${memberA.user.id}`);
        assert.equal(self.statusCode, 200, self.body);
        assert.equal((self.json() as User).email, 'member.a@example.com');

        const list = await as(t, memberA.token, 'GET', '/api/v1/users');
        assert.equal(list.statusCode, 200);
        assert.deepEqual(
          (list.json() as Page<User>).items.map((u) => u.id),
          [memberA.user.id],
        );
        assert.equal((list.json() as Page<User>).nextCursor, null);

        const renamed = await as(t, memberA.token, 'PATCH', `/api/v1/users/${memberA.user.id}`, { name: 'Member A Renamed' });
        assert.equal(renamed.statusCode, 200, renamed.body);
        assert.equal((await me(t, memberA.token)).user.name, 'Member A Renamed', '/auth/me shows the change at once');

        // Readable but not deletable: the member role grants read and update only.
        assertProblem(await as(t, memberA.token, 'DELETE', `/api/v1/users/${memberA.user.id}`), 403, 'FORBIDDEN');
        assert.ok(await userById(t, memberA.user.id));
      });

      it('answers a member acting on another user exactly as for a user that does not exist', async () => {
        const missing = newId();
        const pairs: [string, (id: string) => Promise<InjectedResponse>][] = [
          ['read', (id) => as(t, memberB.token, 'GET', `/api/v1/users/${id}`)],
          ['update', (id) => as(t, memberB.token, 'PATCH', `/api/v1/users/${id}`, { name: 'Hijacked' })],
          ['delete', (id) => as(t, memberB.token, 'DELETE', `/api/v1/users/${id}`)],
        ];
        for (const [label, call] of pairs) {
          const other = assertProblem(await call(memberA.user.id), 404, 'NOT_FOUND');
          const absent = assertProblem(await call(missing), 404, 'NOT_FOUND');
          const malformed = assertProblem(await call('not-a-uuid'), 404, 'NOT_FOUND');
          assert.deepEqual(problemIdentity(other), problemIdentity(absent), `${label}: another user looks missing`);
          assert.deepEqual(problemIdentity(malformed), problemIdentity(absent), `${label}: a malformed id looks missing`);
        }
        const row = await userById(t, memberA.user.id);
        assert.equal(row?.name, 'Member A Renamed', 'nothing changed');
      });

      it('refuses mass assignment with 400 and changes nothing', async () => {
        const db = t.server.database.db;
        const snapshot = async () => ({
          user: await db.selectFrom('users').selectAll().where('id', '=', memberA.user.id).executeTakeFirstOrThrow(),
          roles: await db.selectFrom('user_roles').select('role_id').where('user_id', '=', memberA.user.id).execute(),
        });
        const before = await snapshot();
        const bodies: [string, Record<string, unknown>][] = [
          ['id', { id: newId() }],
          ['roles', { roles: [ADMIN_ROLE_ID] }],
          ['roles', { name: 'Sneaky', roles: ['admin'] }],
          ['passwordHash', { passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$AAAA$AAAA' }],
          ['password', { password: 'a brand new passphrase' }],
          ['createdAt', { createdAt: '2000-01-01T00:00:00.000Z' }],
          ['password_hash', { name: 'Sneaky', password_hash: 'x' }],
        ];
        for (const token of [memberA.token, admin.token]) {
          for (const [field, body] of bodies) {
            const response = await as(t, token, 'PATCH', `/api/v1/users/${memberA.user.id}`, body);
            assertInvalidField(response, new RegExp(`(^|/)${field}$`));
          }
        }
        assert.deepEqual(await snapshot(), before, 'the user and its roles are unchanged');
      });

      it('deletes a user who owns resources only with transferTo, which receives them', async () => {
        const owner = await createUser('owner@example.com', 'Owner', 'owner passphrase');
        const resourceId = newId();
        await t.server.database.db
          .insertInto('resources')
          .values({ id: resourceId, owner_id: owner.id, name: 'Owned doc', type: 'doc', metadata: '{}' })
          .execute();
        const ownerOf = async () =>
          (await t.server.database.db.selectFrom('resources').select('owner_id').where('id', '=', resourceId).executeTakeFirstOrThrow()).owner_id;

        assertProblem(await adminCall('DELETE', `/api/v1/users/${owner.id}`), 409, 'CONFLICT');
        assertInvalidField(await adminCall('DELETE', `/api/v1/users/${owner.id}?transferTo=${newId()}`), /transferTo/);
        assertInvalidField(await adminCall('DELETE', `/api/v1/users/${owner.id}?transferTo=${owner.id}`), /transferTo/);
        assert.ok(await userById(t, owner.id), 'the refused deletions kept the user');
        assert.equal(await ownerOf(), owner.id);

        const deleted = await adminCall('DELETE', `/api/v1/users/${owner.id}?transferTo=${memberB.user.id}`);
        assert.equal(deleted.statusCode, 204, deleted.body);
        assert.equal(await ownerOf(), memberB.user.id);
        assert.equal(await userById(t, owner.id), undefined);
      });

      it('keeps the last admin: it can neither be deleted nor lose the admin role', async () => {
        assertProblem(await adminCall('DELETE', `/api/v1/users/${admin.user.id}`), 409, 'CONFLICT');
        assertProblem(await adminCall('DELETE', `/api/v1/users/${admin.user.id}/roles/${ADMIN_ROLE_ID}`), 409, 'CONFLICT');
        assert.deepEqual((await me(t, admin.token)).roles, [{ id: ADMIN_ROLE_ID, name: 'admin' }]);
        assert.ok(await userById(t, admin.user.id));

        // With a second admin the role can be taken from one of them.
        assert.equal((await adminCall('PUT', `/api/v1/users/${memberB.user.id}/roles/${ADMIN_ROLE_ID}`)).statusCode, 204);
        assert.deepEqual(
          (await me(t, memberB.token)).roles.map((r) => r.name),
          ['admin', 'member'],
        );
        const taken = await adminCall('DELETE', `/api/v1/users/${memberB.user.id}/roles/${ADMIN_ROLE_ID}`);
        assert.equal(taken.statusCode, 204, taken.body);
        assert.deepEqual(
          (await me(t, memberB.token)).roles.map((r) => r.name),
          ['member'],
        );
      });
    });

    describe('roles and permissions', () => {
      let editor: Role;

      it('lists the seeded admin and member roles', async () => {
        const { items } = await readAll<Role>(t, admin.token, '/api/v1/roles', 100);
        const byId = new Map(items.map((r) => [r.id, r]));
        assert.deepEqual(
          [ADMIN_ROLE_ID, MEMBER_ROLE_ID].map((id) => ({ name: byId.get(id)?.name, builtin: byId.get(id)?.builtin })),
          [
            { name: 'admin', builtin: true },
            { name: 'member', builtin: true },
          ],
        );
        const member = await adminCall('GET', `/api/v1/roles/${MEMBER_ROLE_ID}`);
        assert.equal(member.statusCode, 200);
        assert.deepEqual(((member.json() as Role).permissions ?? []).map((p) => p.id).sort(), SEEDED_MEMBER_PERMISSIONS);
      });

      it('creates roles with unique names; built-in roles cannot be renamed or deleted', async () => {
        const created = await adminCall('POST', '/api/v1/roles', { name: 'editor', description: 'Edits team documents' });
        assert.equal(created.statusCode, 201, created.body);
        editor = created.json() as Role;
        assert.equal(editor.name, 'editor');
        assert.equal(editor.builtin, false);
        assert.deepEqual(editor.permissions, []);
        assert.equal(created.headers.location, `/api/v1/roles/${editor.id}`);

        assertProblem(await adminCall('POST', '/api/v1/roles', { name: 'editor' }), 409, 'CONFLICT');
        assertProblem(await adminCall('PATCH', `/api/v1/roles/${ADMIN_ROLE_ID}`, { name: 'root' }), 409, 'CONFLICT');
        assertProblem(await adminCall('DELETE', `/api/v1/roles/${MEMBER_ROLE_ID}`), 409, 'CONFLICT');
        assertProblem(await adminCall('DELETE', `/api/v1/roles/${ADMIN_ROLE_ID}`), 409, 'CONFLICT');
        assert.equal(((await adminCall('GET', `/api/v1/roles/${ADMIN_ROLE_ID}`)).json() as Role).name, 'admin');
        assert.equal((await adminCall('GET', `/api/v1/roles/${MEMBER_ROLE_ID}`)).statusCode, 200);

        const temporary = (await adminCall('POST', '/api/v1/roles', { name: 'temporary' })).json() as Role;
        const renamed = await adminCall('PATCH', `/api/v1/roles/${temporary.id}`, { name: 'short-lived' });
        assert.equal(renamed.statusCode, 200, renamed.body);
        assert.equal((renamed.json() as Role).name, 'short-lived');
        assert.equal((await adminCall('DELETE', `/api/v1/roles/${temporary.id}`)).statusCode, 204);
        assertProblem(await adminCall('GET', `/api/v1/roles/${temporary.id}`), 404, 'NOT_FOUND');

        // Only name and description are writable.
        assertInvalidField(await adminCall('POST', '/api/v1/roles', { name: 'self-made', builtin: true }), /builtin$/);
        assertInvalidField(await adminCall('POST', '/api/v1/roles', { name: 'self-made', id: ADMIN_ROLE_ID }), /id$/);
        assertInvalidField(await adminCall('PATCH', `/api/v1/roles/${editor.id}`, { builtin: true }), /builtin$/);
        assertInvalidField(await adminCall('PATCH', `/api/v1/roles/${editor.id}`, { permissions: [] }), /permissions$/);
        const stored = await t.server.database.db.selectFrom('roles').select(['name', 'builtin']).where('id', '=', editor.id).executeTakeFirstOrThrow();
        assert.deepEqual(stored, { name: 'editor', builtin: false });
        assert.equal((await t.server.database.db.selectFrom('roles').select('id').where('name', '=', 'self-made').execute()).length, 0);
      });

      it('grants through a role and directly, visible in /auth/me at once', async () => {
        const holder = memberA;
        // Warm the principal cache: the changes below must invalidate it.
        assert.deepEqual(
          (await me(t, holder.token)).roles.map((r) => r.name),
          ['member'],
        );

        const conditions = { ownerId: '${user.id}', 'metadata.team': { $in: ['blue', 'green'] } };
        const added = await adminCall('POST', `/api/v1/roles/${editor.id}/permissions`, { resourceType: 'doc', action: 'update', conditions });
        assert.equal(added.statusCode, 201, added.body);
        const permission = added.json() as Me['permissions'][number];
        assert.deepEqual({ ...permission, id: undefined }, { id: undefined, resourceType: 'doc', action: 'update', conditions });

        assert.equal((await adminCall('PUT', `/api/v1/users/${holder.user.id}/roles/${editor.id}`)).statusCode, 204);
        assert.equal((await adminCall('PUT', `/api/v1/users/${holder.user.id}/roles/${editor.id}`)).statusCode, 204, 'idempotent');
        let seen = await me(t, holder.token);
        assert.deepEqual(
          seen.roles.map((r) => r.name),
          ['editor', 'member'],
        );
        assert.deepEqual(
          seen.permissions.find((p) => p.id === permission.id),
          permission,
        );

        // A permission added to a role reaches its holders at once, and so does its removal.
        const second = (
          await adminCall('POST', `/api/v1/roles/${editor.id}/permissions`, { resourceType: 'doc', action: 'delete', conditions: null })
        ).json() as Me['permissions'][number];
        assert.ok((await me(t, holder.token)).permissions.some((p) => p.id === second.id));
        assert.equal((await adminCall('DELETE', `/api/v1/roles/${editor.id}/permissions/${second.id}`)).statusCode, 204);
        assert.ok(!(await me(t, holder.token)).permissions.some((p) => p.id === second.id));

        assert.equal((await adminCall('DELETE', `/api/v1/users/${holder.user.id}/roles/${editor.id}`)).statusCode, 204);
        seen = await me(t, holder.token);
        assert.deepEqual(
          seen.roles.map((r) => r.name),
          ['member'],
        );
        assert.ok(!seen.permissions.some((p) => p.id === permission.id));

        // A direct permission: here, reading one role.
        assertProblem(await as(t, holder.token, 'GET', `/api/v1/roles/${editor.id}`), 404, 'NOT_FOUND');
        const direct = await adminCall('POST', `/api/v1/users/${holder.user.id}/permissions`, {
          resourceType: 'role',
          action: 'read',
          conditions: { name: 'editor' },
        });
        assert.equal(direct.statusCode, 201, direct.body);
        const directId = (direct.json() as { id: string }).id;
        assert.ok((await me(t, holder.token)).permissions.some((p) => p.id === directId));
        assert.equal((await as(t, holder.token, 'GET', `/api/v1/roles/${editor.id}`)).statusCode, 200);
        const visible = (await as(t, holder.token, 'GET', '/api/v1/roles')).json() as Page<Role>;
        assert.deepEqual(
          visible.items.map((r) => r.name),
          ['editor'],
          'the list is filtered by the condition',
        );
        assertProblem(await as(t, holder.token, 'GET', `/api/v1/roles/${ADMIN_ROLE_ID}`), 404, 'NOT_FOUND');

        // A role's permission is not the user's to revoke directly.
        assertProblem(await adminCall('DELETE', `/api/v1/users/${holder.user.id}/permissions/${permission.id}`), 404, 'NOT_FOUND');
        assert.equal((await adminCall('DELETE', `/api/v1/users/${holder.user.id}/permissions/${directId}`)).statusCode, 204);
        assert.ok(!(await me(t, holder.token)).permissions.some((p) => p.id === directId));
        assertProblem(await as(t, holder.token, 'GET', `/api/v1/roles/${editor.id}`), 404, 'NOT_FOUND');
        assert.deepEqual(((await as(t, holder.token, 'GET', '/api/v1/roles')).json() as Page<Role>).items, []);
      });

      it('takes a deleted role, and its permissions, from its holders at once', async () => {
        const doomed = (await adminCall('POST', '/api/v1/roles', { name: 'doomed' })).json() as Role;
        const permission = (await adminCall('POST', `/api/v1/roles/${doomed.id}/permissions`, { resourceType: 'note', action: 'read' })).json() as {
          id: string;
        };
        assert.equal((await adminCall('PUT', `/api/v1/users/${memberB.user.id}/roles/${doomed.id}`)).statusCode, 204);
        const held = await me(t, memberB.token);
        assert.ok(held.roles.some((r) => r.id === doomed.id) && held.permissions.some((p) => p.id === permission.id));
        assert.equal((await adminCall('DELETE', `/api/v1/roles/${doomed.id}`)).statusCode, 204);
        const after = await me(t, memberB.token);
        assert.deepEqual(after.roles, [{ id: MEMBER_ROLE_ID, name: 'member' }]);
        assert.ok(!after.permissions.some((p) => p.id === permission.id));
        assert.equal(
          (await t.server.database.db.selectFrom('permissions').select('id').where('id', '=', permission.id).execute()).length,
          0,
          "the role's permissions went with it",
        );
      });

      it('refuses invalid conditions, actions and resource types with 400', async () => {
        let nested: Record<string, unknown> = { name: 'deep' };
        for (let i = 0; i < 4; i++) nested = { $and: [nested] };
        const tooDeep = { $and: [nested] };
        const invalid: [string, Record<string, unknown>, RegExp][] = [
          ['unknown field', { resourceType: 'doc', action: 'read', conditions: { foo: 1 } }, /^conditions\/foo$/],
          ['$where', { resourceType: 'doc', action: 'read', conditions: { $where: 'x' } }, /^conditions\/\$where$/],
          ['$regex', { resourceType: 'user', action: 'read', conditions: { name: { $regex: 'a' } } }, /^conditions\/name\/\$regex$/],
          ['too deep', { resourceType: 'doc', action: 'read', conditions: tooDeep }, /^conditions\/\$and/],
          ['a field of resources on users', { resourceType: 'user', action: 'read', conditions: { ownerId: '${user.id}' } }, /^conditions\/ownerId$/],
          ['the placeholder in a name', { resourceType: 'user', action: 'read', conditions: { name: '${user.id}' } }, /^conditions\/name$/],
          ['a malformed id', { resourceType: 'user', action: 'read', conditions: { id: 'abc' } }, /^conditions\/id$/],
          ['action', { resourceType: 'doc', action: 'fly' }, /action$/],
          ['resourceType', { resourceType: 'Not A Type!', action: 'read' }, /resourceType$/],
          ['conditions not an object', { resourceType: 'doc', action: 'read', conditions: 'true' }, /conditions$/],
          ['an extra field', { resourceType: 'doc', action: 'read', grantedBy: 'me' }, /grantedBy$/],
        ];
        const before = ((await adminCall('GET', `/api/v1/roles/${editor.id}`)).json() as Role).permissions!.length;
        for (const [label, body, field] of invalid) {
          for (const url of [`/api/v1/roles/${editor.id}/permissions`, `/api/v1/users/${memberA.user.id}/permissions`]) {
            const response = await adminCall('POST', url, body);
            await labelled(label, url, () => assertInvalidField(response, field));
          }
        }
        assert.equal(((await adminCall('GET', `/api/v1/roles/${editor.id}`)).json() as Role).permissions!.length, before, 'nothing was stored');
        assert.deepEqual((await me(t, memberA.token)).permissions.map((p) => p.id).sort(), SEEDED_MEMBER_PERMISSIONS);

        // Four levels of $and are within the limit.
        const fine = await adminCall('POST', `/api/v1/roles/${editor.id}/permissions`, { resourceType: 'doc', action: 'read', conditions: nested });
        assert.equal(fine.statusCode, 201, fine.body);
        assert.equal((await adminCall('DELETE', `/api/v1/roles/${editor.id}/permissions/${(fine.json() as { id: string }).id}`)).statusCode, 204);
      });

      it('refuses a member every administrative operation, so it cannot grant itself anything', async () => {
        const self = memberA.user.id;
        const forbidden: [string, 'POST' | 'PUT' | 'PATCH' | 'DELETE', string, unknown][] = [
          ['create a user', 'POST', '/api/v1/users', { email: 'sneaky@example.com', name: 'Sneaky', password: 'sneaky passphrase' }],
          ['invite', 'POST', '/api/v1/auth/invitations', { email: 'sneaky@example.com' }],
          ['create a role', 'POST', '/api/v1/roles', { name: 'sneaky' }],
          ['take the admin role', 'PUT', `/api/v1/users/${self}/roles/${ADMIN_ROLE_ID}`, undefined],
          ['take the editor role', 'PUT', `/api/v1/users/${self}/roles/${editor.id}`, undefined],
          ['drop its member role', 'DELETE', `/api/v1/users/${self}/roles/${MEMBER_ROLE_ID}`, undefined],
          ['grant itself a permission', 'POST', `/api/v1/users/${self}/permissions`, { resourceType: '*', action: 'manage' }],
          ['revoke a permission', 'DELETE', `/api/v1/users/${self}/permissions/${SEEDED_MEMBER_PERMISSIONS[0]}`, undefined],
          ['add a permission to its role', 'POST', `/api/v1/roles/${MEMBER_ROLE_ID}/permissions`, { resourceType: 'user', action: 'manage' }],
          ['remove a permission from its role', 'DELETE', `/api/v1/roles/${MEMBER_ROLE_ID}/permissions/${SEEDED_MEMBER_PERMISSIONS[0]}`, undefined],
        ];
        for (const [label, method, url, body] of forbidden) {
          const response = await as(t, memberA.token, method, url, body);
          await labelled(label, url, () => assertProblem(response, 403, 'FORBIDDEN'));
        }
        // Roles a member may not read are invisible, like any record (DESIGN §5 "Errors").
        const roles = await as(t, memberA.token, 'GET', '/api/v1/roles');
        assert.equal(roles.statusCode, 200);
        assert.deepEqual(roles.json(), { items: [], nextCursor: null });
        assertProblem(await as(t, memberA.token, 'GET', `/api/v1/roles/${ADMIN_ROLE_ID}`), 404, 'NOT_FOUND');
        assertProblem(await as(t, memberA.token, 'PATCH', `/api/v1/roles/${MEMBER_ROLE_ID}`, { description: 'mine now' }), 404, 'NOT_FOUND');
        assertProblem(await as(t, memberA.token, 'DELETE', `/api/v1/roles/${editor.id}`), 404, 'NOT_FOUND');

        const after = await me(t, memberA.token);
        assert.deepEqual(after.roles, [{ id: MEMBER_ROLE_ID, name: 'member' }]);
        assert.deepEqual(after.permissions.map((p) => p.id).sort(), SEEDED_MEMBER_PERMISSIONS);
        const db = t.server.database.db;
        assert.equal((await db.selectFrom('roles').select('id').where('name', '=', 'sneaky').execute()).length, 0);
        assert.equal((await db.selectFrom('users').select('id').where('email', '=', 'sneaky@example.com').execute()).length, 0);
        assert.equal((await db.selectFrom('invitations').select('id').execute()).length, 0);
        const memberRole = (await adminCall('GET', `/api/v1/roles/${MEMBER_ROLE_ID}`)).json() as Role;
        assert.deepEqual(memberRole.permissions!.map((p) => p.id).sort(), SEEDED_MEMBER_PERMISSIONS, 'the member role is unchanged');
      });
    });

    describe('conditions and list filtering', () => {
      // Uppercase sorts before lowercase by code point ('Mallory' < 'm'), and 'émile' after
      // 'z': a locale collation would disagree on both.
      const NAMES = [
        'alice',
        'Bob',
        'carol',
        'dave',
        'Erin',
        'frank',
        'grace',
        'heidi',
        'ivan',
        'judy',
        'kevin',
        'laura',
        'Mallory',
        'm',
        'mike',
        'nina',
        'oscar',
        'Peggy',
        'quentin',
        'rupert',
        'sybil',
        'trent',
        'ursula',
        'victor',
        'walter',
        'xavier',
        'Yolanda',
        'zoe',
        'Zed',
        'émile',
        'lm',
      ];
      const IN_LIST = ['alice', 'Bob', 'Zed', 'nobody at all'];
      let reader: Session;
      let readerUser: User;

      before(async () => {
        readerUser = await createUser('reader@example.com', 'Kim Reader', 'reader passphrase');
        for (let i = 0; i < NAMES.length; i += 8) {
          await Promise.all(NAMES.slice(i, i + 8).map((name, j) => createUser(`listed.${i + j}@example.com`, name, `listed passphrase ${i + j}`)));
        }
        for (const conditions of [{ name: { $in: IN_LIST } }, { name: { $gte: 'm' } }]) {
          const granted = await adminCall('POST', `/api/v1/users/${readerUser.id}/permissions`, { resourceType: 'user', action: 'read', conditions });
          assert.equal(granted.statusCode, 201, granted.body);
        }
        reader = await signIn('reader@example.com', 'reader passphrase');
      });

      const readable = (user: { id: string; name: string }) =>
        user.id === readerUser.id || IN_LIST.includes(user.name) || compareCodePoints(user.name, 'm') >= 0;

      it('pages through exactly the readable users, filtered in SQL, in id order', async () => {
        const all = await t.server.database.db.selectFrom('users').select(['id', 'name']).execute();
        const expected = all
          .filter(readable)
          .map((u) => u.id)
          .sort();
        // The filter must matter, and must span several pages.
        assert.ok(expected.length >= 15 && expected.length < all.length - 10, `${expected.length} of ${all.length} readable`);
        assert.ok(!expected.includes(admin.user.id));

        const { items, pages } = await readAll<User>(t, reader.token, '/api/v1/users', 7);
        const ids = items.map((u) => u.id);
        assert.equal(new Set(ids).size, ids.length, 'no duplicates');
        assert.deepEqual([...ids].sort(), expected, 'exactly the readable users');
        assert.deepEqual(ids, [...ids].sort(), 'ordered by id');
        assert.equal(pages.length, Math.ceil(expected.length / 7));
        for (const page of pages.slice(0, -1)) assert.equal(page.length, 7, 'every page but the last is full');
        assert.ok(ids.includes(readerUser.id), 'itself, through the member role');
        assert.ok(pages.length >= 3, 'several cursors were followed');
        for (const name of ['Mallory', 'Erin', 'Peggy', 'lm']) assert.ok(!items.some((u) => u.name === name), `${name} is not readable`);
        for (const name of ['émile', 'm', 'zoe', 'Zed', 'Bob', 'alice'])
          assert.ok(
            items.some((u) => u.name === name),
            `${name} is readable`,
          );
      });

      it('refuses page sizes out of 1..100 and cursors it did not issue', async () => {
        for (const query of ['limit=0', 'limit=101', 'limit=abc', `cursor=${Buffer.from('not a uuid').toString('base64url')}`, 'cursor=!!', 'sort=name']) {
          const response = await as(t, reader.token, 'GET', `/api/v1/users?${query}`);
          await labelled(query, '/api/v1/users', () => assertProblem(response, 400, 'INVALID_INPUT'));
        }
      });

      it('answers single reads with the same rules as the list', async () => {
        const all = await t.server.database.db.selectFrom('users').select(['id', 'name']).execute();
        for (const user of all) {
          const response = await as(t, reader.token, 'GET', `/api/v1/users/${user.id}`);
          if (readable(user)) assert.equal(response.statusCode, 200, `${user.name} is readable`);
          else assertProblem(response, 404, 'NOT_FOUND');
        }
      });

      it('substitutes ${user.id} in conditions, so $ne excludes the caller', async () => {
        const walter = (await t.server.database.db.selectFrom('users').select('id').where('name', '=', 'walter').executeTakeFirstOrThrow()).id;
        const victor = (await t.server.database.db.selectFrom('users').select('id').where('name', '=', 'victor').executeTakeFirstOrThrow()).id;
        const granted = await adminCall('POST', `/api/v1/users/${readerUser.id}/permissions`, {
          resourceType: 'user',
          action: 'delete',
          conditions: { id: { $ne: '${user.id}' }, name: { $in: ['walter', 'Kim Reader'] } },
        });
        assert.equal(granted.statusCode, 201, granted.body);
        assertProblem(await as(t, reader.token, 'DELETE', `/api/v1/users/${readerUser.id}`), 403, 'FORBIDDEN');
        assertProblem(await as(t, reader.token, 'DELETE', `/api/v1/users/${victor}`), 403, 'FORBIDDEN');
        assert.equal((await as(t, reader.token, 'DELETE', `/api/v1/users/${walter}`)).statusCode, 204);
        assert.equal(await userById(t, walter), undefined);
        assert.ok(await userById(t, readerUser.id));
      });
    });

    describe('login limits', () => {
      it('refuses the sixth attempt after five failures with 429 and Retry-After, even with the right password', async () => {
        await createUser('victim@example.com', 'Victim', 'victim passphrase');
        for (let i = 0; i < 5; i++) assertProblem(await loginRaw(t, 'victim@example.com', `wrong guess ${i}`), 401, 'UNAUTHORIZED');
        const blocked = await loginRaw(t, 'VICTIM@example.com', 'victim passphrase');
        assertProblem(blocked, 429, 'RATE_LIMITED');
        const retryAfter = String(blocked.headers['retry-after']);
        assert.match(retryAfter, /^\d+$/);
        assert.ok(Number(retryAfter) > 0 && Number(retryAfter) <= 900, `Retry-After ${retryAfter}`);
        // The limit is this account's from this address: others still sign in from it.
        assert.equal((await loginRaw(t, 'member.a@example.com', passwords.a)).statusCode, 200);
      });

      it('answers an unknown email exactly like a wrong password', async () => {
        const unknown = assertProblem(await loginRaw(t, 'nobody@example.com', 'some passphrase'), 401, 'UNAUTHORIZED');
        const wrong = assertProblem(await loginRaw(t, 'member.a@example.com', 'some passphrase'), 401, 'UNAUTHORIZED');
        assert.deepEqual(problemIdentity(unknown), problemIdentity(wrong));
        assert.deepEqual(Object.keys(unknown).sort(), Object.keys(wrong).sort());
      });
    });

    describe('audit', () => {
      it('records logins and their failures, and never logs a password or token', async () => {
        const signedIn = await signIn('member.a@example.com', passwords.a);
        assertProblem(await loginRaw(t, 'member.a@example.com', 'definitely wrong 42'), 401, 'UNAUTHORIZED');
        secrets.add('definitely wrong 42');
        const records = t.logs.records();
        const succeeded = records.filter((r) => r.msg === 'audit auth.login.succeeded' && r.event === 'auth.login.succeeded' && r.actorId === memberA.user.id);
        assert.ok(succeeded.length >= 1, 'a success line');
        assert.ok(succeeded.some((r) => typeof r.sessionId === 'string'));
        const failed = records.filter((r) => r.msg === 'audit auth.login.failed' && r.event === 'auth.login.failed');
        assert.ok(
          failed.some((r) => r.actorId === memberA.user.id),
          'a failure line for the account',
        );
        assert.ok(
          failed.some((r) => r.actorId === undefined),
          'a failure line for the unknown email',
        );

        // An admin action is audited with its actor, and every audit line joins its request's
        // trace: the line carries the trace id of the request that caused it.
        const traceId = '0af7651916cd43dd8448eb211c80319c';
        const role = await t.app.inject({
          method: 'POST',
          url: '/api/v1/roles',
          headers: { authorization: `Bearer ${admin.token}`, traceparent: `00-${traceId}-b7ad6b7169203331-01` },
          payload: { name: 'audited' },
        });
        assert.equal(role.statusCode, 201, role.body);
        const created = t.logs.records().find((r) => r.event === 'role.created' && r.roleId === (role.json() as { id: string }).id);
        assert.ok(created, 'a role.created line');
        assert.equal(created.actorId, admin.user.id);
        assert.equal(created.traceId, traceId);
        assert.equal(created.module, 'audit');
        for (const r of t.logs.records().filter((l) => l.module === 'audit'))
          assert.match(String(r.traceId), /^[0-9a-f]{32}$/, `${String(r.event)} has a trace id`);

        const text = t.logs.text();
        assert.ok(secrets.has(signedIn.token));
        assert.ok(secrets.size > 20, `${secrets.size} secrets checked`);
        for (const secret of secrets) assert.ok(!text.includes(secret), `the logs hold a secret (${secret.slice(0, 8)}…)`);
        assert.ok(!text.includes('$argon2id$'), 'no password hash is logged');
      });
    });
  });

  describe(`identity REST API, registration closed, 3 failures per IP (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer(kind, { config: { 'auth.registration': 'closed', 'auth.loginMaxFailuresPerIp': 3 } });
    });
    after(() => t.close());

    it('refuses registration with 403', async () => {
      const response = await registerRaw(t, { email: 'first@example.com', name: 'First', password: 'first passphrase' });
      assertProblem(response, 403, 'FORBIDDEN');
      assert.equal(await userCount(t), 0);
    });

    it('limits failed logins per client address across accounts', async () => {
      for (let i = 0; i < 3; i++) assertProblem(await loginRaw(t, `stranger.${i}@example.com`, 'some passphrase'), 401, 'UNAUTHORIZED');
      const blocked = await loginRaw(t, 'stranger.new@example.com', 'some passphrase');
      assertProblem(blocked, 429, 'RATE_LIMITED');
      assert.match(String(blocked.headers['retry-after']), /^[1-9]\d*$/);
    });
  });

  describe(`identity REST API, registration by invitation (${kind})`, () => {
    let t: TestServer;
    let admin: Session;
    before(async () => {
      t = await startTestServer(kind, { config: { 'auth.registration': 'invite' } });
      await createAdminAccount(t, { email: 'root@example.com', name: 'Root', password: 'root passphrase' });
      admin = await login(t, 'root@example.com', 'root passphrase');
    });
    after(() => t.close());

    it('has the admin created through the services', async () => {
      assert.deepEqual((await me(t, admin.token)).roles, [{ id: ADMIN_ROLE_ID, name: 'admin' }]);
    });

    it('refuses registration without a valid invitation', async () => {
      assertProblem(await registerRaw(t, { email: 'guest@example.com', name: 'Guest', password: 'guest passphrase' }), 403, 'FORBIDDEN');
      const forged = `pcf_${randomBytes(32).toString('base64url')}`;
      assertProblem(await registerRaw(t, { email: 'guest@example.com', name: 'Guest', password: 'guest passphrase', invitation: forged }), 403, 'FORBIDDEN');
      assert.equal(await userCount(t), 1);
    });

    it('registers the invited email once, as a member', async () => {
      const invited = await as(t, admin.token, 'POST', '/api/v1/auth/invitations', { email: ' Guest@Example.com ' });
      assert.equal(invited.statusCode, 201, invited.body);
      const invitation = invited.json() as { id: string; email: string; token: string; expiresAt: string };
      assert.equal(invitation.email, 'guest@example.com');
      assert.match(invitation.token, TOKEN_SHAPE);
      assert.ok(Date.parse(invitation.expiresAt) > Date.now());
      assert.equal(invited.headers['cache-control'], 'no-store');

      const mismatch = await registerRaw(t, { email: 'other@example.com', name: 'Other', password: 'other passphrase', invitation: invitation.token });
      assertInvalidField(mismatch, /^email$/);
      assert.equal(await userCount(t), 1, 'the refused registration created nobody');

      const registered = await registerRaw(t, { email: 'GUEST@example.com', name: 'Guest', password: 'guest passphrase', invitation: invitation.token });
      assert.equal(registered.statusCode, 201, registered.body);
      const guest = (registered.json() as { user: User }).user;
      assert.equal(guest.email, 'guest@example.com');
      const roles = await t.server.database.db.selectFrom('user_roles').select('role_id').where('user_id', '=', guest.id).execute();
      assert.deepEqual(roles, [{ role_id: MEMBER_ROLE_ID }]);

      const reused = await registerRaw(t, { email: 'guest@example.com', name: 'Guest Again', password: 'guest passphrase', invitation: invitation.token });
      assertProblem(reused, 403, 'FORBIDDEN');
      const reusedElsewhere = await registerRaw(t, { email: 'third@example.com', name: 'Third', password: 'third passphrase', invitation: invitation.token });
      assertProblem(reusedElsewhere, 403, 'FORBIDDEN');
      assert.equal(await userCount(t), 2);
      assert.ok(!t.logs.text().includes(invitation.token), 'the invitation token is not logged');
    });

    it('refuses an expired invitation', async () => {
      const invitation = (await as(t, admin.token, 'POST', '/api/v1/auth/invitations', { email: 'late@example.com' })).json() as { id: string; token: string };
      await t.server.database.db
        .updateTable('invitations')
        .set({ expires_at: new Date(Date.now() - 1000) })
        .where('id', '=', invitation.id)
        .execute();
      assertProblem(
        await registerRaw(t, { email: 'late@example.com', name: 'Late', password: 'late passphrase', invitation: invitation.token }),
        403,
        'FORBIDDEN',
      );
      assert.equal(await userCount(t), 2);
    });

    // These run last: the first locks an email, and a regression of the second would strip
    // the admin role.
    it('counts concurrent failed logins: a burst gets no more than the allowed guesses', async () => {
      const burst = await Promise.all(Array.from({ length: 12 }, (_, i) => loginRaw(t, 'ghost@example.com', `guess number ${i}`)));
      const statuses = burst.map((r) => r.statusCode);
      assert.ok(statuses.filter((s) => s === 401).length <= 5, `at most 5 guesses are answered: ${statuses.join(',')}`);
      assert.equal(statuses.filter((s) => s === 429).length, 12 - statuses.filter((s) => s === 401).length);
    });

    it("keeps the admin role's permissions, so administration cannot be locked out", async () => {
      const manageRoles = '00000000-0000-7000-8000-000000000103';
      assertProblem(await as(t, admin.token, 'DELETE', `/api/v1/roles/${ADMIN_ROLE_ID}/permissions/${manageRoles}`), 409, 'CONFLICT');
      assert.equal((await as(t, admin.token, 'POST', '/api/v1/roles', { name: 'still-admin' })).statusCode, 201);
    });
  });
}

async function userCount(t: TestServer): Promise<number> {
  const row = await t.server.database.db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<string | number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

function userById(t: TestServer, id: string) {
  return t.server.database.db.selectFrom('users').select(['id', 'name']).where('id', '=', id).executeTakeFirst();
}

/** Runs an assertion, naming the case it belongs to when it fails (a loop of cases in one test). */
async function labelled(label: string, where: string, check: () => unknown): Promise<void> {
  try {
    await check();
  } catch (err) {
    if (err instanceof Error) err.message = `[${label} → ${where}] ${err.message}`;
    throw err;
  }
}
