import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { newId } from '../../src/core/ids.js';
import { DATABASE_KINDS } from '../support/databases.js';
import { assertGraphqlError, data, gql } from '../support/graphql.js';
import { createResource, signedInUser, type Page, type Session } from '../support/factories.js';
import { as, assertInvalidField, assertProblem, login, problemIdentity, type InjectedResponse } from '../support/identity.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Notifications end to end (DESIGN §5 "Notifications"): who is told of what, as events flow
 * from a change through the outbox and the queue to the notifications consumer; listing
 * newest first with keyset pages and the unread filter; marking read, one or all, by their
 * user only; email preferences; and the same over GraphQL. One server per database kind;
 * every test makes fresh members, so the notifications it counts are its own.
 */

interface Notification {
  id: string;
  kind: string;
  payload: Record<string, unknown>;
  read: boolean;
  readAt: string | null;
  createdAt: string;
}

interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  unreadCount: number;
}

const N = '/api/v1/notifications';
const NOTIFICATION_KEYS = ['createdAt', 'id', 'kind', 'payload', 'read', 'readAt'];
const PASSWORD = 'notifications passphrase 01';
/** How long a notification may take to appear (it usually takes well under 100 ms). */
const DEADLINE_MS = 5_000;

const NOTIFICATION_FIELDS = 'id kind payload read readAt createdAt';
const LIST = `query List($unread: Boolean, $first: Int, $after: String) {
  notifications(unread: $unread, first: $first, after: $after) { edges { cursor node { ${NOTIFICATION_FIELDS} } } pageInfo { hasNextPage endCursor } unreadCount }
}`;
const MARK = `mutation Mark($id: ID!) { markNotificationRead(id: $id) { ${NOTIFICATION_FIELDS} } }`;
const MARK_ALL = 'mutation MarkAll { markAllNotificationsRead }';
const PREFERENCES = 'query Preferences { notificationPreferences { email } }';
const SET_PREFERENCES = 'mutation SetPreferences($email: [String!]!) { setNotificationPreferences(email: $email) { email } }';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const kind of DATABASE_KINDS) {
  describe(`notifications (${kind})`, () => {
    let t: TestServer;
    let admin: Session;

    const call = (token: string, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, payload?: unknown): Promise<InjectedResponse> =>
      as(t, token, method, url, payload);

    const json = async <T>(response: Promise<InjectedResponse>, status = 200): Promise<T> => {
      const r = await response;
      assert.equal(r.statusCode, status, r.body);
      return r.json() as T;
    };

    /** A member made by the admin and signed in once (which is its first notification, login.new). */
    const newMember = async (label: string): Promise<Session> => {
      const email = `${label.toLowerCase()}.${randomBytes(4).toString('hex')}@notifications.example`;
      await json(call(admin.token, 'POST', '/api/v1/users', { email, name: `${label} ${randomBytes(2).toString('hex')}`, password: PASSWORD }), 201);
      return login(t, email, PASSWORD);
    };

    /** All of a user's notifications, newest first (one page of 100 is plenty here). */
    const all = async (token: string, query = ''): Promise<Notification[]> =>
      (await json<Page<Notification>>(call(token, 'GET', `${N}?limit=100${query}`))).items;

    /** Polls until `done` holds for the user's notifications; fails after the deadline. */
    const waitFor = async (token: string, what: string, done: (items: Notification[]) => boolean): Promise<Notification[]> => {
      const deadline = Date.now() + DEADLINE_MS;
      for (;;) {
        const items = await all(token);
        if (done(items)) return items;
        if (Date.now() > deadline) assert.fail(`${what}: not there within ${DEADLINE_MS} ms; have ${JSON.stringify(items.map((n) => [n.kind, n.payload]))}`);
        await sleep(20);
      }
    };

    /** Waits for one notification of a kind that satisfies `match`, and returns it. */
    const waitForOne = async (token: string, kind: string, match: (n: Notification) => boolean = () => true): Promise<Notification> => {
      const items = await waitFor(token, kind, (list) => list.some((n) => n.kind === kind && match(n)));
      return items.find((n) => n.kind === kind && match(n))!;
    };

    const ofKind = (items: Notification[], kind: string) => items.filter((n) => n.kind === kind);

    before(async () => {
      t = await startTestServer(kind);
      admin = await signedInUser(t, { name: 'Admin' });
    });
    after(() => t.close());

    describe('who is told of what', () => {
      it('sharing tells the recipient (with the actions), not the owner who shared; an update by the recipient tells the owner with its name, not the actor', async () => {
        const [alice, bob] = await Promise.all([newMember('Alice'), newMember('Bob')]);
        const doc = await createResource(t, alice, { name: 'Plan', type: 'memo', data: { v: 1 } });
        await json(call(alice.token, 'POST', `/api/v1/resources/${doc.id}/shares`, { userId: bob.user.id, actions: ['read', 'update'] }), 201);

        const shared = await waitForOne(bob.token, 'resource.shared', (n) => n.payload.resourceId === doc.id);
        assert.deepEqual(Object.keys(shared).sort(), NOTIFICATION_KEYS);
        assert.equal(shared.read, false);
        assert.equal(shared.readAt, null);
        assert.ok(!Number.isNaN(Date.parse(shared.createdAt)));
        assert.deepEqual(shared.payload.actions, ['read', 'update']);
        assert.equal(shared.payload.resourceName, 'Plan');
        assert.equal(shared.payload.resourceType, 'memo');
        assert.equal(shared.payload.userId, bob.user.id);
        assert.equal(shared.payload.actorId, alice.user.id);
        assert.equal(shared.payload.actorName, alice.user.name);
        // The same event is recorded for everyone at once: alice, who shared, was told nothing.
        assert.deepEqual(ofKind(await all(alice.token), 'resource.shared'), []);

        const patched = await json<{ version: number }>(call(bob.token, 'PATCH', `/api/v1/resources/${doc.id}`, { data: { v: 2 } }));
        assert.equal(patched.version, 2);
        const updated = await waitForOne(alice.token, 'resource.updated', (n) => n.payload.resourceId === doc.id);
        assert.equal(updated.payload.version, 2);
        assert.equal(updated.payload.resourceName, 'Plan');
        assert.equal(updated.payload.actorId, bob.user.id);
        assert.equal(updated.payload.actorName, bob.user.name);
        assert.deepEqual(ofKind(await all(bob.token), 'resource.updated'), [], 'bob is not told of his own change');
      });

      it('an admin deleting a member’s resource tells its owner', async () => {
        const alice = await newMember('Alice');
        const doc = await createResource(t, alice, { name: 'Doomed', type: 'memo', data: { v: 1 } });
        assert.equal((await call(admin.token, 'DELETE', `/api/v1/resources/${doc.id}`)).statusCode, 204);
        const deleted = await waitForOne(alice.token, 'resource.deleted', (n) => n.payload.resourceId === doc.id);
        assert.equal(deleted.payload.resourceName, 'Doomed');
        assert.equal(deleted.payload.actorId, admin.user.id);
        assert.equal(deleted.payload.actorName, 'Admin');
      });

      it('a role given by an admin tells the user', async () => {
        const alice = await newMember('Alice');
        const roleName = `editors-${randomBytes(3).toString('hex')}`;
        const role = await json<{ id: string }>(call(admin.token, 'POST', '/api/v1/roles', { name: roleName }), 201);
        assert.equal((await call(admin.token, 'PUT', `/api/v1/users/${alice.user.id}/roles/${role.id}`)).statusCode, 204);
        const assigned = await waitForOne(alice.token, 'role.assigned');
        assert.equal(assigned.payload.roleId, role.id);
        assert.equal(assigned.payload.roleName, roleName);
        assert.equal(assigned.payload.actorId, admin.user.id);
        assert.equal(assigned.payload.actorName, 'Admin');
      });

      it('sharing and unsharing in a loop tells the recipient once while that news is unread, and again once it is read', async () => {
        const [alice, bob] = await Promise.all([newMember('Alice'), newMember('Bob')]);
        const doc = await createResource(t, alice, { name: 'Ping', type: 'memo', data: { v: 1 } });
        const share = () => json(call(alice.token, 'POST', `/api/v1/resources/${doc.id}/shares`, { email: bob.user.email, actions: ['read'] }), 201);
        const unshare = async () => assert.equal((await call(alice.token, 'DELETE', `/api/v1/resources/${doc.id}/shares/${bob.user.id}`)).statusCode, 204);
        await share();
        const first = await waitForOne(bob.token, 'resource.shared', (n) => n.payload.resourceId === doc.id);
        for (let i = 0; i < 5; i += 1) {
          await unshare();
          await share();
        }
        // A later share of another document is the sign that the loop's events were handled.
        const other = await createResource(t, alice, { name: 'Sentinel', type: 'memo', data: { v: 1 } });
        await json(call(alice.token, 'POST', `/api/v1/resources/${other.id}/shares`, { userId: bob.user.id, actions: ['read'] }), 201);
        await waitForOne(bob.token, 'resource.shared', (n) => n.payload.resourceId === other.id);
        const about = (await all(bob.token)).filter((n) => n.payload.resourceId === doc.id);
        assert.deepEqual(
          about.map((n) => n.id),
          [first.id],
          'one unread notification stands for the whole loop',
        );
        // Read, the next share is news again.
        await json(call(bob.token, 'POST', `${N}/${first.id}/read`));
        await unshare();
        const again = await waitForOne(bob.token, 'resource.unshared', (n) => n.payload.resourceId === doc.id);
        assert.notEqual(again.id, first.id);
      });

      it('an admin taking a share away tells the owner and the user it was taken from', async () => {
        const [alice, bob] = await Promise.all([newMember('Alice'), newMember('Bob')]);
        const doc = await createResource(t, alice, { name: 'Lent', type: 'memo', data: { v: 1 } });
        await json(call(alice.token, 'POST', `/api/v1/resources/${doc.id}/shares`, { userId: bob.user.id, actions: ['read'] }), 201);
        assert.equal((await call(admin.token, 'DELETE', `/api/v1/resources/${doc.id}/shares/${bob.user.id}`)).statusCode, 204);
        const toOwner = await waitForOne(alice.token, 'resource.unshared', (n) => n.payload.resourceId === doc.id);
        assert.equal(toOwner.payload.userId, bob.user.id);
        assert.equal(toOwner.payload.actorName, 'Admin');
        const toBob = await waitForOne(bob.token, 'resource.unshared', (n) => n.payload.resourceId === doc.id);
        assert.equal(toBob.payload.actorId, admin.user.id);
      });

      it('deleting a role tells each of its holders that they lost it', async () => {
        const [alice, bob] = await Promise.all([newMember('Alice'), newMember('Bob')]);
        const roleName = `short-lived-${randomBytes(3).toString('hex')}`;
        const role = await json<{ id: string }>(call(admin.token, 'POST', '/api/v1/roles', { name: roleName }), 201);
        for (const member of [alice, bob]) assert.equal((await call(admin.token, 'PUT', `/api/v1/users/${member.user.id}/roles/${role.id}`)).statusCode, 204);
        assert.equal((await call(admin.token, 'DELETE', `/api/v1/roles/${role.id}`)).statusCode, 204);
        for (const member of [alice, bob]) {
          const lost = await waitForOne(member.token, 'role.unassigned', (n) => n.payload.roleId === role.id);
          assert.equal(lost.payload.roleName, roleName);
          assert.equal(lost.payload.actorName, 'Admin');
        }
      });

      it('deleting a user hands its resources to another, who is told of each', async () => {
        const [leaving, heir] = await Promise.all([newMember('Leaving'), newMember('Heir')]);
        const docs = [
          await createResource(t, leaving, { name: 'Handed over 1', type: 'memo', data: { v: 1 } }),
          await createResource(t, leaving, { name: 'Handed over 2', type: 'memo', data: { v: 1 } }),
        ];
        assert.equal((await call(admin.token, 'DELETE', `/api/v1/users/${leaving.user.id}?transferTo=${heir.user.id}`)).statusCode, 204);
        const items = await waitFor(heir.token, 'both hand-overs', (list) =>
          docs.every((d) => list.some((n) => n.kind === 'resource.updated' && n.payload.resourceId === d.id)),
        );
        const told = ofKind(items, 'resource.updated').filter((n) => docs.some((d) => d.id === n.payload.resourceId));
        assert.deepEqual(
          told.map((n) => n.payload.actorId),
          [admin.user.id, admin.user.id],
        );
        assert.deepEqual(told.map((n) => n.payload.version).sort(), [1, 1], 'the data did not change');
      });

      it('every login tells the user, with the address it came from', async () => {
        const carol = await newMember('Carol');
        const first = await waitForOne(carol.token, 'login.new');
        assert.equal(first.payload.ip, '127.0.0.1');
        assert.equal(typeof first.payload.sessionId, 'string');
        assert.ok('userAgent' in first.payload);
        await login(t, carol.user.email, PASSWORD);
        const items = await waitFor(carol.token, 'a second login.new', (list) => ofKind(list, 'login.new').length === 2);
        const sessions = ofKind(items, 'login.new').map((n) => n.payload.sessionId);
        assert.equal(new Set(sessions).size, 2, 'one per session');
      });
    });

    describe('REST', () => {
      it('lists newest first in keyset pages, filters unread, marks one and all read', async () => {
        const dave = await newMember('Dave');
        for (let i = 0; i < 4; i++) await login(t, dave.user.email, PASSWORD);
        const everything = await waitFor(dave.token, 'five logins', (list) => list.length === 5);
        assert.ok(everything.every((n) => n.kind === 'login.new' && !n.read));
        for (let i = 1; i < everything.length; i++) {
          assert.ok(everything[i - 1]!.id > everything[i]!.id, 'newest first');
          assert.ok(everything[i - 1]!.createdAt >= everything[i]!.createdAt, 'newest first by time too');
        }

        // Pages of 2: full until the last, together the whole list in order.
        const pages: Notification[][] = [];
        let cursor: string | null = null;
        do {
          const page: Page<Notification> = await json<Page<Notification>>(
            call(dave.token, 'GET', `${N}?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`),
          );
          pages.push(page.items);
          cursor = page.nextCursor;
          assert.ok(pages.length < 10, 'pagination ends');
        } while (cursor !== null);
        assert.deepEqual(
          pages.map((p) => p.length),
          [2, 2, 1],
        );
        assert.deepEqual(
          pages.flat().map((n) => n.id),
          everything.map((n) => n.id),
        );

        assert.deepEqual(await json(call(dave.token, 'GET', `${N}/unread-count`)), { count: 5 });
        const target = everything[1]!;
        const marked = await json<Notification>(call(dave.token, 'POST', `${N}/${target.id}/read`));
        assert.deepEqual(Object.keys(marked).sort(), NOTIFICATION_KEYS);
        assert.equal(marked.id, target.id);
        assert.equal(marked.read, true);
        assert.ok(marked.readAt && !Number.isNaN(Date.parse(marked.readAt)), 'readAt is set');
        assert.deepEqual(marked.payload, target.payload);
        // Idempotent: marking again keeps the first readAt.
        assert.deepEqual(await json(call(dave.token, 'POST', `${N}/${target.id}/read`)), marked);

        const unread = await all(dave.token, '&unread=true');
        assert.deepEqual(
          unread.map((n) => n.id),
          everything.filter((n) => n.id !== target.id).map((n) => n.id),
        );
        assert.deepEqual(
          (await all(dave.token, '&unread=false')).map((n) => n.id),
          everything.map((n) => n.id),
          'unread=false lists all',
        );
        assert.deepEqual(
          (await all(dave.token)).find((n) => n.id === target.id),
          marked,
        );
        assert.deepEqual(await json(call(dave.token, 'GET', `${N}/unread-count`)), { count: 4 });
        // The unread filter pages too.
        const firstUnread = await json<Page<Notification>>(call(dave.token, 'GET', `${N}?unread=true&limit=3`));
        assert.deepEqual(
          firstUnread.items.map((n) => n.id),
          unread.slice(0, 3).map((n) => n.id),
        );
        const restUnread = await json<Page<Notification>>(
          call(dave.token, 'GET', `${N}?unread=true&limit=3&cursor=${encodeURIComponent(firstUnread.nextCursor!)}`),
        );
        assert.deepEqual(
          restUnread.items.map((n) => n.id),
          unread.slice(3).map((n) => n.id),
        );
        assert.equal(restUnread.nextCursor, null);

        assert.deepEqual(await json(call(dave.token, 'POST', `${N}/read-all`)), { marked: 4 });
        assert.deepEqual(await json(call(dave.token, 'POST', `${N}/read-all`)), { marked: 0 });
        assert.deepEqual(await all(dave.token, '&unread=true'), []);
        assert.deepEqual(await json(call(dave.token, 'GET', `${N}/unread-count`)), { count: 0 });
        const settled = await all(dave.token);
        assert.equal(settled.length, 5);
        assert.ok(settled.every((n) => n.read && n.readAt !== null));
        assert.equal(settled.find((n) => n.id === target.id)!.readAt, marked.readAt, 'read-all leaves the first readAt');
      });

      it('refuses bad list parameters with 400 naming the field', async () => {
        const erin = await newMember('Erin');
        assertInvalidField(await call(erin.token, 'GET', `${N}?limit=0`), /^limit$/);
        assertInvalidField(await call(erin.token, 'GET', `${N}?limit=101`), /^limit$/);
        assertInvalidField(await call(erin.token, 'GET', `${N}?limit=two`), /^limit$/);
        assertInvalidField(await call(erin.token, 'GET', `${N}?unread=maybe`), /^unread$/);
        assertInvalidField(await call(erin.token, 'GET', `${N}?cursor=not-a-cursor`), /^cursor$/);
        assertInvalidField(await call(erin.token, 'GET', `${N}?sort=asc`), /^sort$/);
      });

      it('someone else’s, unknown and malformed ids are all 404, alike', async () => {
        const [alice, bob] = await Promise.all([newMember('Alice'), newMember('Bob')]);
        const hers = await waitForOne(alice.token, 'login.new');
        const others = assertProblem(await call(bob.token, 'POST', `${N}/${hers.id}/read`), 404, 'NOT_FOUND');
        const unknown = assertProblem(await call(bob.token, 'POST', `${N}/${newId()}/read`), 404, 'NOT_FOUND');
        const malformed = assertProblem(await call(bob.token, 'POST', `${N}/not-an-id/read`), 404, 'NOT_FOUND');
        assert.deepEqual(problemIdentity(others), problemIdentity(unknown));
        assert.deepEqual(problemIdentity(others), problemIdentity(malformed));
        assert.equal((await all(alice.token)).find((n) => n.id === hers.id)!.read, false, 'still unread');
        // Bob's read-all touches only his own.
        await waitForOne(bob.token, 'login.new');
        assert.deepEqual(await json(call(bob.token, 'POST', `${N}/read-all`)), { marked: 1 });
        assert.equal((await all(alice.token)).find((n) => n.id === hers.id)!.read, false, 'still unread after bob’s read-all');
      });

      it('keeps email preferences per user, and validates them', async () => {
        const [frank, grace] = await Promise.all([newMember('Frank'), newMember('Grace')]);
        const P = `${N}/preferences`;
        assert.deepEqual(await json(call(frank.token, 'GET', P)), { email: [] });
        // Duplicates collapse; the answer lists kinds in their documented order.
        assert.deepEqual(await json(call(frank.token, 'PUT', P, { email: ['login.new', 'resource.updated', 'login.new'] })), {
          email: ['resource.updated', 'login.new'],
        });
        assert.deepEqual(await json(call(frank.token, 'GET', P)), { email: ['resource.updated', 'login.new'] });
        assert.deepEqual(await json(call(grace.token, 'GET', P)), { email: [] }, 'another user’s are untouched');

        assertInvalidField(await call(frank.token, 'PUT', P, { email: ['resource.updated', 'resource.exploded'] }), /^email$/);
        assertInvalidField(await call(frank.token, 'PUT', P, { email: 'login.new' }), /^email$/);
        assertInvalidField(await call(frank.token, 'PUT', P, {}), /^email$/);
        assertInvalidField(await call(frank.token, 'PUT', P, { email: [], sms: ['login.new'] }), /^sms$/);
        assert.deepEqual(await json(call(frank.token, 'GET', P)), { email: ['resource.updated', 'login.new'] }, 'a refused change changes nothing');

        assert.deepEqual(await json(call(frank.token, 'PUT', P, { email: [] })), { email: [] });
        assert.deepEqual(await json(call(frank.token, 'GET', P)), { email: [] });
      });

      it('answers 401 without a token', async () => {
        const id = newId();
        const requests: [string, string, unknown?][] = [
          ['GET', N],
          ['GET', `${N}?unread=true`],
          ['GET', `${N}/unread-count`],
          ['POST', `${N}/${id}/read`],
          ['POST', `${N}/read-all`],
          ['GET', `${N}/preferences`],
          ['PUT', `${N}/preferences`, { email: [] }],
        ];
        for (const [method, url, payload] of requests) {
          const response = await t.app.inject({ method: method as 'GET', url, ...(payload === undefined ? {} : { payload: payload as object }) });
          assertProblem(response, 401, 'UNAUTHORIZED');
        }
      });

      it('is documented in the OpenAPI description', async () => {
        const doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
          paths: Record<string, Record<string, { summary?: string; security?: unknown }>>;
          components: { schemas: Record<string, unknown> };
        };
        const routes: [string, string][] = [
          ['/api/v1/notifications', 'get'],
          ['/api/v1/notifications/unread-count', 'get'],
          ['/api/v1/notifications/read-all', 'post'],
          ['/api/v1/notifications/preferences', 'get'],
          ['/api/v1/notifications/preferences', 'put'],
          ['/api/v1/notifications/{id}/read', 'post'],
        ];
        for (const [path, method] of routes) {
          const operation = doc.paths[path]?.[method];
          assert.ok(operation, `${method.toUpperCase()} ${path} is documented`);
          assert.ok(operation.summary, `${method.toUpperCase()} ${path} has a summary`);
          assert.ok(operation.security, `${method.toUpperCase()} ${path} says it needs a token`);
        }
        assert.ok(doc.components.schemas.Notification, 'Notification is a component');
        assert.ok(doc.components.schemas.NotificationPreferences, 'NotificationPreferences is a component');
      });
    });

    describe('GraphQL', () => {
      it('lists, pages and counts; tells a share made through GraphQL; marks one and all read', async () => {
        const [alice, bob] = await Promise.all([newMember('Alice'), newMember('Bob')]);
        // Bob's login is told first, so the order below is known.
        await waitForOne(bob.token, 'login.new');
        const doc = await createResource(t, alice, { name: 'Shared over GraphQL', type: 'memo', data: { v: 1 } });
        await data(
          t,
          'mutation Share($id: ID!, $userId: ID!) { shareResource(id: $id, userId: $userId, actions: ["read"]) { userId } }',
          { id: doc.id, userId: bob.user.id },
          alice.token,
        );
        await waitForOne(bob.token, 'resource.shared', (n) => n.payload.resourceId === doc.id);

        const list = async (variables: Record<string, unknown>) =>
          (await data<{ notifications: Connection<Notification> }>(t, LIST, variables, bob.token)).notifications;
        const whole = await list({});
        assert.equal(whole.edges.length, 2);
        assert.equal(whole.unreadCount, 2);
        assert.equal(whole.pageInfo.hasNextPage, false);
        const [shared, loggedIn] = whole.edges.map((e) => e.node) as [Notification, Notification];
        assert.equal(shared.kind, 'resource.shared', 'newest first');
        assert.deepEqual(shared.payload.actions, ['read']);
        assert.equal(shared.payload.actorName, alice.user.name);
        assert.equal(shared.read, false);
        assert.equal(shared.readAt, null);
        assert.equal(loggedIn.kind, 'login.new');
        assert.deepEqual(Object.keys(shared).sort(), NOTIFICATION_KEYS);

        const first = await list({ first: 1 });
        assert.deepEqual(
          first.edges.map((e) => e.node.id),
          [shared.id],
        );
        assert.equal(first.pageInfo.hasNextPage, true);
        assert.equal(first.edges[0]!.cursor, first.pageInfo.endCursor);
        const second = await list({ first: 1, after: first.pageInfo.endCursor });
        assert.deepEqual(
          second.edges.map((e) => e.node.id),
          [loggedIn.id],
        );
        assert.equal(second.pageInfo.hasNextPage, false);
        assert.equal(second.pageInfo.endCursor, null);

        const marked = (await data<{ markNotificationRead: Notification }>(t, MARK, { id: loggedIn.id }, bob.token)).markNotificationRead;
        assert.equal(marked.id, loggedIn.id);
        assert.equal(marked.read, true);
        assert.ok(marked.readAt && !Number.isNaN(Date.parse(marked.readAt)));
        const unread = await list({ unread: true });
        assert.deepEqual(
          unread.edges.map((e) => e.node.id),
          [shared.id],
        );
        assert.equal(unread.unreadCount, 1);
        assert.equal((await list({})).unreadCount, 1, 'unreadCount counts unread whatever the filter');

        assert.deepEqual(await data(t, MARK_ALL, undefined, bob.token), { markAllNotificationsRead: 1 });
        assert.deepEqual(await data(t, MARK_ALL, undefined, bob.token), { markAllNotificationsRead: 0 });
        const none = await list({ unread: true });
        assert.deepEqual(none.edges, []);
        assert.equal(none.unreadCount, 0);
        assert.deepEqual(none.pageInfo, { hasNextPage: false, endCursor: null });
      });

      it('says NOT_FOUND for someone else’s or an unknown id, INVALID_INPUT for a bad page, UNAUTHORIZED without a token', async () => {
        const [alice, bob] = await Promise.all([newMember('Alice'), newMember('Bob')]);
        const hers = await waitForOne(alice.token, 'login.new');
        for (const id of [hers.id, newId(), 'not-an-id']) {
          const { status, body } = await gql(t, MARK, { id }, bob.token);
          assert.equal(status, 200, JSON.stringify(body));
          assert.equal(body.data ?? null, null);
          assertGraphqlError(body, 'NOT_FOUND');
        }
        assert.equal((await all(alice.token)).find((n) => n.id === hers.id)!.read, false, 'still unread');

        for (const variables of [{ first: 0 }, { first: 101 }, { after: 'not-a-cursor' }]) {
          assertGraphqlError((await gql(t, LIST, variables, bob.token)).body, 'INVALID_INPUT');
        }

        assertGraphqlError((await gql(t, LIST, {})).body, 'UNAUTHORIZED');
        assertGraphqlError((await gql(t, MARK, { id: hers.id })).body, 'UNAUTHORIZED');
        assertGraphqlError((await gql(t, MARK_ALL)).body, 'UNAUTHORIZED');
        assertGraphqlError((await gql(t, PREFERENCES)).body, 'UNAUTHORIZED');
        assertGraphqlError((await gql(t, SET_PREFERENCES, { email: [] })).body, 'UNAUTHORIZED');
      });

      it('reads and replaces email preferences, refusing unknown kinds', async () => {
        const heidi = await newMember('Heidi');
        assert.deepEqual(await data(t, PREFERENCES, undefined, heidi.token), { notificationPreferences: { email: [] } });
        assert.deepEqual(await data(t, SET_PREFERENCES, { email: ['role.assigned', 'resource.shared'] }, heidi.token), {
          setNotificationPreferences: { email: ['resource.shared', 'role.assigned'] },
        });
        assert.deepEqual(await data(t, PREFERENCES, undefined, heidi.token), { notificationPreferences: { email: ['resource.shared', 'role.assigned'] } });
        // The same preferences as REST's.
        assert.deepEqual(await json(call(heidi.token, 'GET', `${N}/preferences`)), { email: ['resource.shared', 'role.assigned'] });

        const refused = assertGraphqlError((await gql(t, SET_PREFERENCES, { email: ['resource.exploded'] }, heidi.token)).body, 'INVALID_INPUT');
        assert.ok(
          refused.extensions.errors?.some((e) => e.field === 'email'),
          JSON.stringify(refused),
        );
        assert.deepEqual(await data(t, PREFERENCES, undefined, heidi.token), { notificationPreferences: { email: ['resource.shared', 'role.assigned'] } });
        assert.deepEqual(await data(t, SET_PREFERENCES, { email: [] }, heidi.token), { setNotificationPreferences: { email: [] } });
      });
    });
  });
}
