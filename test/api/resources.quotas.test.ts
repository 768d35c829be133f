import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { migrateDown, migrateUp } from '../../src/infra/database/index.js';
import { DATABASE_KINDS } from '../support/databases.js';
import { assertGraphqlError, data, gql } from '../support/graphql.js';
import { createResourceRaw, signedInUser, type Resource, type Session } from '../support/factories.js';
import { as, assertProblem, bearer } from '../support/identity.js';
import { startTestServer, type TestServer } from '../support/server.js';

interface Usage {
  storageBytes: number;
  storageQuotaBytes: number | null;
}

const R = '/api/v1/resources';
const QUOTA = 10_000;
const MAX_VERSIONS = 3;

/** Bytes a value counts for: its compact UTF-8 JSON (docs/limits.md "Storage quota"). */
const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));
/** Bytes each row counts for besides its JSON: the resource's own, and each version's. */
const ROW = 256;
/** A new resource: its row, its name, its metadata, and version 1 (its row and data). */
const resourceCost = (name: string, data: unknown, metadata: unknown = {}) => ROW + Buffer.byteLength(name) + bytes(metadata) + ROW + bytes(data);
/** Data of exactly `n` bytes of JSON. */
const sized = (n: number) => ({ pad: 'x'.repeat(n - bytes({ pad: '' })) });

async function usageOf(t: TestServer, s: Session): Promise<Usage> {
  const me = await as(t, s.token, 'GET', '/api/v1/auth/me');
  assert.equal(me.statusCode, 200, me.body);
  return (me.json() as { usage: Usage }).usage;
}

/**
 * Quotas (docs/limits.md "Storage quota and version cap"): the bytes of
 * every version's data and metadata count against the owner's quotas.storageBytesPerUser, a
 * resource has at most resources.maxVersions versions, each refusal is a 422 naming the limit
 * and its figures, and /auth/me (REST and GraphQL) shows the figures.
 */
