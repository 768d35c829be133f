import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { createClient, PcfAbortError, PcfConflictError, PcfError, type PcfClient } from '../../sdk/src/index.js';
import { DATABASE_KINDS } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The SDK against a real server, over real sockets: the quick start, every namespace's
 * routes, pagination, conflicts, typed errors, 429 and cancellation. Retries after lost
 * answers are in retries.test.ts; live subscriptions in live.test.ts; a browser in browser.test.ts.
 */

let serial = 0;
const account = (name: string) => {
  serial += 1;
  return { email: `${name.toLowerCase()}.${serial}@sdk.example`, name, password: `${name} has a long passphrase` };
};

/** A client signed in as a new account (the first one of a server is its admin). */
async function signedIn(
  url: string,
  name: string,
  options: Partial<Parameters<typeof createClient>[0]> = {},
): Promise<PcfClient & { me: string; password: string; email: string }> {
  const pcf = createClient({ url, ...options });
  const input = account(name);
  const user = await pcf.auth.register(input);
  await pcf.auth.login({ email: input.email, password: input.password });
  return Object.assign(pcf, { me: user.id, password: input.password, email: user.email });
}

for (const kind of DATABASE_KINDS) {
  describe(`SDK over REST (${kind})`, () => {
    let t: TestServer;
    let admin: PcfClient & { me: string };

    before(async () => {
      t = await startTestServer(kind);
      admin = await signedIn(t.url, 'Admin');
    });
    after(() => t.close());

    it('runs the quick start: register, login, create, get, update, list', async () => {
      const pcf = createClient({ url: t.url });
      const input = account('Ada');
      const user = await pcf.auth.register(input);
      assert.equal(user.email, input.email);
      assert.equal(await pcf.auth.signedIn(), false);
      const session = await pcf.auth.login({ email: input.email, password: input.password });
      assert.equal(session.user.id, user.id);
      assert.equal('token' in session, false, 'the token goes to storage, not to the caller');
      assert.equal(await pcf.auth.signedIn(), true);

      const doc = await pcf.resources.create({ name: 'Notes', type: 'doc', data: { text: 'hello' } });
      assert.deepEqual([doc.version, doc.revision, doc.ownerId], [1, 1, user.id]);
      const read = await pcf.resources.get(doc.id);
      assert.deepEqual(read.data, { text: 'hello' });
      const updated = await pcf.resources.update(read, { data: { text: 'hello, world' } });
      assert.deepEqual([updated.version, updated.revision], [2, 2]);
      // By id alone, If-Match is the revision this client saw last.
      const renamed = await pcf.resources.update(doc.id, { name: 'Renamed' });
      assert.deepEqual([renamed.name, renamed.version, renamed.revision], ['Renamed', 2, 3]);
      const listed = await pcf.resources.list({ type: 'doc' }).all();
      assert.deepEqual(
        listed.map((r) => [r.id, r.name]),
        [[doc.id, 'Renamed']],
      );

      const me = await pcf.auth.me();
      assert.equal(me.user.id, user.id);
      await pcf.auth.logout();
      assert.equal(await pcf.auth.signedIn(), false);
      await assert.rejects(pcf.auth.me(), (err: unknown) => err instanceof PcfError && err.code === 'UNAUTHORIZED' && err.status === 401);
    });

    it('walks every page of a list of 250, and gives one page on request', async () => {
      const pcf = await signedIn(t.url, 'Pager');
      const type = `page-${kind}`;
      for (let batch = 0; batch < 25; batch += 1) {
        await Promise.all(
          Array.from({ length: 10 }, (_, i) => pcf.resources.create({ name: `Item ${String(batch * 10 + i).padStart(3, '0')}`, type, data: {} })),
        );
      }
      const seen: string[] = [];
      for await (const item of pcf.resources.list({ type })) seen.push(item.id);
      assert.equal(seen.length, 250);
      assert.equal(new Set(seen).size, 250, 'no item twice');

      const first = await pcf.resources.list({ type, limit: 40 }).page();
      assert.equal(first.items.length, 40);
      assert.ok(first.nextCursor);
      const second = await pcf.resources.list({ type, limit: 40 }).page(first.nextCursor);
      assert.deepEqual(
        second.items.map((r) => r.id),
        seen.slice(40, 80),
      );
      // An early break stops fetching.
      let taken = 0;
      for await (const _ of pcf.resources.list({ type, limit: 10 })) if (++taken === 15) break;
      assert.equal(taken, 15);
    });

    it('surfaces a lost update as PcfConflictError carrying the current version', async () => {
      const alice = await signedIn(t.url, 'Alice');
      const bob = await signedIn(t.url, 'Bob');
      const doc = await alice.resources.create({ name: 'Shared', type: 'doc', data: { n: 0 } });
      await alice.resources.share(doc.id, { userId: bob.me, actions: ['read', 'update'] });
      const aliceCopy = await alice.resources.get(doc.id);
      const bobCopy = await bob.resources.get(doc.id);

      const fromAlice = await alice.resources.update(aliceCopy, { data: { n: 1 } });
      const conflict = await bob.resources.update(bobCopy, { data: { n: 2 } }).then(
        () => assert.fail('the second edit must conflict'),
        (err: unknown) => err,
      );
      assert.ok(conflict instanceof PcfConflictError);
      assert.ok(conflict instanceof PcfError);
      assert.equal(conflict.status, 412);
      assert.equal(conflict.code, 'PRECONDITION_FAILED');
      assert.match(conflict.traceId ?? '', /^[0-9a-f]{32}$/);
      assert.equal(conflict.current?.revision, fromAlice.revision);
      assert.equal(conflict.current?.version, 2);
      assert.deepEqual(conflict.current?.data, { n: 1 });
      // Merged onto the current version, the edit goes through.
      const merged = await bob.resources.update(conflict.current!, { data: { n: 3 } });
      assert.equal(merged.version, 3);
      // By id, the client remembers the revision it got in the conflict: no stale If-Match.
      assert.equal((await bob.resources.update(doc.id, { name: 'Bob was here' })).name, 'Bob was here');
      // An explicit blind write says so.
      assert.equal((await alice.resources.update(doc.id, { name: 'Overwritten' }, { revision: '*' })).name, 'Overwritten');
    });

    it('asks for the revision an update is based on when it never read the resource', async () => {
      const pcf = await signedIn(t.url, 'Forgetful');
      const other = createClient({ url: t.url, storage: { get: () => null, set: () => undefined } });
      const doc = await pcf.resources.create({ name: 'X', type: 'doc', data: 1 });
      await assert.rejects(
        other.resources.update(doc.id, { name: 'Y' }),
        (err: unknown) => err instanceof PcfError && err.code === 'INVALID_INPUT' && err.status === 0,
      );
    });

    it('covers versions, diff, restore and shares', async () => {
      const owner = await signedIn(t.url, 'Owner');
      const reader = await signedIn(t.url, 'Reader');
      const doc = await owner.resources.create({ name: 'History', type: 'doc', data: { a: 1 } });
      await owner.resources.update(doc, { data: { a: 2 } });
      const versions = await owner.resources.versions(doc.id).all();
      assert.deepEqual(
        versions.map((v) => v.version),
        [2, 1],
      );
      assert.deepEqual((await owner.resources.version(doc.id, 1)).data, { a: 1 });
      assert.deepEqual(await owner.resources.diff(doc.id, 1, 2), [{ op: 'replace', path: '/a', value: 2 }]);
      const restored = await owner.resources.restore(doc.id, 1);
      assert.deepEqual([restored.version, restored.data], [3, { a: 1 }]);

      await assert.rejects(reader.resources.get(doc.id), (err: unknown) => err instanceof PcfError && err.code === 'NOT_FOUND');
      const share = await owner.resources.share(doc.id, { userId: reader.me, actions: ['read'] });
      assert.equal(share.userId, reader.me);
      assert.deepEqual(
        (await owner.resources.shares(doc.id)).map((s) => s.userId),
        [reader.me],
      );
      assert.equal((await reader.resources.get(doc.id)).id, doc.id);
      await owner.resources.unshare(doc.id, reader.me);
      assert.deepEqual(await owner.resources.shares(doc.id), []);
      // By email instead of id; the list names each user.
      const byEmail = await owner.resources.share(doc.id, { email: reader.email.toUpperCase(), actions: ['update'] });
      assert.deepEqual(byEmail, { userId: reader.me, name: 'Reader', actions: ['read', 'update'] });
      assert.deepEqual(await owner.resources.shares(doc.id), [byEmail]);
      await assert.rejects(
        owner.resources.share(doc.id, { email: 'nobody@sdk.example', actions: ['read'] }),
        (err: unknown) => err instanceof PcfError && err.code === 'NOT_FOUND' && err.status === 404,
      );
      await owner.resources.unshare(doc.id, reader.me);
      await owner.resources.delete(doc.id);
      await assert.rejects(owner.resources.get(doc.id), (err: unknown) => err instanceof PcfError && err.status === 404);
    });

    it('covers users, roles, permissions, sessions and notifications', async () => {
      const created = await admin.users.create(account('Member'));
      assert.equal((await admin.users.get(created.id)).id, created.id);
      assert.ok((await admin.users.list().all()).some((u) => u.id === created.id));
      assert.equal((await admin.users.update(created.id, { name: 'Member Renamed' })).name, 'Member Renamed');

      const role = await admin.roles.create({ name: `editors-${kind}`, description: 'Edit docs' });
      assert.equal((await admin.roles.update(role.id, { description: 'Edit all docs' })).description, 'Edit all docs');
      const viaRole = await admin.permissions.grant({ roleId: role.id }, { resourceType: 'doc', action: 'update' });
      assert.deepEqual(
        (await admin.roles.get(role.id)).permissions.map((p) => p.id),
        [viaRole.id],
      );
      assert.ok((await admin.roles.list().all()).some((r) => r.id === role.id));
      await admin.users.assignRole(created.id, role.id);
      const direct = await admin.permissions.grant({ userId: created.id }, { resourceType: 'note', action: 'read' });
      assert.equal(direct.action, 'read');
      await admin.permissions.revoke({ userId: created.id }, direct.id);
      await admin.users.unassignRole(created.id, role.id);
      await admin.permissions.revoke({ roleId: role.id }, viaRole.id);
      await admin.roles.delete(role.id);
      await admin.users.delete(created.id);
      await assert.rejects(admin.users.get(created.id), (err: unknown) => err instanceof PcfError && err.code === 'NOT_FOUND');
      assert.ok((await admin.permissions.mine()).some((p) => p.action === 'manage'));

      // What a permission would match, before granting it: `${user.id}` stands for userId.
      const owner = await signedIn(t.url, 'Previewed');
      const note = await owner.resources.create({ name: 'Previewed note', type: `note-${kind}`, data: {} });
      await owner.resources.create({ name: 'Other type', type: 'doc', data: {} });
      const preview = await admin.permissions.preview({
        resourceType: `note-${kind}`,
        action: 'read',
        conditions: { ownerId: '${user.id}' },
        userId: owner.me,
        limit: 5,
      });
      assert.deepEqual([preview.conditions, preview.matches.map((m) => m.id), preview.more], [{ ownerId: '${user.id}' }, [note.id], false]);
      await assert.rejects(
        admin.permissions.preview({ resourceType: 'doc', action: 'read', conditions: { name: { $regex: 'a' } } }),
        (err: unknown) => err instanceof PcfError && err.code === 'INVALID_INPUT' && err.errors.some((e) => e.field === 'conditions/name/$regex'),
      );
      await assert.rejects(
        owner.permissions.preview({ resourceType: 'doc', action: 'read' }),
        (err: unknown) => err instanceof PcfError && err.code === 'FORBIDDEN',
      );

      const sessions = await admin.auth.sessions();
      assert.ok(sessions.some((s) => s.current));
      const second = createClient({ url: t.url });
      const input = account('Twice');
      await second.auth.register(input);
      await second.auth.login({ email: input.email, password: input.password });
      const again = createClient({ url: t.url });
      await again.auth.login({ email: input.email, password: input.password });
      const mine = await second.auth.sessions();
      const other = mine.find((s) => !s.current)!;
      await second.auth.revokeSession(other.id);
      await assert.rejects(again.auth.me(), (err: unknown) => err instanceof PcfError && err.code === 'UNAUTHORIZED');
      await second.auth.changePassword({ currentPassword: input.password, newPassword: 'a brand new passphrase' });
      assert.equal((await second.auth.me()).user.email, input.email);
      const invitation = await admin.auth.invite({ email: `invited.${kind}@sdk.example` });
      assert.ok(invitation.token);

      const preferences = await second.notifications.preferences.set({ email: ['login.new'] });
      assert.deepEqual(preferences.email, ['login.new']);
      assert.deepEqual((await second.notifications.preferences.get()).email, ['login.new']);
      // Logins make notifications within about a second of the event.
      await second.auth.login({ email: input.email, password: 'a brand new passphrase' });
      let unread = 0;
      for (const deadline = Date.now() + 10_000; unread === 0 && Date.now() < deadline;) {
        unread = await second.notifications.unreadCount();
        if (unread === 0) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(unread > 0, 'a login.new notification arrived');
      const [newest] = await second.notifications.list({ unread: true }).all();
      assert.equal((await second.notifications.markRead(newest!.id)).read, true);
      assert.ok(!(await second.notifications.list({ unread: true }).all()).some((n) => n.id === newest!.id));
      // Other logins' notifications may still be arriving: the count is of those unread at the time.
      assert.equal(typeof (await second.notifications.markAllRead()), 'number');
      assert.ok((await second.notifications.list().all()).some((n) => n.read));
      assert.equal((await second.info()).graphql, '/graphql');
    });

    it('gives every failure as a typed PcfError with code, status, field errors and trace id, never with the token', async () => {
      const pcf = await signedIn(t.url, 'Careless');
      const invalid = await pcf.resources.create({ name: '', type: 'doc', data: {}, metadata: 'not an object' as never }).then(
        () => assert.fail('must be refused'),
        (err: unknown) => err,
      );
      assert.ok(invalid instanceof PcfError);
      assert.equal(invalid.code, 'INVALID_INPUT');
      assert.equal(invalid.status, 400);
      assert.ok(invalid.errors.length > 0, 'field errors');
      assert.ok(invalid.errors.every((e) => typeof e.field === 'string' && typeof e.message === 'string'));
      assert.match(invalid.traceId ?? '', /^[0-9a-f]{32}$/);

      const wrong = createClient({ url: t.url });
      const refused = await wrong.auth.login({ email: 'nobody@sdk.example', password: 'secret passphrase 123' }).then(
        () => assert.fail('must be refused'),
        (err: unknown) => err as PcfError,
      );
      assert.equal(refused.code, 'UNAUTHORIZED');
      const printed = [refused.message, JSON.stringify(refused), inspect(refused), String(refused.stack)].join('\n');
      assert.doesNotMatch(printed, /secret passphrase 123/);

      // The token itself: stored by login, sent on every call, printed nowhere.
      let token = '';
      const spy = createClient({ url: t.url, storage: { get: () => token || null, set: (v) => void (token = v ?? '') } });
      const input = account('Spy');
      await spy.auth.register(input);
      await spy.auth.login({ email: input.email, password: input.password });
      assert.match(token, /^pcf_/);
      const notFound = await spy.resources.get('00000000-0000-4000-8000-000000000000').then(
        () => assert.fail('must be 404'),
        (err: unknown) => err as PcfError,
      );
      assert.equal(notFound.code, 'NOT_FOUND');
      for (const text of [notFound.message, JSON.stringify(notFound), inspect(notFound), String(notFound.stack), inspect(spy, { depth: 10 })]) {
        assert.equal(text.includes(token), false, 'the token is not printed');
      }
    });

    it('aborts a call cleanly with its AbortSignal', async () => {
      const pcf = await signedIn(t.url, 'Impatient');
      const controller = new AbortController();
      controller.abort(new Error('user left'));
      await assert.rejects(pcf.resources.get('x', { signal: controller.signal }), (err: unknown) => err instanceof PcfAbortError && err.code === 'ABORTED');
      // Aborted while the request is in flight: the call rejects at once, and nothing is created.
      const inFlight = new AbortController();
      const creating = pcf.resources.create({ name: 'Never', type: 'aborted', data: { big: 'x'.repeat(200_000) } }, { signal: inFlight.signal });
      inFlight.abort();
      await assert.rejects(creating, (err: unknown) => err instanceof PcfAbortError);
    });
  });
}

for (const kind of DATABASE_KINDS) {
  describe(`SDK and rate limits (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer(kind, { config: { 'rateLimit.windowSeconds': 1, 'rateLimit.userPerWindow': 5 } });
    });
    after(() => t.close());

    it('waits out a 429 as RateLimit and Retry-After say, within maxRetryWaitMs, and throws past it', async () => {
      const patient = await signedIn(t.url, 'Patient', { maxRetryWaitMs: 10_000 });
      // Twenty reads against a budget of five a second: each refused one waits for the next window.
      const reads = await Promise.all(Array.from({ length: 20 }, () => patient.auth.me()));
      assert.equal(reads.length, 20);

      const hasty = await signedIn(t.url, 'Hasty', { maxRetryWaitMs: 0 });
      const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => hasty.auth.me()));
      const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => o.reason as PcfError);
      assert.ok(refused.length > 0, 'some were refused');
      for (const err of refused) {
        assert.ok(err instanceof PcfError);
        assert.equal(err.code, 'RATE_LIMITED');
        assert.equal(err.status, 429);
        assert.ok((err.retryAfterMs ?? 0) >= 1000, 'says how long to wait');
      }
    });
  });
}
