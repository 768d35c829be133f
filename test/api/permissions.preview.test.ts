import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DATABASE_KINDS } from '../support/databases.js';
import { createResource, signedInUser, type Resource, type Session, type Summary } from '../support/factories.js';
import { as, assertInvalidField, assertProblem } from '../support/identity.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { statementCounter } from '../support/statements.js';

/**
 * POST /api/v1/permissions/preview (docs/identity.md "Previewing a permission"): what a
 * permission would match, validated as granting validates it and filtered by the SQL a
 * holder's lists use, for administrators only.
 */
const PREVIEW = '/api/v1/permissions/preview';

interface Preview {
  conditions: Record<string, unknown> | null;
  matches: Summary[];
  more: boolean;
  complete: boolean;
}

for (const kind of DATABASE_KINDS) {
  describe(`permission preview (${kind})`, () => {
    let t: TestServer;
    let admin: Session;
    let alice: Session;
    let bob: Session;
    /** Resources of alice and bob: notes and docs, some on the blue team. */
    const made: Resource[] = [];

    before(async () => {
      t = await startTestServer(kind);
      admin = await signedInUser(t, { name: 'Admin' });
      alice = await signedInUser(t, { name: 'Alice' });
      bob = await signedInUser(t, { name: 'Bob' });
      for (const [owner, type, team] of [
        [alice, 'note', 'blue'],
        [alice, 'note', 'red'],
        [alice, 'doc', 'blue'],
        [bob, 'note', 'blue'],
        [bob, 'doc', 'green'],
      ] as const) {
        made.push(await createResource(t, owner, { type, name: `${owner.user.name}'s ${type}`, metadata: { team } }));
      }
    });
    after(() => t.close());

    const preview = (by: Session, body: Record<string, unknown>) => as(t, by.token, 'POST', PREVIEW, body);
    const previewed = async (body: Record<string, unknown>): Promise<Preview> => {
      const r = await preview(admin, body);
      assert.equal(r.statusCode, 200, r.body);
      return r.json() as Preview;
    };
    const ids = (items: readonly { id: string }[]) => items.map((i) => i.id).sort();
    const madeWhere = (test: (r: Resource) => boolean) => ids(made.filter(test));

    it('is for whoever may grant permissions: a member gets 403, an anonymous caller 401, whatever it sends', async () => {
      const body = { resourceType: '*', action: 'read', conditions: { ownerId: '${user.id}' }, userId: bob.user.id };
      assertProblem(await preview(alice, body), 403, 'FORBIDDEN');
      // Refused before its input is read: an invalid permission is no way to learn anything either.
      assertProblem(await preview(alice, { ...body, conditions: { $where: 'x' } }), 403, 'FORBIDDEN');
      assertProblem(await t.app.inject({ method: 'POST', url: PREVIEW, payload: body }), 401, 'UNAUTHORIZED');
    });

    it('refuses an invalid permission with the validator of grants, its errors under `conditions`', async () => {
      const invalid: [string, Record<string, unknown>, RegExp][] = [
        ['an unknown operator', { resourceType: 'note', action: 'read', conditions: { $where: 'x' } }, /^conditions\/\$where$/],
        [
          '$in without a list',
          { resourceType: 'note', action: 'read', conditions: { 'metadata.team': { $in: 'blue' } } },
          /^conditions\/metadata\.team\/\$in$/,
        ],
        ['a malformed id', { resourceType: 'note', action: 'read', conditions: { ownerId: 'abc' } }, /^conditions\/ownerId$/],
        ['a field of resources on users', { resourceType: 'user', action: 'read', conditions: { ownerId: '${user.id}' } }, /^conditions\/ownerId$/],
        [
          'a nested mistake',
          { resourceType: '*', action: 'read', conditions: { $or: [{ name: 'a' }, { createdAt: { $gt: 'yesterday' } }] } },
          /^conditions\/\$or\/1\/createdAt\/\$gt$/,
        ],
        ['conditions not an object', { resourceType: 'note', action: 'read', conditions: 'true' }, /^conditions$/],
        ['resourceType', { resourceType: 'Not A Type!', action: 'read' }, /^resourceType$/],
        ['a malformed userId', { resourceType: 'note', action: 'read', userId: 'abc' }, /^userId$/],
        ['an unknown userId', { resourceType: 'note', action: 'read', userId: '01900000-0000-7000-8000-000000000000' }, /^userId$/],
        ['an extra field', { resourceType: 'note', action: 'read', grantedBy: 'me' }, /^grantedBy$/],
        ['a limit past 100', { resourceType: 'note', action: 'read', limit: 101 }, /limit$/],
      ];
      for (const [label, body, field] of invalid) {
        const response = await preview(admin, body);
        assert.doesNotThrow(() => assertInvalidField(response, field), `${label}: ${response.body}`);
      }
    });

    it('answers the normalised conditions and the resources they match, `${user.id}` standing for userId (default: the caller)', async () => {
      const own = { resourceType: '*', action: 'read', conditions: { ownerId: '${user.id}' } };
      assert.deepEqual(
        ids((await previewed({ ...own, userId: alice.user.id })).matches),
        madeWhere((r) => r.ownerId === alice.user.id),
      );
      assert.deepEqual(
        ids((await previewed({ ...own, userId: bob.user.id.toUpperCase() })).matches),
        madeWhere((r) => r.ownerId === bob.user.id),
      );
      const adminOwn = await createResource(t, admin, { name: 'Admin note', type: 'note' });
      assert.deepEqual(ids((await previewed(own)).matches), [adminOwn.id], 'the caller by default');
      assert.equal((await as(t, admin.token, 'DELETE', `/api/v1/resources/${adminOwn.id}`)).statusCode, 204);
      assert.deepEqual((await previewed(own)).matches, [], 'a deleted resource is not matched');

      // One type; a metadata condition; an explicit id, written in capitals, normalised.
      const blueNotes = await previewed({
        resourceType: 'note',
        action: 'update',
        conditions: { 'metadata.team': 'blue', ownerId: { $in: [alice.user.id.toUpperCase(), bob.user.id] } },
      });
      assert.deepEqual(blueNotes.conditions, { 'metadata.team': 'blue', ownerId: { $in: [alice.user.id, bob.user.id] } });
      assert.deepEqual(
        ids(blueNotes.matches),
        madeWhere((r) => r.type === 'note' && r.metadata.team === 'blue'),
      );
      assert.equal(blueNotes.more, false);
      // The matches are summaries, as a list answers them.
      const listed = (await as(t, admin.token, 'GET', '/api/v1/resources?type=note&limit=100')).json() as { items: Summary[] };
      for (const match of blueNotes.matches)
        assert.deepEqual(
          match,
          listed.items.find((i) => i.id === match.id),
        );

      // Timestamps are normalised as a grant stores them.
      const since = await previewed({ resourceType: 'doc', action: 'read', conditions: { createdAt: { $gte: '2000-01-01T01:00:00+01:00' } } });
      assert.deepEqual(since.conditions, { createdAt: { $gte: '2000-01-01T00:00:00.000Z' } });
      assert.deepEqual(
        ids(since.matches),
        madeWhere((r) => r.type === 'doc'),
      );
      // Unconditional: {} is stored as null.
      assert.equal((await previewed({ resourceType: 'doc', action: 'read', conditions: {} })).conditions, null);
    });

    it('matches exactly what a holder of the permission then lists', async () => {
      const holder = await signedInUser(t, { name: 'Holder' });
      const permission = {
        resourceType: '*',
        action: 'read',
        conditions: {
          $or: [
            { 'metadata.team': { $in: ['blue', 'green'] }, type: { $ne: 'doc' } },
            { ownerId: alice.user.id, name: { $gte: "Alice's n" } },
          ],
        },
      };
      const { matches } = await previewed({ ...permission, userId: holder.user.id });
      assert.ok(matches.length > 0 && matches.length < made.length, `a strict subset: ${matches.length}`);
      const granted = await as(t, admin.token, 'POST', `/api/v1/users/${holder.user.id}/permissions`, permission);
      assert.equal(granted.statusCode, 201, granted.body);
      // The holder owns nothing: its list is what the permission gives it.
      const list = (await as(t, holder.token, 'GET', '/api/v1/resources?limit=100')).json() as { items: Summary[] };
      assert.deepEqual(ids(matches), ids(list.items));
    });

    it('answers at most `limit` matches (default 20), newest first, saying whether there are more, filtering a bounded window of the newest resources', async () => {
      const many: Resource[] = [];
      for (let i = 0; i < 21; i++) many.push(await createResource(t, bob, { type: 'bulk', name: `Bulk ${i}` }));
      const inOrder = ids(many).reverse();
      const bulk = { resourceType: 'bulk', action: 'read' };
      const byDefault = await previewed(bulk);
      assert.deepEqual(
        byDefault.matches.map((m) => m.id),
        inOrder.slice(0, 20),
      );
      assert.equal(byDefault.more, true);
      const two = await previewed({ ...bulk, limit: 2 });
      assert.deepEqual([two.matches.map((m) => m.id), two.more], [inOrder.slice(0, 2), true]);
      const all = await previewed({ ...bulk, limit: 21 });
      assert.deepEqual([all.matches.map((m) => m.id), all.more], [inOrder, false]);

      const counter = statementCounter(t);
      let statements: string[];
      try {
        statements = await counter.during(() => previewed({ ...bulk, limit: 3, conditions: { ownerId: '${user.id}' }, userId: bob.user.id }));
      } finally {
        counter.restore();
      }
      const reads = statements.filter((s) => /from "resources"/i.test(s));
      assert.equal(reads.length, 2, reads.join('\n'));
      // The condition is applied to the newest resources only, never to the whole table…
      assert.match(
        reads[0]!,
        /from \(select \* from "resources" order by "id" desc limit \$\d+\) as "resources" where .* order by "resources"\."id" desc limit \$\d+$/i,
      );
      // …and a count of at most that many keys says whether that was all of them.
      assert.match(reads[1]!, /from \(select "id" from "resources" limit \$\d+\) as "first"/i);
      assert.equal(all.complete, true);
    });

    it('matches no resources for permissions on users and roles, and says so with an empty list', async () => {
      const users = await previewed({ resourceType: 'user', action: 'read', conditions: { id: '${user.id}' } });
      assert.deepEqual(users, { conditions: { id: '${user.id}' }, matches: [], more: false, complete: true });
      const roles = await previewed({ resourceType: 'role', action: 'manage' });
      assert.deepEqual(roles, { conditions: null, matches: [], more: false, complete: true });
    });
  });
}