for (const kind of DATABASE_KINDS) {
  describe(`resources: storage quota and version cap (${kind})`, () => {
    let t: TestServer;
    let admin: Session;
    const sessions: Record<string, Session> = {};
    before(async () => {
      t = await startTestServer(kind, { config: { 'quotas.storageBytesPerUser': QUOTA, 'resources.maxVersions': MAX_VERSIONS } });
      for (const name of ['Admin', 'Quinn', 'Vera', 'Gus', 'Heir', 'Gone', 'Empty', 'Crowd', 'Mixed', 'Large', 'Heir2', 'Gone2'])
        sessions[name] = await signedInUser(t, { name });
      admin = sessions.Admin!;
    });
    after(() => t.close());

    const usage = (s: Session) => usageOf(t, s);

    it('shows usage in /auth/me, changing with every write and freed by a delete', async () => {
      const quinn = sessions.Quinn!;
      assert.deepEqual(await usage(quinn), { storageBytes: 0, storageQuotaBytes: QUOTA });
      const doc = (await createResourceRaw(t, quinn, { data: { n: 1 }, metadata: { tag: 'a' } })).json() as Resource;
      let expected = resourceCost('Doc', { n: 1 }, { tag: 'a' });
      assert.deepEqual(await usage(quinn), { storageBytes: expected, storageQuotaBytes: QUOTA });
      // New data adds a version (its row and bytes); new metadata replaces the old.
      assert.equal((await as(t, quinn.token, 'PATCH', `${R}/${doc.id}`, { data: { n: 22 }, metadata: { tag: 'longer' } })).statusCode, 200);
      expected += ROW + bytes({ n: 22 }) + bytes({ tag: 'longer' }) - bytes({ tag: 'a' });
      assert.equal((await usage(quinn)).storageBytes, expected);
      // A new name replaces the old one's UTF-8 bytes, either way.
      assert.equal((await as(t, quinn.token, 'PATCH', `${R}/${doc.id}`, { name: 'Doc élargi' })).statusCode, 200);
      expected += Buffer.byteLength('Doc élargi') - Buffer.byteLength('Doc');
      assert.equal((await usage(quinn)).storageBytes, expected);
      assert.equal((await as(t, quinn.token, 'PATCH', `${R}/${doc.id}`, { name: 'D' })).statusCode, 200);
      expected += Buffer.byteLength('D') - Buffer.byteLength('Doc élargi');
      assert.equal((await usage(quinn)).storageBytes, expected);
      // A restored version counts again: it is a new version.
      assert.equal((await as(t, quinn.token, 'POST', `${R}/${doc.id}/versions/1/restore`)).statusCode, 200);
      expected += ROW + bytes({ n: 1 });
      assert.equal((await usage(quinn)).storageBytes, expected);
      // GraphQL's me says the same.
      const me = await data<{ me: { usage: Usage } }>(t, '{ me { usage { storageBytes storageQuotaBytes } } }', undefined, quinn.token);
      assert.deepEqual(me.me.usage, { storageBytes: expected, storageQuotaBytes: QUOTA });
      assert.equal((await as(t, quinn.token, 'DELETE', `${R}/${doc.id}`)).statusCode, 204);
      assert.equal((await usage(quinn)).storageBytes, 0, 'the history went with the resource');
    });

    it('refuses a create, a new version, a metadata change and a restore past the quota with 422 naming the limit and the figures', async () => {
      const vera = sessions.Vera!;
      const big = (await createResourceRaw(t, vera, { data: sized(6000) })).json() as Resource;
      const held = resourceCost('Doc', sized(6000));
      assert.equal(held, 6517, 'the figures of docs/limits.md');
      assert.equal((await usage(vera)).storageBytes, held);

      const refused = await createResourceRaw(t, vera, { data: sized(5000) });
      const problem = assertProblem(refused, 422, 'UNPROCESSABLE_ENTITY');
      assert.match(problem.detail, /quotas\.storageBytesPerUser/);
      assert.match(problem.detail, new RegExp(`hold ${held} of ${QUOTA} bytes`));
      assert.match(problem.detail, new RegExp(`needs ${resourceCost('Doc', sized(5000))} more`));
      const listed = (await as(t, vera.token, 'GET', `${R}?ownerId=${vera.user.id}`)).json() as { items: unknown[] };
      assert.equal(listed.items.length, 1, 'nothing was created');
      assert.equal((await usage(vera)).storageBytes, held, 'nothing was charged');

      assertProblem(await as(t, vera.token, 'PATCH', `${R}/${big.id}`, { data: sized(5000) }), 422, 'UNPROCESSABLE_ENTITY');
      assertProblem(await as(t, vera.token, 'PATCH', `${R}/${big.id}`, { metadata: sized(5000) }), 422, 'UNPROCESSABLE_ENTITY');
      assertProblem(await as(t, vera.token, 'POST', `${R}/${big.id}/versions/1/restore`), 422, 'UNPROCESSABLE_ENTITY');
      const still = (await as(t, vera.token, 'GET', `${R}/${big.id}`)).json() as Resource;
      assert.deepEqual([still.version, still.revision], [1, 1], 'no refused write left a trace');
      assert.equal((await usage(vera)).storageBytes, held);

      // GraphQL refuses with the same code; within the quota, writes go through again.
      const over = await gql(t, 'mutation($d: JSON) { createResource(input: { name: "G", type: "doc", data: $d }) { id } }', { d: sized(5000) }, vera.token);
      assert.match(assertGraphqlError(over.body, 'UNPROCESSABLE_ENTITY').message, /quotas\.storageBytesPerUser/);
      assert.equal((await createResourceRaw(t, vera, { data: sized(2900) })).statusCode, 201);
      // A refused create under an Idempotency-Key releases the key (its answer is not kept).
      const keyed = () =>
        t.app.inject({
          method: 'POST',
          url: R,
          headers: { ...bearer(vera.token), 'idempotency-key': 'quota-1' },
          payload: { name: 'Keyed', type: 'doc', data: sized(5000) },
        });
      assertProblem(await keyed(), 422, 'UNPROCESSABLE_ENTITY');
      // Deleting frees the bytes for new writes.
      assert.equal((await as(t, vera.token, 'DELETE', `${R}/${big.id}`)).statusCode, 204);
      const retried = await keyed();
      assert.equal(retried.statusCode, 201, retried.body);
      assert.equal(retried.headers['idempotent-replayed'], undefined);
    });

    it('charges the owner for what a user it shared with writes, and moves the bytes with the resources on transfer', async () => {
      const gus = sessions.Gus!;
      const heir = sessions.Heir!;
      const gone = sessions.Gone!;
      const doc = (await createResourceRaw(t, gone, { data: sized(4000) })).json() as Resource;
      assert.equal((await as(t, gone.token, 'POST', `${R}/${doc.id}/shares`, { userId: gus.user.id, actions: ['update'] })).statusCode, 201);
      assert.equal((await as(t, gus.token, 'PATCH', `${R}/${doc.id}`, { data: sized(4000) })).statusCode, 200);
      assert.equal((await usage(gus)).storageBytes, 0, 'the editor spends nothing of its own');
      const held = resourceCost('Doc', sized(4000)) + ROW + 4000;
      assert.equal((await usage(gone)).storageBytes, held);
      // The share is not a way around the owner's quota.
      assertProblem(await as(t, gus.token, 'PATCH', `${R}/${doc.id}`, { data: sized(4000) }), 422, 'UNPROCESSABLE_ENTITY');

      assert.equal((await as(t, admin.token, 'DELETE', `/api/v1/users/${gone.user.id}?transferTo=${heir.user.id}`)).statusCode, 204);
      assert.equal((await usage(heir)).storageBytes, held, 'the heir holds the bytes now');
      assertProblem(await createResourceRaw(t, heir, { data: sized(4000) }), 422, 'UNPROCESSABLE_ENTITY');
    });

    it('leaves an heir taken past the quota by a transfer only freeing bytes, until back under it', async () => {
      const heir = sessions.Heir2!;
      const gone = sessions.Gone2!;
      const own = (await createResourceRaw(t, heir, { data: sized(6000) })).json() as Resource;
      assert.equal((await createResourceRaw(t, gone, { data: sized(6000) })).statusCode, 201);
      assert.equal((await as(t, admin.token, 'DELETE', `/api/v1/users/${gone.user.id}?transferTo=${heir.user.id}`)).statusCode, 204);
      const held = 2 * resourceCost('Doc', sized(6000));
      assert.ok(held > QUOTA);
      assert.equal((await usage(heir)).storageBytes, held);
      const refused = assertProblem(await createResourceRaw(t, heir, { data: 0 }), 422, 'UNPROCESSABLE_ENTITY');
      assert.match(refused.detail, new RegExp(`hold ${held} of ${QUOTA} bytes`));
      assert.equal((await as(t, heir.token, 'DELETE', `${R}/${own.id}`)).statusCode, 204);
      assert.equal((await createResourceRaw(t, heir, { data: 0 })).statusCode, 201);
      assert.equal((await usage(heir)).storageBytes, held / 2 + resourceCost('Doc', 0));
      await assertEscrow(heir);
    });

    it('charges every resource and version its row, so empty resources cannot fill the disk under the quota', async () => {
      const empty = sessions.Empty!;
      const each = resourceCost('E', 0);
      assert.equal(each, 2 * ROW + 4, 'name, data 0 and metadata {} are 4 bytes');
      let made = 0;
      for (; made < 100; made++) {
        const response = await as(t, empty.token, 'POST', R, { name: 'E', type: 'doc', data: 0 });
        if (response.statusCode !== 201) {
          assert.match(assertProblem(response, 422, 'UNPROCESSABLE_ENTITY').detail, /quotas\.storageBytesPerUser/);
          break;
        }
      }
      assert.equal(made, Math.floor(QUOTA / each), 'as many empty resources as the quota pays for, no more');
      assert.equal((await usage(empty)).storageBytes, made * each);
    });

    /** The owner's slots (migration 0008): what the escrow keeps. */
    async function slotsOf(s: Session) {
      const { rows } = await sql<{ used: string; allowance: string; quota: string | null }>`
        SELECT used_bytes AS used, allowance_bytes AS allowance, quota_bytes AS quota FROM storage_slots WHERE user_id = ${s.user.id}`.execute(
        t.server.database.db,
      );
      return rows.map((r) => ({ used: Number(r.used), allowance: Number(r.allowance), quota: r.quota === null ? null : Number(r.quota) }));
    }

    /** While divided under the quota, the allowances sum to it and no slot is past its own. */
    async function assertEscrow(s: Session) {
      const slots = await slotsOf(s);
      assert.ok(slots.length > 1, 'the count is spread over slots');
      if (slots.every((slot) => slot.quota === QUOTA)) {
        assert.equal(
          slots.reduce((sum, slot) => sum + slot.allowance, 0),
          QUOTA,
        );
        for (const slot of slots) assert.ok(slot.used <= slot.allowance, `a slot holds ${slot.used} of its ${slot.allowance}`);
      }
      return slots;
    }

    it('lets 20 concurrent creates of one owner near the quota store exactly what it pays for, no more', async () => {
      const crowd = sessions.Crowd!;
      const data = sized(700);
      const each = resourceCost('C', data);
      const answers = await Promise.all(Array.from({ length: 20 }, () => as(t, crowd.token, 'POST', R, { name: 'C', type: 'doc', data })));
      const created = answers.filter((a) => a.statusCode === 201).length;
      for (const refused of answers.filter((a) => a.statusCode !== 201)) {
        assert.match(assertProblem(refused, 422, 'UNPROCESSABLE_ENTITY').detail, /quotas\.storageBytesPerUser/);
      }
      assert.equal(created, Math.floor(QUOTA / each), 'every create that fits went through, and none past the quota');
      assert.equal((await usage(crowd)).storageBytes, created * each);
      const slots = await assertEscrow(crowd);
      assert.equal(
        slots.reduce((sum, slot) => sum + slot.used, 0),
        created * each,
        'the usage is the sum of the slots',
      );
    });

    it('refuses, among concurrent creates of different sizes, only those that no longer fit, and charges exactly the others', async () => {
      const mixed = sessions.Mixed!;
      const sizes = Array.from({ length: 20 }, (_, i) => 100 + ((i * 373) % 1400));
      const answers = await Promise.all(sizes.map((n) => as(t, mixed.token, 'POST', R, { name: 'M', type: 'doc', data: sized(n) })));
      const costs = sizes.map((n) => resourceCost('M', sized(n)));
      const stored = costs.filter((_, i) => answers[i]!.statusCode === 201).reduce((sum, c) => sum + c, 0);
      assert.ok(stored <= QUOTA);
      assert.equal((await usage(mixed)).storageBytes, stored, 'the usage is the sum of what was stored');
      // Usage only grew, so a create refused on the way would still not fit.
      costs.forEach((cost, i) => {
        if (answers[i]!.statusCode !== 201) {
          assertProblem(answers[i]!, 422, 'UNPROCESSABLE_ENTITY');
          assert.ok(stored + cost > QUOTA, `a create of ${cost} bytes was refused with ${stored} held`);
        }
      });
      await assertEscrow(mixed);
    });

    it('gives a write larger than its slot share of the room left the room of the other slots (rebalance)', async () => {
      const large = sessions.Large!;
      const first = (await createResourceRaw(t, large, { data: sized(100) })).json() as Resource;
      const held = resourceCost('Doc', sized(100));
      // The room left is divided between the slots: no slot alone has room for 8,000 bytes.
      const divided = await assertEscrow(large);
      assert.ok(
        divided.every((slot) => slot.allowance - slot.used < 8000),
        'no slot has the room alone',
      );
      const big = await as(t, large.token, 'PATCH', `${R}/${first.id}`, { data: sized(8000) });
      assert.equal(big.statusCode, 200, big.body);
      assert.equal((await usage(large)).storageBytes, held + ROW + 8000);
      await assertEscrow(large);
      // Freed bytes come back to any slot and count for the next write.
      assert.equal((await as(t, large.token, 'DELETE', `${R}/${first.id}`)).statusCode, 204);
      assert.equal((await usage(large)).storageBytes, 0);
      assert.equal((await createResourceRaw(t, large, { data: sized(9000) })).statusCode, 201);
      await assertEscrow(large);
    });

    it('refuses a version past resources.maxVersions with 422 naming the cap, while name and metadata still change', async () => {
      const quinn = sessions.Quinn!;
      const doc = (await createResourceRaw(t, quinn, { data: { v: 1 } })).json() as Resource;
      for (const v of [2, 3]) assert.equal((await as(t, quinn.token, 'PATCH', `${R}/${doc.id}`, { data: { v } })).statusCode, 200);
      const capped = assertProblem(await as(t, quinn.token, 'PATCH', `${R}/${doc.id}`, { data: { v: 4 } }), 422, 'UNPROCESSABLE_ENTITY');
      assert.match(capped.detail, /resources\.maxVersions/);
      assert.match(capped.detail, new RegExp(`${MAX_VERSIONS} of ${MAX_VERSIONS} versions`));
      assertProblem(await as(t, quinn.token, 'POST', `${R}/${doc.id}/versions/1/restore`), 422, 'UNPROCESSABLE_ENTITY');
      const gqlCapped = await gql(t, 'mutation($id: ID!) { updateResource(id: $id, input: { data: 5 }) { version } }', { id: doc.id }, quinn.token);
      assert.match(assertGraphqlError(gqlCapped.body, 'UNPROCESSABLE_ENTITY').message, /resources\.maxVersions/);
      const renamed = await as(t, quinn.token, 'PATCH', `${R}/${doc.id}`, { name: 'Still renamable', metadata: { ok: true } });
      assert.equal(renamed.statusCode, 200, renamed.body);
      assert.equal((renamed.json() as Resource).version, MAX_VERSIONS);
    });
  });

  describe(`resources: unlimited storage (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer(kind, { config: { 'quotas.storageBytesPerUser': 0 } });
    });
    after(() => t.close());

    it('shows a null quota and still counts the bytes', async () => {
      const free = await signedInUser(t, { name: 'Free' });
      assert.equal((await as(t, free.token, 'POST', R, { name: 'Big', type: 'doc', data: sized(20_000) })).statusCode, 201);
      const me = (await as(t, free.token, 'GET', '/api/v1/auth/me')).json() as { usage: Usage };
      assert.deepEqual(me.usage, { storageBytes: resourceCost('Big', sized(20_000)), storageQuotaBytes: null });
    });
  });

  describe(`resources: migrations 0005 and 0007 over existing history (${kind})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer(kind);
    });
    after(() => t.close());

    it('starts each revision at its version (tags clients hold stay valid) and counts the bytes already written', async () => {
      const old = await signedInUser(t, { name: 'Old' });
      const doc = (await as(t, old.token, 'POST', R, { name: 'Old', type: 'doc', metadata: { a: 1 }, data: { v: 1 } })).json() as Resource;
      assert.equal((await as(t, old.token, 'PATCH', `${R}/${doc.id}`, { data: { v: 2 } })).statusCode, 200);
      // 0007 adds the charge of each row to the counts, and takes it back down, leaving the
      // bytes counted before exact.
      const counted = resourceCost('Old', { v: 1 }, { a: 1 }) + ROW + bytes({ v: 2 });
      assert.equal((await usageOf(t, old)).storageBytes, counted);
      // 0008 spread the count over slots; its down puts the sum back in users.storage_bytes.
      const column = async () =>
        Number((await sql<{ n: string }>`SELECT storage_bytes AS n FROM users WHERE id = ${old.user.id}`.execute(t.server.database.db)).rows[0]!.n);
      assert.deepEqual(await migrateDown(t.server.database.db), ['0008_storage_slots']);
      assert.equal(await column(), counted);
      assert.deepEqual(await migrateDown(t.server.database.db), ['0007_storage_overhead']);
      assert.equal(await column(), counted - 3 * ROW - Buffer.byteLength('Old'));
      assert.deepEqual(await migrateUp(t.server.database.db), ['0007_storage_overhead', '0008_storage_slots']);
      assert.equal((await usageOf(t, old)).storageBytes, counted);
      // Back to the schema before 0005 (and whatever came after it), with this history in it, then forward again.
      const reverted: string[] = [];
      while (!reverted.includes('0005_quotas_and_revisions')) {
        const step = await migrateDown(t.server.database.db);
        assert.equal(step.length, 1, `reverted ${reverted.join(', ')} without reaching 0005`);
        reverted.push(...step);
      }
      assert.deepEqual(await migrateUp(t.server.database.db), [...reverted].reverse());

      const { rows } = await sql<{ revision: number; version: number; bytes: string; expected: string }>`
        SELECT r.revision, r.version, r.storage_bytes AS bytes,
          ${ROW} + octet_length(r.name) + octet_length(r.metadata::text)
            + (SELECT sum(${ROW} + octet_length(v.data::text)) FROM resource_versions v WHERE v.resource_id = r.id) AS expected
        FROM resources r WHERE r.id = ${doc.id}`.execute(t.server.database.db);
      assert.equal(rows[0]!.revision, 2);
      assert.equal(rows[0]!.version, 2);
      assert.equal(Number(rows[0]!.bytes), Number(rows[0]!.expected));
      assert.equal((await as(t, old.token, 'GET', `${R}/${doc.id}`)).headers.etag, '"2"');
      assert.equal((await usageOf(t, old)).storageBytes, Number(rows[0]!.expected), "the owner's count is the sum over what it owns");
    });
  });
}
