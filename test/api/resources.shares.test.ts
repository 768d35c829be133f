import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DATABASE_KINDS } from '../support/databases.js';
import { gql } from '../support/graphql.js';
import { createResource, signedInUser, type Resource, type Session } from '../support/factories.js';
import { as, assertInvalidField, assertProblem } from '../support/identity.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { statementCounter } from '../support/statements.js';

/**
 * Shares (docs/limits.md "Shares and permissions"): memory is bounded per user, not per grant change; no share with
 * oneself; caps per resource and per recipient; a recipient may give a share back; a user's
 * list with many shares stays correct and is one query with one share predicate.
 */
const R = '/api/v1/resources';
const PER_RESOURCE = 3;
const PER_USER = 40;
/** Shares one user may receive from one owner: a tenth of PER_USER (docs/limits.md). */
const PER_OWNER = 4;

interface Share {
  userId: string;
  name: string;
  actions: string[];
}

for (const kind of DATABASE_KINDS) {
  describe(`resource shares (${kind})`, () => {
    let t: TestServer;
    let admin: Session;
    let alice: Session;
    let bob: Session;
    let carol: Session;
    let dave: Session;
    /** Users signed in on this server: each may have one compiled ability. */
    let signedIn = 0;
    /** A new user, signed in. */
    const member = async (name: string): Promise<Session> => {
      const session = await signedInUser(t, { name });
      signedIn++;
      return session;
    };

    before(async () => {
      t = await startTestServer(kind, { config: { 'resources.maxSharesPerResource': PER_RESOURCE, 'resources.maxSharesPerUser': PER_USER } });
      const sessions: Session[] = [];
      for (const name of ['Admin', 'Alice', 'Bob', 'Carol', 'Dave']) sessions.push(await member(name));
      [admin, alice, bob, carol, dave] = sessions as [Session, Session, Session, Session, Session];
    });
    after(() => t.close());

    const create = (owner: Session, name = 'Doc'): Promise<Resource> => createResource(t, owner, { name });
    const share = (by: Session, id: string, userId: string, actions: string[] = ['read']) => as(t, by.token, 'POST', `${R}/${id}/shares`, { userId, actions });
    const shared = async (by: Session, id: string, userId: string, actions: string[] = ['read']) => {
      const r = await share(by, id, userId, actions);
      assert.equal(r.statusCode, 201, r.body);
      return r.json() as Share;
    };
    /** The share with this user as the API answers it: who it is, and the actions. */
    const shareOf = (s: Session, actions: string[]): Share => ({ userId: s.user.id, name: s.user.name, actions });
    const sharesOf = async (id: string) => ((await as(t, alice.token, 'GET', `${R}/${id}/shares`)).json() as { items: Share[] }).items;
    const listIds = async (s: Session) => {
      const r = await as(t, s.token, 'GET', `${R}?limit=100`);
      assert.equal(r.statusCode, 200, r.body);
      return (r.json() as { items: Resource[] }).items.map((i) => i.id).sort();
    };
    const compiledAbilities = async () => {
      const text = (await t.app.inject({ method: 'GET', url: '/metrics' })).body;
      return Number(/^compiled_abilities (\d+)$/m.exec(text)?.[1] ?? NaN);
    };

    it('refuses a share with oneself or with the owner (400 on userId), over REST and GraphQL, and stores nothing', async () => {
      const doc = await create(alice);
      const self = assertInvalidField(await share(alice, doc.id, alice.user.id), /^userId$/);
      assert.match(JSON.stringify(self.errors), /shared with oneself/);
      assert.equal(self.detail, 'A resource cannot be shared with yourself or with its owner.');
      // An administrator may share alice's resource, but not with alice: she owns it.
      assertInvalidField(await share(admin, doc.id, alice.user.id), /^userId$/);
      assertInvalidField(await share(admin, doc.id, admin.user.id), /^userId$/);
      const viaGraphql = await gql(
        t,
        'mutation($id: ID!, $u: ID!) { shareResource(id: $id, userId: $u, actions: ["read"]) { userId } }',
        { id: doc.id, u: alice.user.id },
        alice.token,
      );
      assert.equal(viaGraphql.body.errors?.[0]?.extensions.code, 'INVALID_INPUT', JSON.stringify(viaGraphql.body));
      assert.deepEqual(await sharesOf(doc.id), []);
    });

    it('shares by email as by id, and lists each user by name as it is now (never the email); unknown email 404, both or neither field 400', async () => {
      const doc = await create(alice);
      const byEmail = (by: Session, body: Record<string, unknown>) => as(t, by.token, 'POST', `${R}/${doc.id}/shares`, { actions: ['read'], ...body });
      // Normalised as accounts are: trimmed and case-insensitive.
      const made = await byEmail(alice, { email: `  ${bob.user.email.toUpperCase()} `, actions: ['update'] });
      assert.equal(made.statusCode, 201, made.body);
      assert.deepEqual(made.json(), shareOf(bob, ['read', 'update']));
      assert.equal((await as(t, bob.token, 'PATCH', `${R}/${doc.id}`, { name: 'Edited by bob' })).statusCode, 200, 'the share grants what it says');
      // The userId path is unchanged, and answers the same shape.
      assert.deepEqual(await shared(alice, doc.id, carol.user.id), shareOf(carol, ['read']));
      // The list reads each user's name with the shares, not as it was when shared; no email.
      const erin = await member('Erin');
      assert.equal((await byEmail(alice, { email: erin.user.email })).statusCode, 201);
      const renamed = await as(t, erin.token, 'PATCH', `/api/v1/users/${erin.user.id}`, { name: 'Erin Renamed' });
      assert.equal(renamed.statusCode, 200, renamed.body);
      const expected = [shareOf(bob, ['read', 'update']), shareOf(carol, ['read']), { ...shareOf(erin, ['read']), name: 'Erin Renamed' }];
      assert.deepEqual(await sharesOf(doc.id), expected);

      // An unknown address is 404, and the problem does not repeat it.
      const unknown = await byEmail(alice, { email: 'Nobody.Here@example.com' });
      assertProblem(unknown, 404, 'NOT_FOUND');
      assert.doesNotMatch(unknown.body, /nobody\.here/i);
      // Exactly one of userId and email.
      const both = assertInvalidField(await byEmail(alice, { userId: dave.user.id, email: dave.user.email }), /^email$/);
      assert.ok(
        both.errors!.some((e) => e.field === 'userId'),
        JSON.stringify(both.errors),
      );
      assertInvalidField(await byEmail(alice, {}), /^userId$/);
      assertInvalidField(await byEmail(alice, { email: 'not an address' }), /^email$/);
      // Oneself and the owner, named by email, are refused as by id, on the email field.
      const self = assertInvalidField(await byEmail(alice, { email: alice.user.email }), /^email$/);
      assert.equal(self.detail, 'A resource cannot be shared with yourself or with its owner.');
      assertInvalidField(await byEmail(admin, { email: alice.user.email }), /^email$/);
      // Who may not share the resource learns nothing of an address: refused before any lookup.
      for (const email of [dave.user.email, 'nobody.here@example.com']) assertProblem(await byEmail(bob, { email }), 403, 'FORBIDDEN');
      // Nor may a recipient list who else holds the resource, with their emails.
      assertProblem(await as(t, bob.token, 'GET', `${R}/${doc.id}/shares`), 403, 'FORBIDDEN');
      assert.deepEqual(await sharesOf(doc.id), expected, 'nothing refused was stored');

      // GraphQL's shareResource takes the same email argument, and the same rules.
      const other = await create(alice);
      const viaGraphql = await gql<{ shareResource: Share }>(
        t,
        'mutation($id: ID!, $e: String) { shareResource(id: $id, email: $e, actions: ["read"]) { userId name actions } }',
        { id: other.id, e: dave.user.email.toUpperCase() },
        alice.token,
      );
      assert.deepEqual(viaGraphql.body.data?.shareResource, shareOf(dave, ['read']), JSON.stringify(viaGraphql.body.errors));
      const ambiguous = await gql(
        t,
        'mutation($id: ID!, $u: ID, $e: String) { shareResource(id: $id, userId: $u, email: $e, actions: ["read"]) { userId } }',
        { id: other.id, u: carol.user.id, e: carol.user.email },
        alice.token,
      );
      assert.equal(ambiguous.body.errors?.[0]?.extensions.code, 'INVALID_INPUT', JSON.stringify(ambiguous.body));
      const nobody = await gql(
        t,
        'mutation($id: ID!) { shareResource(id: $id, email: "nobody.here@example.com", actions: ["read"]) { userId } }',
        { id: other.id },
        alice.token,
      );
      assert.equal(nobody.body.errors?.[0]?.extensions.code, 'NOT_FOUND', JSON.stringify(nobody.body));
    });

    it('caps the users one resource is shared with (409 naming resources.maxSharesPerResource); sharing again adds to the one share', async () => {
      const doc = await create(alice);
      for (const user of [bob, carol, admin]) await shared(alice, doc.id, user.user.id);
      const refused = assertProblem(await share(alice, doc.id, dave.user.id), 409, 'CONFLICT');
      assert.match(refused.detail, /resources\.maxSharesPerResource/);
      assert.match(refused.detail, new RegExp(`${PER_RESOURCE} users`));
      const viaGraphql = await gql(
        t,
        'mutation($id: ID!, $u: ID!) { shareResource(id: $id, userId: $u, actions: ["read"]) { userId } }',
        { id: doc.id, u: dave.user.id },
        alice.token,
      );
      assert.equal(viaGraphql.body.errors?.[0]?.extensions.code, 'CONFLICT');
      assert.match(viaGraphql.body.errors?.[0]?.message ?? '', /maxSharesPerResource/);

      // An existing share is updated in place, whatever the cap: one row, actions added.
      assert.deepEqual(await shared(alice, doc.id, bob.user.id, ['update']), shareOf(bob, ['read', 'update']));
      assert.equal((await as(t, bob.token, 'PATCH', `${R}/${doc.id}`, { name: 'Edited by bob' })).statusCode, 200);
      assert.deepEqual(await shared(alice, doc.id, bob.user.id, ['read']), shareOf(bob, ['read', 'update']));
      assert.deepEqual(
        (await sharesOf(doc.id)).map((s) => [s.userId, s.actions]),
        [
          [bob.user.id, ['read', 'update']],
          [carol.user.id, ['read']],
          [admin.user.id, ['read']],
        ],
      );
      // The owner's list of shares over GraphQL is the REST one; the recipient may not see it.
      const listed = await gql<{ resource: { shares: Share[] } }>(
        t,
        'query($id: ID!) { resource(id: $id) { shares { userId name actions } } }',
        { id: doc.id },
        alice.token,
      );
      assert.deepEqual(listed.body.data?.resource.shares, await sharesOf(doc.id));
      const hidden = await gql(t, 'query($id: ID!) { resource(id: $id) { shares { userId } } }', { id: doc.id }, bob.token);
      assert.equal(hidden.body.errors?.[0]?.extensions.code, 'FORBIDDEN');
      // Once one share goes, another fits.
      assert.equal((await as(t, alice.token, 'DELETE', `${R}/${doc.id}/shares/${admin.user.id}`)).statusCode, 204);
      await shared(alice, doc.id, dave.user.id);
    });

    it('lets the recipient remove a share made to it (REST and GraphQL), and nobody else’s', async () => {
      const doc = await create(alice);
      const other = await create(alice);
      await shared(alice, doc.id, bob.user.id);
      await shared(alice, doc.id, carol.user.id);
      await shared(alice, other.id, bob.user.id);
      // Bob can read the resource but is not its owner: carol's share is not his to remove.
      assertProblem(await as(t, bob.token, 'DELETE', `${R}/${doc.id}/shares/${carol.user.id}`), 403, 'FORBIDDEN');
      const removed = await as(t, bob.token, 'DELETE', `${R}/${doc.id}/shares/${bob.user.id}`);
      assert.equal(removed.statusCode, 204, removed.body);
      assertProblem(await as(t, bob.token, 'GET', `${R}/${doc.id}`), 404, 'NOT_FOUND');
      assert.ok(!(await listIds(bob)).includes(doc.id), 'gone from his list');
      assert.deepEqual(
        (await sharesOf(doc.id)).map((s) => s.userId),
        [carol.user.id],
      );
      // Gone: removing it again is a 404 like any resource bob cannot read.
      assertProblem(await as(t, bob.token, 'DELETE', `${R}/${doc.id}/shares/${bob.user.id}`), 404, 'NOT_FOUND');

      const viaGraphql = await gql(t, 'mutation($id: ID!, $u: ID!) { unshareResource(id: $id, userId: $u) }', { id: other.id, u: bob.user.id }, bob.token);
      assert.deepEqual(viaGraphql.body.data, { unshareResource: true }, JSON.stringify(viaGraphql.body.errors));
      assertProblem(await as(t, bob.token, 'GET', `${R}/${other.id}`), 404, 'NOT_FOUND');
    });

    it(`lists exactly what is shared with a user with ${PER_USER} shares, in one query with one share predicate; one more is refused (409 naming resources.maxSharesPerUser)`, async () => {
      const recipient = dave;
      const before = await listIds(recipient);
      const docs: Resource[] = [];
      // From several owners: one owner may share at most PER_OWNER resources with dave.
      const owners: Session[] = [];
      for (let i = 0; owners.length * PER_OWNER < PER_USER - before.length; i++) owners.push(await member(`Owner ${i}`));
      for (let i = 0; i < PER_USER - before.length; i++) docs.push(await create(owners[i % owners.length]!, `For dave ${i}`));
      for (const [i, doc] of docs.entries()) await shared(owners[i % owners.length]!, doc.id, recipient.user.id);
      const own = await create(recipient, 'Dave’s own');
      const unshared = await create(alice, 'Not for dave');

      const expected = [...before, ...docs.map((d) => d.id), own.id].sort();
      const counter = statementCounter(t);
      let statements: string[];
      try {
        statements = await counter.during(async () => assert.deepEqual(await listIds(recipient), expected));
      } finally {
        counter.restore();
      }
      assert.ok(!expected.includes(unshared.id));
      const list = statements.find((s) => /from "resources"/i.test(s) && /order by "resources"\."id"/i.test(s));
      assert.ok(list, `the list query: ${statements.join('\n')}`);
      assert.match(list, /resource_shares/, 'shares are joined, not inlined');
      const parameters = new Set(list.match(/\$\d+/g) ?? []).size;
      assert.ok(parameters < 10, `a handful of parameters, not one per share: ${parameters}`);
      const total = await gql<{ resources: { totalCount: number } }>(t, '{ resources(first: 1) { totalCount } }', undefined, recipient.token);
      assert.equal(total.body.data?.resources.totalCount, expected.length);

      const refused = assertProblem(await share(alice, unshared.id, recipient.user.id), 409, 'CONFLICT');
      assert.match(refused.detail, /resources\.maxSharesPerUser/);
      assert.ok(!(await listIds(recipient)).includes(unshared.id));
      // Giving one back makes room.
      assert.equal((await as(t, recipient.token, 'DELETE', `${R}/${docs[0]!.id}/shares/${recipient.user.id}`)).statusCode, 204);
      await shared(alice, unshared.id, recipient.user.id);
      assert.ok((await listIds(recipient)).includes(unshared.id));
    });

    // The per-recipient cap must not be a weapon: one member alone cannot fill it, so others
    // can still share with its victim, and a refused share costs the victim nothing.
    it(`caps the shares one user receives from one owner at a tenth of resources.maxSharesPerUser (409), and a refused share leaves the recipient's grants cached`, async () => {
      assert.equal(PER_OWNER, PER_USER / 10);
      const mallory = await member('Mallory');
      const victim = await member('Victim');
      const docs: Resource[] = [];
      for (let i = 0; i <= PER_OWNER; i++) docs.push(await create(mallory, `Flood ${i}`));
      // Shares made earlier, written directly: shares through the API would keep the victim's
      // grants from being cached for a while (INVALIDATION_HOLD_MS), which is the point below.
      // (The victim's cached grants do not know of them until its grants next change.)
      await t.server.database.db
        .insertInto('resource_shares')
        .values(docs.slice(0, PER_OWNER).map((doc) => ({ resource_id: doc.id, user_id: victim.user.id, actions: ['read'] })))
        .execute();

      // The victim's grants are cached: its requests read no grants from the database.
      const counter = statementCounter(t);
      const grantReads = async () =>
        (await counter.during(async () => assert.equal((await as(t, victim.token, 'GET', `${R}?limit=1`)).statusCode, 200))).filter((sql) =>
          /"user_roles"/.test(sql),
        );
      try {
        await grantReads();
        assert.deepEqual(await grantReads(), [], 'warm grants');
        const refused = assertProblem(await share(mallory, docs[PER_OWNER]!.id, victim.user.id), 409, 'CONFLICT');
        assert.match(refused.detail, new RegExp(`${PER_OWNER} shares of this owner's resources`));
        assert.match(refused.detail, /resources\.maxSharesPerUser/);
        assert.deepEqual(await grantReads(), [], "the refused share did not invalidate the victim's grants");
      } finally {
        counter.restore();
      }
      const viaGraphql = await gql(
        t,
        'mutation($id: ID!, $u: ID!) { shareResource(id: $id, userId: $u, actions: ["read"]) { userId } }',
        { id: docs[PER_OWNER]!.id, u: victim.user.id },
        mallory.token,
      );
      assert.equal(viaGraphql.body.errors?.[0]?.extensions.code, 'CONFLICT', JSON.stringify(viaGraphql.body));
      assert.ok(!(await listIds(victim)).includes(docs[PER_OWNER]!.id));

      // Another owner still shares with the victim; an existing share of mallory's still
      // takes more actions; and once the victim gives one back, mallory may share again.
      const other = await create(alice, 'Still shareable');
      await shared(alice, other.id, victim.user.id);
      assert.deepEqual(await shared(mallory, docs[0]!.id, victim.user.id, ['update']), shareOf(victim, ['read', 'update']));
      assert.equal((await as(t, victim.token, 'DELETE', `${R}/${docs[1]!.id}/shares/${victim.user.id}`)).statusCode, 204);
      await shared(mallory, docs[PER_OWNER]!.id, victim.user.id);
      assertProblem(await share(mallory, docs[1]!.id, victim.user.id), 409, 'CONFLICT');
    });

    it('drops the shares an heir had received on the resources it inherits when their owner is deleted', async () => {
      const leaver = await member('Leaver');
      const heir = await member('Heir');
      const inherited = await create(leaver, 'Inherited');
      const kept = await create(leaver, 'Kept share');
      await shared(leaver, inherited.id, heir.user.id, ['update']);
      await shared(leaver, inherited.id, carol.user.id);
      await shared(leaver, kept.id, carol.user.id);
      const deleted = await as(t, admin.token, 'DELETE', `/api/v1/users/${leaver.user.id}?transferTo=${heir.user.id}`);
      assert.equal(deleted.statusCode, 204, deleted.body);

      const sharesAs = async (s: Session, id: string) => {
        const r = await as(t, s.token, 'GET', `${R}/${id}/shares`);
        assert.equal(r.statusCode, 200, r.body);
        return (r.json() as { items: Share[] }).items.map((i) => i.userId);
      };
      // The heir owns both now: no share with itself is left, the others' shares stay.
      assert.deepEqual(await sharesAs(heir, inherited.id), [carol.user.id]);
      assert.deepEqual(await sharesAs(heir, kept.id), [carol.user.id]);
      const viaGraphql = await gql<{ resource: { ownerId: string; shares: Share[] } }>(
        t,
        'query($id: ID!) { resource(id: $id) { ownerId shares { userId } } }',
        { id: inherited.id },
        heir.token,
      );
      assert.deepEqual(viaGraphql.body.data?.resource, { ownerId: heir.user.id, shares: [{ userId: carol.user.id }] }, JSON.stringify(viaGraphql.body.errors));
      // As owner it still does everything it could do through the share, and more.
      assert.equal((await as(t, heir.token, 'PATCH', `${R}/${inherited.id}`, { name: 'Mine now' })).statusCode, 200);
      assert.equal((await as(t, heir.token, 'DELETE', `${R}/${kept.id}`)).statusCode, 204);
    });

    it('keeps one compiled ability per user however often its grants change', async () => {
      const start = await compiledAbilities();
      assert.ok(Number.isInteger(start), 'compiled_abilities is exported');
      const docs: Resource[] = [];
      for (let i = 0; i < 20; i++) docs.push(await create(alice, `Churn ${i}`));
      // Each share and unshare changes bob's grants; bob acts after each, so each is compiled.
      for (const doc of docs) {
        await shared(alice, doc.id, bob.user.id);
        assert.equal((await as(t, bob.token, 'GET', `${R}/${doc.id}`)).statusCode, 200);
        assert.equal((await as(t, alice.token, 'DELETE', `${R}/${doc.id}/shares/${bob.user.id}`)).statusCode, 204);
        assertProblem(await as(t, bob.token, 'GET', `${R}/${doc.id}`), 404, 'NOT_FOUND');
      }
      // At most one ability per user signed in on this server, after 40 grant changes.
      const end = await compiledAbilities();
      assert.ok(end <= signedIn, `one per user (${signedIn}), not one per grant change: ${start} then ${end}`);
    });
  });
}
