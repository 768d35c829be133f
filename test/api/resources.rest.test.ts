import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { applyPatch, type Operation } from 'rfc6902';
import { newId } from '../../src/core/ids.js';
import { DATABASE_KINDS, TEST_REDIS_URL } from '../support/databases.js';
import { assertInvalidField, assertProblem, bearer, login, problemIdentity, type InjectedResponse, type Problem, type Session } from '../support/identity.js';
import { createResource, signedInUser, type Page, type Resource, type Summary } from '../support/factories.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The resources REST API end to end (DESIGN §5 "Errors", "Resources", "Permissions"):
 * CRUD, the immutable version history, diff and restore, the outbox, ETag/If-Match under
 * concurrency, Idempotency-Key, listing with SQL permission filtering, limits, shares,
 * access that never tells "forbidden" from "missing", and cache invalidation. One server
 * per database kind; every describe makes the rows it needs.
 */

interface VersionItem {
  version: number;
  createdBy: string | null;
  createdAt: string;
}

interface Version extends VersionItem {
  data: unknown;
}

interface Share {
  userId: string;
  name: string;
  actions: string[];
}

/** The share with this user as the API answers it: who it is, and the actions. */
const shareOf = (s: Session, actions: string[]): Share => ({ userId: s.user.id, name: s.user.name, actions });

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

const R = '/api/v1/resources';
const RESOURCE_KEYS = ['createdAt', 'data', 'id', 'metadata', 'name', 'ownerId', 'revision', 'type', 'updatedAt', 'version'];
const SUMMARY_KEYS = RESOURCE_KEYS.filter((k) => k !== 'data');
const PASSWORD = 'resources passphrase 01';

/** A request with a bearer token, a JSON payload and extra headers (If-Match, Idempotency-Key). */
function call(t: TestServer, token: string, method: Method, url: string, payload?: unknown, headers: Record<string, string> = {}): Promise<InjectedResponse> {
  return t.app.inject({ method, url, headers: { ...bearer(token), ...headers }, ...(payload === undefined ? {} : { payload: payload as object }) });
}

async function patchResource(t: TestServer, token: string, id: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Resource> {
  const response = await call(t, token, 'PATCH', `${R}/${id}`, body, headers);
  assert.equal(response.statusCode, 200, response.body);
  return response.json() as Resource;
}

async function getJson<T>(t: TestServer, token: string, url: string): Promise<T> {
  const response = await call(t, token, 'GET', url);
  assert.equal(response.statusCode, 200, `GET ${url}: ${response.body}`);
  return response.json() as T;
}

/** Every page of a list, checking that pages are full until the last and hold no more than `limit`. */
async function readAll<T>(t: TestServer, token: string, path: string, limit: number): Promise<{ items: T[]; pages: T[][] }> {
  const pages: T[][] = [];
  let cursor: string | null = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page: Page<T> = await getJson<Page<T>>(t, token, `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.ok(page.items.length <= limit, `a page holds at most ${limit} items`);
    if (page.nextCursor !== null) assert.equal(page.items.length, limit, 'only the last page is short');
    pages.push(page.items);
    cursor = page.nextCursor;
    assert.ok(pages.length < 200, 'pagination ends');
  } while (cursor !== null);
  return { items: pages.flat(), pages };
}

/** A JSON value `levels` objects deep: `{ a: { a: … 'leaf' } }`. */
function nestedObjects(levels: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

/** A JSON value `levels` arrays deep: `[[… 0]]`. */
function nestedArrays(levels: number): unknown {
  let value: unknown = 0;
  for (let i = 0; i < levels; i++) value = [value];
  return value;
}

const sortedIds = (ids: readonly string[]): string[] => [...ids].sort();
/** The trigger's refusal, as the database layer hands it on: its original error is the cause. */
function refusedAsImmutable(err: unknown): boolean {
  const cause = (err as { cause?: { message?: unknown; code?: unknown } }).cause;
  assert.match(String(cause?.message), /resource versions are immutable/, String(err));
  assert.equal(cause?.code, '23001');
  return true;
}

const sameStatusSet = (responses: InjectedResponse[]): number[] => responses.map((r) => r.statusCode).sort((a, b) => a - b);

for (const kind of DATABASE_KINDS) {
  describe(`resources REST API (${kind})`, () => {
    let t: TestServer;
    let admin: Session;
    let alice: Session;
    let bob: Session;
    let carol: Session;

    const db = () => t.server.database.db;
    const versionRows = (id: string) =>
      db().selectFrom('resource_versions').select(['version', 'data', 'created_by']).where('resource_id', '=', id).orderBy('version').execute();
    const outboxRows = (id: string) =>
      db()
        .selectFrom('outbox')
        .select(['topic', 'aggregate_type', 'aggregate_id', 'payload', 'trace_id'])
        .where('aggregate_id', '=', id)
        .orderBy('id')
        .execute();
    const resourceRow = (id: string) => db().selectFrom('resources').selectAll().where('id', '=', id).executeTakeFirst();
    const resourcesNamed = (name: string) => db().selectFrom('resources').select(['id', 'owner_id']).where('name', '=', name).execute();
    const shareRows = (id: string) => db().selectFrom('resource_shares').select(['resource_id', 'user_id']).where('resource_id', '=', id).execute();

    /** A member made by the admin; `beforeLogin` runs between its creation and its first sign-in. */
    const newMember = async (label: string, beforeLogin?: (userId: string) => Promise<void>): Promise<Session> => {
      const email = `${label}.${randomBytes(3).toString('hex')}@example.com`;
      const response = await call(t, admin.token, 'POST', '/api/v1/users', { email, name: label, password: PASSWORD });
      assert.equal(response.statusCode, 201, response.body);
      await beforeLogin?.((response.json() as { id: string }).id);
      return login(t, email, PASSWORD);
    };

    before(async () => {
      t = await startTestServer(kind);
      // The first user registered is the admin.
      admin = await signedInUser(t, { name: 'admin' });
      alice = await signedInUser(t, { name: 'alice' });
      bob = await signedInUser(t, { name: 'bob' });
      carol = await signedInUser(t, { name: 'carol' });
    });
    after(() => t.close());

    describe('endpoints', () => {
      it('creates with 201, Location, ETag "1" and exactly the documented body; GET answers the same with its ETag', async () => {
        const response = await call(t, alice.token, 'POST', R, { name: '  Report  ', type: 'report', metadata: { team: 'blue' }, data: { rows: [1, 2] } });
        assert.equal(response.statusCode, 201, response.body);
        const created = response.json() as Resource;
        assert.deepEqual(Object.keys(created).sort(), RESOURCE_KEYS);
        assert.match(created.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        assert.equal(response.headers.location, `/api/v1/resources/${created.id}`);
        assert.equal(response.headers.etag, '"1"');
        assert.equal(response.headers['idempotent-replayed'], undefined);
        assert.equal(created.ownerId, alice.user.id);
        assert.equal(created.name, 'Report', 'the name is trimmed');
        assert.equal(created.type, 'report');
        assert.deepEqual(created.metadata, { team: 'blue' });
        assert.equal(created.version, 1);
        assert.deepEqual(created.data, { rows: [1, 2] });
        assert.ok(!Number.isNaN(Date.parse(created.createdAt)) && created.createdAt === created.updatedAt, 'createdAt is a date, equal to updatedAt');

        const read = await call(t, alice.token, 'GET', response.headers.location as string);
        assert.equal(read.statusCode, 200, read.body);
        assert.equal(read.headers.etag, '"1"');
        assert.deepEqual(read.json(), created);

        // metadata is optional and defaults to {}; falsy data is data.
        for (const data of [null, 0, false, '', []]) {
          const plain = await createResource(t, alice, { name: 'plain', type: 'report', data });
          assert.deepEqual(plain.metadata, {});
          assert.deepEqual(plain.data, data);
          assert.deepEqual((await getJson<Resource>(t, alice.token, `${R}/${plain.id}`)).data, data);
        }
        const rows = await versionRows(created.id);
        assert.deepEqual(
          rows.map((r) => [r.version, r.data, r.created_by]),
          [[1, { rows: [1, 2] }, alice.user.id]],
        );
      });

      it('PATCH of name or metadata keeps the version and adds no version row; PATCH of data appends n+1 created by the caller', async () => {
        const created = await createResource(t, alice, { name: 'Doc', type: 'report', metadata: { a: 1 }, data: { v: 1 } });
        await new Promise((resolve) => setTimeout(resolve, 5));

        const renamed = await call(t, alice.token, 'PATCH', `${R}/${created.id}`, { name: 'Doc renamed' });
        assert.equal(renamed.statusCode, 200, renamed.body);
        assert.equal(renamed.headers.etag, '"2"', 'the ETag is the revision, which every change bumps');
        const afterName = renamed.json() as Resource;
        assert.deepEqual(Object.keys(afterName).sort(), RESOURCE_KEYS);
        assert.equal(afterName.version, 1);
        assert.equal(afterName.revision, 2);
        assert.equal(afterName.name, 'Doc renamed');
        assert.deepEqual(afterName.data, { v: 1 }, 'the current data comes back with a metadata-only change');
        assert.equal(afterName.createdAt, created.createdAt);
        assert.ok(Date.parse(afterName.updatedAt) > Date.parse(created.updatedAt), 'updatedAt moves');

        const remeta = await patchResource(t, alice.token, created.id, { metadata: { b: 2 } });
        assert.equal(remeta.version, 1);
        assert.equal(remeta.revision, 3);
        assert.deepEqual(remeta.metadata, { b: 2 }, 'metadata is replaced, not merged');
        assert.equal((await versionRows(created.id)).length, 1, 'no version row for name or metadata');

        // Data, changed by someone other than the owner: the version records who.
        const byAdmin = await call(t, admin.token, 'PATCH', `${R}/${created.id}`, { data: { v: 2 } });
        assert.equal(byAdmin.statusCode, 200, byAdmin.body);
        assert.equal(byAdmin.headers.etag, '"4"');
        const afterData = byAdmin.json() as Resource;
        assert.equal(afterData.version, 2);
        assert.deepEqual(afterData.data, { v: 2 });
        assert.equal(afterData.ownerId, alice.user.id, 'the owner does not change');
        assert.equal(afterData.name, 'Doc renamed');

        // All three at once: one new version.
        const all = await patchResource(t, alice.token, created.id, { name: 'Doc 3', metadata: { c: 3 }, data: { v: 3 } });
        assert.equal(all.version, 3);
        assert.deepEqual(
          (await versionRows(created.id)).map((r) => [r.version, r.data, r.created_by]),
          [
            [1, { v: 1 }, alice.user.id],
            [2, { v: 2 }, admin.user.id],
            [3, { v: 3 }, alice.user.id],
          ],
        );
        const read = await call(t, alice.token, 'GET', `${R}/${created.id}`);
        assert.equal(read.headers.etag, '"5"');
        assert.deepEqual(read.json(), all);
        assert.equal((await resourceRow(created.id))?.version, 3);
      });

      it('an empty PATCH changes nothing and writes no event, but its If-Match is still checked', async () => {
        const created = await createResource(t, alice, { name: 'Untouched', type: 'report', data: { v: 1 } });
        const response = await call(t, alice.token, 'PATCH', `${R}/${created.id}`, {});
        assert.equal(response.statusCode, 200, response.body);
        assert.equal(response.headers.etag, '"1"');
        assert.deepEqual(response.json(), created, 'not even updatedAt moves');
        assert.equal((await call(t, alice.token, 'PATCH', `${R}/${created.id}`, {}, { 'if-match': '"1"' })).statusCode, 200);
        const stale = await call(t, alice.token, 'PATCH', `${R}/${created.id}`, {}, { 'if-match': '"2"' });
        assertProblem(stale, 412, 'PRECONDITION_FAILED');
        assert.equal(stale.headers.etag, '"1"');
        assert.deepEqual(
          (await outboxRows(created.id)).map((r) => r.topic),
          ['resource.created'],
        );
        assert.deepEqual(await getJson<Resource>(t, alice.token, `${R}/${created.id}`), created);
        // Still access-checked: nothing to tell for someone who cannot read it, 403 for a reader.
        assertProblem(await call(t, bob.token, 'PATCH', `${R}/${created.id}`, {}), 404, 'NOT_FOUND');
        assertProblem(await call(t, alice.token, 'PATCH', `${R}/${created.id}`), 400, 'INVALID_INPUT');
      });

      it('lists versions newest first, a page at a time; reads one version; refuses bad cursors and limits', async () => {
        const created = await createResource(t, alice, { name: 'History', type: 'report', data: { n: 1 } });
        for (let n = 2; n <= 5; n++) await patchResource(t, n % 2 === 0 ? admin.token : alice.token, created.id, { data: { n } });

        const all = await getJson<Page<VersionItem>>(t, alice.token, `${R}/${created.id}/versions`);
        assert.deepEqual(
          all.items.map((v) => v.version),
          [5, 4, 3, 2, 1],
        );
        assert.equal(all.nextCursor, null);
        for (const item of all.items) {
          assert.deepEqual(Object.keys(item).sort(), ['createdAt', 'createdBy', 'version']);
          assert.equal(item.createdBy, item.version % 2 === 0 ? admin.user.id : alice.user.id);
        }

        const paged = await readAll<VersionItem>(t, alice.token, `${R}/${created.id}/versions`, 2);
        assert.deepEqual(
          paged.pages.map((p) => p.map((v) => v.version)),
          [[5, 4], [3, 2], [1]],
        );
        assert.deepEqual(paged.items, all.items);

        const three = await getJson<Version>(t, alice.token, `${R}/${created.id}/versions/3`);
        assert.deepEqual(Object.keys(three).sort(), ['createdAt', 'createdBy', 'data', 'version']);
        assert.deepEqual(three, { ...all.items[2], data: { n: 3 } });

        assertProblem(await call(t, alice.token, 'GET', `${R}/${created.id}/versions/6`), 404, 'NOT_FOUND');
        for (const n of ['0', '-1', 'abc', '1.5']) assertInvalidField(await call(t, alice.token, 'GET', `${R}/${created.id}/versions/${n}`), /^n$/);
        for (const query of ['cursor=abc', 'cursor=%21%21%21', `cursor=${Buffer.from('v0').toString('base64url')}`, `cursor=${'A'.repeat(65)}`]) {
          assertProblem(await call(t, alice.token, 'GET', `${R}/${created.id}/versions?${query}`), 400, 'INVALID_INPUT');
        }
        for (const limit of ['0', '101', 'abc']) assertInvalidField(await call(t, alice.token, 'GET', `${R}/${created.id}/versions?limit=${limit}`), /^limit$/);
      });

      it('diff returns an RFC 6902 patch that turns version `from` into version `to`, for every pair', async () => {
        const history: unknown[] = [
          { title: 'a', tags: ['x', 'y', 'z'], nested: { 'a/b': 1, 'm~n': [1, { deep: true }] }, removeMe: null, n: 1 },
          { title: 'b', tags: ['y', 'z', 'w'], nested: { 'a/b': 2, 'm~n': [1, { deep: false }, 3] }, added: { x: [] }, n: 1.5 },
          [1, 2, 3],
          'a scalar',
          { title: 'final', tags: [], nested: {}, unicode: 'é✓😀' },
        ];
        const created = await createResource(t, alice, { name: 'Diffs', type: 'report', data: history[0] });
        for (const data of history.slice(1)) await patchResource(t, alice.token, created.id, { data });

        for (let from = 1; from <= history.length; from++) {
          for (let to = 1; to <= history.length; to++) {
            const patch = await getJson<Operation[]>(t, alice.token, `${R}/${created.id}/diff?from=${from}&to=${to}`);
            assert.ok(Array.isArray(patch), 'a patch is a list of operations');
            for (const op of patch) assert.ok(['add', 'remove', 'replace', 'move', 'copy', 'test'].includes(op.op), JSON.stringify(op));
            if (from === to) assert.deepEqual(patch, [], 'no change, no operations');
            // applyPatch changes its target in place; a root replace cannot, so wrap it.
            const doc = { root: structuredClone(history[from - 1]) };
            const errors = applyPatch(
              doc,
              patch.map((op) => ({ ...op, path: `/root${op.path}`, ...('from' in op ? { from: `/root${op.from}` } : {}) }) as Operation),
            );
            assert.ok(
              errors.every((e) => e === null),
              `patch ${from}→${to} applies: ${JSON.stringify(errors)}`,
            );
            assert.deepEqual(doc.root, history[to - 1], `patch ${from}→${to} yields version ${to}`);
          }
        }
        assertProblem(await call(t, alice.token, 'GET', `${R}/${created.id}/diff?from=1&to=9`), 404, 'NOT_FOUND');
        assertProblem(await call(t, alice.token, 'GET', `${R}/${created.id}/diff?from=9&to=1`), 404, 'NOT_FOUND');
        assertInvalidField(await call(t, alice.token, 'GET', `${R}/${created.id}/diff?from=1`), /^to$/);
        assertInvalidField(await call(t, alice.token, 'GET', `${R}/${created.id}/diff?from=0&to=1`), /^from$/);
      });

      it('restore appends a version equal to version n, created by the caller, and the history keeps every version', async () => {
        const created = await createResource(t, alice, { name: 'Restorable', type: 'report', data: { step: 1, list: [1] } });
        await patchResource(t, alice.token, created.id, { data: { step: 2 } });
        await patchResource(t, alice.token, created.id, { data: { step: 3, extra: true } });

        const response = await call(t, admin.token, 'POST', `${R}/${created.id}/versions/1/restore`);
        assert.equal(response.statusCode, 200, response.body);
        assert.equal(response.headers.etag, '"4"');
        const restored = response.json() as Resource;
        assert.deepEqual(Object.keys(restored).sort(), RESOURCE_KEYS);
        assert.equal(restored.version, 4);
        assert.deepEqual(restored.data, { step: 1, list: [1] });
        assert.deepEqual(await getJson<Resource>(t, alice.token, `${R}/${created.id}`), restored);
        const four = await getJson<Version>(t, alice.token, `${R}/${created.id}/versions/4`);
        assert.deepEqual(four.data, { step: 1, list: [1] });
        assert.equal(four.createdBy, admin.user.id);
        assert.deepEqual(
          (await versionRows(created.id)).map((r) => [r.version, r.data]),
          [
            [1, { step: 1, list: [1] }],
            [2, { step: 2 }],
            [3, { step: 3, extra: true }],
            [4, { step: 1, list: [1] }],
          ],
        );
        // Restoring the current version still appends one.
        const again = await call(t, alice.token, 'POST', `${R}/${created.id}/versions/4/restore`);
        assert.equal((again.json() as Resource).version, 5);
        assertProblem(await call(t, alice.token, 'POST', `${R}/${created.id}/versions/9/restore`), 404, 'NOT_FOUND');
        assert.equal((await versionRows(created.id)).length, 5, 'a failed restore appends nothing');
      });

      it('DELETE answers 204, then 404; its versions and shares are gone from the database', async () => {
        const created = await createResource(t, alice, { name: 'Doomed', type: 'report', data: { v: 1 } });
        await patchResource(t, alice.token, created.id, { data: { v: 2 } });
        const share = await call(t, alice.token, 'POST', `${R}/${created.id}/shares`, { userId: bob.user.id, actions: ['read', 'update'] });
        assert.equal(share.statusCode, 201, share.body);
        assert.equal((await shareRows(created.id)).length, 1, 'one share row, both actions');
        assert.equal((await call(t, bob.token, 'GET', `${R}/${created.id}`)).statusCode, 200);

        const deleted = await call(t, alice.token, 'DELETE', `${R}/${created.id}`);
        assert.equal(deleted.statusCode, 204, deleted.body);
        assert.equal(deleted.body, '');
        for (const session of [alice, bob, admin]) assertProblem(await call(t, session.token, 'GET', `${R}/${created.id}`), 404, 'NOT_FOUND');
        assertProblem(await call(t, alice.token, 'DELETE', `${R}/${created.id}`), 404, 'NOT_FOUND');
        assertProblem(await call(t, alice.token, 'GET', `${R}/${created.id}/versions`), 404, 'NOT_FOUND');
        assert.equal(await resourceRow(created.id), undefined);
        assert.equal((await versionRows(created.id)).length, 0, 'versions gone');
        assert.equal((await shareRows(created.id)).length, 0, 'shares gone');
        const bobsList = await getJson<Page<Summary>>(t, bob.token, `${R}?limit=100`);
        assert.ok(!bobsList.items.some((r) => r.id === created.id), 'gone from bob’s list');
      });
    });

    describe('immutability and the outbox', () => {
      it('refuses UPDATE and DELETE of resource_versions in the database; deleting the resource cascades', async () => {
        const created = await createResource(t, alice, { name: 'Immutable', type: 'report', data: { v: 1 } });
        await patchResource(t, alice.token, created.id, { data: { v: 2 } });
        const before = await versionRows(created.id);
        const total = async () =>
          Number(
            (
              await db()
                .selectFrom('resource_versions')
                .select(sql<string>`count(*)`.as('n'))
                .executeTakeFirstOrThrow()
            ).n,
          );
        const totalBefore = await total();

        await assert.rejects(
          db()
            .updateTable('resource_versions')
            .set({ data: JSON.stringify({ hacked: true }) })
            .where('resource_id', '=', created.id)
            .execute(),
          refusedAsImmutable,
        );
        await assert.rejects(
          db().updateTable('resource_versions').set({ created_by: null }).where('resource_id', '=', created.id).where('version', '=', 1).execute(),
          refusedAsImmutable,
        );
        await assert.rejects(
          db().updateTable('resource_versions').set({ version: 7 }).where('resource_id', '=', created.id).where('version', '=', 2).execute(),
          refusedAsImmutable,
        );
        await assert.rejects(db().deleteFrom('resource_versions').where('resource_id', '=', created.id).execute(), refusedAsImmutable);
        await assert.rejects(db().deleteFrom('resource_versions').execute(), refusedAsImmutable);
        await assert.rejects(sql`DELETE FROM resource_versions WHERE resource_id = ${created.id} AND version = 2`.execute(db()), refusedAsImmutable);
        // Inside a transaction too: it fails, nothing is half-done.
        await assert.rejects(
          db()
            .transaction()
            .execute(async (tx) => {
              await tx.updateTable('resources').set({ version: 1 }).where('id', '=', created.id).execute();
              await tx.deleteFrom('resource_versions').where('resource_id', '=', created.id).where('version', '=', 2).execute();
            }),
          refusedAsImmutable,
        );
        // TRUNCATE too (in a transaction rolled back either way, so a failure here cannot wipe the table).
        await assert.rejects(
          db()
            .transaction()
            .execute(async (tx) => {
              await sql`TRUNCATE resource_versions`.execute(tx);
              throw new Error('TRUNCATE went through');
            }),
          refusedAsImmutable,
        );
        assert.deepEqual(await versionRows(created.id), before, 'the history is unchanged');
        assert.equal(await total(), totalBefore);
        assert.equal((await resourceRow(created.id))?.version, 2);

        // The resource's own deletion takes its versions with it, through the API and directly.
        const direct = await createResource(t, alice, { name: 'Immutable 2', type: 'report', data: { v: 1 } });
        await patchResource(t, alice.token, direct.id, { data: { v: 2 } });
        await db().deleteFrom('resources').where('id', '=', direct.id).execute();
        assert.equal((await versionRows(direct.id)).length, 0);
        assert.equal((await call(t, alice.token, 'DELETE', `${R}/${created.id}`)).statusCode, 204);
        assert.equal((await versionRows(created.id)).length, 0);
        assert.equal(await total(), totalBefore - 2);
      });

      it('writes one outbox event per create, data update, metadata-only update, restore and delete, and none for a failed write', async () => {
        const response = await call(t, alice.token, 'POST', R, { name: 'Evented', type: 'report', data: { v: 1 } });
        const created = response.json() as Resource;
        const expectTopics = async (topics: string[]) => {
          const rows = await outboxRows(created.id);
          assert.deepEqual(
            rows.map((r) => r.topic),
            topics,
          );
          for (const row of rows) {
            assert.equal(row.aggregate_type, 'resource');
            assert.equal(row.aggregate_id, created.id);
            assert.equal((row.payload as { id?: string }).id, created.id);
          }
          return rows;
        };
        const [first] = await expectTopics(['resource.created']);
        assert.equal((first!.payload as { actorId?: string }).actorId, alice.user.id);
        assert.match(first!.trace_id ?? '', /^[0-9a-f]{32}$/);

        await patchResource(t, alice.token, created.id, { data: { v: 2 } });
        await expectTopics(['resource.created', 'resource.updated']);
        await patchResource(t, alice.token, created.id, { metadata: { only: 'metadata' } });
        await expectTopics(['resource.created', 'resource.updated', 'resource.updated']);
        await patchResource(t, alice.token, created.id, { name: 'Evented renamed' });
        await expectTopics(['resource.created', 'resource.updated', 'resource.updated', 'resource.updated']);
        assert.equal((await call(t, alice.token, 'POST', `${R}/${created.id}/versions/1/restore`)).statusCode, 200);
        const events = ['resource.created', 'resource.updated', 'resource.updated', 'resource.updated', 'resource.restored'];
        const rows = await expectTopics(events);
        assert.equal((rows[4]!.payload as { version?: number }).version, 3);

        // Failed writes write nothing: a stale If-Match, a missing version, invalid input, no access.
        assertProblem(await call(t, alice.token, 'PATCH', `${R}/${created.id}`, { data: { v: 9 } }, { 'if-match': '"1"' }), 412, 'PRECONDITION_FAILED');
        assertProblem(await call(t, alice.token, 'PATCH', `${R}/${created.id}`, { metadata: { x: 1 } }, { 'if-match': '"2"' }), 412, 'PRECONDITION_FAILED');
        assertProblem(await call(t, alice.token, 'POST', `${R}/${created.id}/versions/9/restore`), 404, 'NOT_FOUND');
        assertProblem(await call(t, alice.token, 'PATCH', `${R}/${created.id}`, { type: 'other' }), 400, 'INVALID_INPUT');
        assertProblem(await call(t, bob.token, 'PATCH', `${R}/${created.id}`, { data: { v: 9 } }), 404, 'NOT_FOUND');
        assertProblem(await call(t, bob.token, 'DELETE', `${R}/${created.id}`), 404, 'NOT_FOUND');
        await expectTopics(events);

        assert.equal((await call(t, alice.token, 'DELETE', `${R}/${created.id}`)).statusCode, 204);
        await expectTopics([...events, 'resource.deleted']);
      });

      it('writes the change and its event in one transaction: when the outbox refuses, nothing changes', async () => {
        const poisoned = 'outbox refuses this';
        const created = await createResource(t, alice, { name: poisoned, type: 'report', metadata: { m: 1 }, data: { v: 1 } });
        await patchResource(t, alice.token, created.id, { data: { v: 2 } });
        const eventsBefore = await outboxRows(created.id);
        await sql`CREATE FUNCTION test_refuse_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            IF NEW.payload->>'name' = 'outbox refuses this' THEN RAISE EXCEPTION 'test: outbox refused'; END IF;
            RETURN NEW;
          END; $$`.execute(db());
        await sql`CREATE TRIGGER test_refuse_outbox BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION test_refuse_outbox()`.execute(db());
        const key = `outbox-${newId()}`;
        try {
          const beforeRow = await resourceRow(created.id);
          const attempts: [string, Promise<InjectedResponse>][] = [
            ['create', call(t, alice.token, 'POST', R, { name: poisoned, type: 'report', data: { fresh: true } })],
            ['create with a key', call(t, alice.token, 'POST', R, { name: poisoned, type: 'report', data: { keyed: true } }, { 'idempotency-key': key })],
            ['data update', call(t, alice.token, 'PATCH', `${R}/${created.id}`, { data: { v: 3 } })],
            ['metadata update', call(t, alice.token, 'PATCH', `${R}/${created.id}`, { metadata: { m: 2 } })],
            ['restore', call(t, alice.token, 'POST', `${R}/${created.id}/versions/1/restore`)],
            ['delete', call(t, alice.token, 'DELETE', `${R}/${created.id}`)],
          ];
          for (const [label, attempt] of attempts) {
            const body = assertProblem(await attempt, 500, 'INTERNAL_ERROR');
            assert.doesNotMatch(JSON.stringify(body), /outbox refused|plpgsql|INSERT/i, `${label}: no internal message`);
          }
          assert.deepEqual(
            (await resourcesNamed(poisoned)).map((r) => r.id),
            [created.id],
            'no resource was created',
          );
          assert.deepEqual(await resourceRow(created.id), beforeRow, 'the resource is unchanged');
          assert.equal((await versionRows(created.id)).length, 2, 'no version was appended');
          assert.deepEqual(await outboxRows(created.id), eventsBefore);
          // The cache was not left holding what never committed.
          const read = await getJson<Resource>(t, alice.token, `${R}/${created.id}`);
          assert.equal(read.version, 2);
          assert.deepEqual(read.metadata, { m: 1 });
        } finally {
          await sql`DROP TRIGGER test_refuse_outbox ON outbox`.execute(db());
          await sql`DROP FUNCTION test_refuse_outbox()`.execute(db());
        }
        // A failed keyed write releases its key: the retry does the work.
        const retry = await call(t, alice.token, 'POST', R, { name: poisoned, type: 'report', data: { keyed: true } }, { 'idempotency-key': key });
        assert.equal(retry.statusCode, 201, retry.body);
        assert.equal(retry.headers['idempotent-replayed'], undefined);
        assert.equal((await resourcesNamed(poisoned)).length, 2);
      });
    });

    describe('concurrency', () => {
      it('a stale If-Match answers 412 with the current ETag; a current, weak or * If-Match passes', async () => {
        const created = await createResource(t, alice, { name: 'Guarded', type: 'report', data: { v: 1 } });
        await patchResource(t, alice.token, created.id, { data: { v: 2 } }, { 'if-match': '"1"' });
        for (const ifMatch of ['"1"', '"3"', '"abc"', 'garbage', '"0"', 'W/"2"', 'W/"2", "1"', '"1", "3"']) {
          const stale = await call(t, alice.token, 'PATCH', `${R}/${created.id}`, { data: { v: 'stale' } }, { 'if-match': ifMatch });
          assertProblem(stale, 412, 'PRECONDITION_FAILED');
          assert.equal(stale.headers.etag, '"2"', `If-Match ${ifMatch}`);
        }
        const name = await call(t, alice.token, 'PATCH', `${R}/${created.id}`, { name: 'stale name' }, { 'if-match': '"1"' });
        assertProblem(name, 412, 'PRECONDITION_FAILED');
        assert.equal(name.headers.etag, '"2"');
        const current = await getJson<Resource>(t, alice.token, `${R}/${created.id}`);
        assert.equal(current.version, 2);
        assert.equal(current.name, 'Guarded');
        assert.equal((await versionRows(created.id)).length, 2);

        assert.equal((await patchResource(t, alice.token, created.id, { data: { v: 3 } }, { 'if-match': '"2"' })).version, 3);
        assert.equal((await patchResource(t, alice.token, created.id, { data: { v: 4 } }, { 'if-match': '*' })).version, 4);
        const renamed = await patchResource(t, alice.token, created.id, { name: 'metadata only' }, { 'if-match': '"4"' });
        assert.deepEqual([renamed.version, renamed.revision], [4, 5], 'a rename keeps the version and moves the revision (the ETag)');
        // So of concurrent renames under one If-Match, one passes: none is lost unseen.
        const renames = await Promise.all(
          [0, 1, 2].map((i) => call(t, alice.token, 'PATCH', `${R}/${created.id}`, { name: `rename ${i}` }, { 'if-match': '"5"' })),
        );
        assert.deepEqual(sameStatusSet(renames), [200, 412, 412], renames.map((r) => `${r.statusCode} ${r.body}`).join('\n'));
        assert.equal((await versionRows(created.id)).length, 4);
      });

      it('an If-Match list matches when any of its strong tags is current (RFC 9110 §13.1.1)', async () => {
        const created = await createResource(t, alice, { name: 'Listed tags', type: 'report', data: { v: 1 } });
        await patchResource(t, alice.token, created.id, { data: { v: 2 } });
        assert.equal((await patchResource(t, alice.token, created.id, { data: { v: 3 } }, { 'if-match': '"1", "2"' })).version, 3);
        assert.equal((await patchResource(t, alice.token, created.id, { data: { v: 4 } }, { 'if-match': 'W/"1", "3" , "9"' })).version, 4);
        const weak = await call(t, alice.token, 'PATCH', `${R}/${created.id}`, { data: { v: 5 } }, { 'if-match': 'W/"4"' });
        assertProblem(weak, 412, 'PRECONDITION_FAILED');
        assert.equal(weak.headers.etag, '"4"');
      });

      it('8 concurrent data PATCHes with If-Match "1": exactly one 200, seven 412', async () => {
        const created = await createResource(t, alice, { name: 'Race', type: 'report', data: { writer: 'initial' } });
        const responses = await Promise.all(
          Array.from({ length: 8 }, (_, i) => call(t, alice.token, 'PATCH', `${R}/${created.id}`, { data: { writer: i } }, { 'if-match': '"1"' })),
        );
        assert.deepEqual(sameStatusSet(responses), [200, 412, 412, 412, 412, 412, 412, 412], responses.map((r) => `${r.statusCode} ${r.body}`).join('\n'));
        const winner = responses.find((r) => r.statusCode === 200)!.json() as Resource;
        assert.equal(winner.version, 2);
        for (const loser of responses.filter((r) => r.statusCode === 412)) {
          assertProblem(loser, 412, 'PRECONDITION_FAILED');
          assert.equal(loser.headers.etag, '"2"');
        }
        const rows = await versionRows(created.id);
        assert.deepEqual(
          rows.map((r) => [r.version, r.data]),
          [
            [1, { writer: 'initial' }],
            [2, winner.data],
          ],
        );
        assert.equal((await outboxRows(created.id)).length, 2, 'one created and one updated event');
      });

      it('8 concurrent data PATCHes without If-Match: all 200, versions 2..9 contiguous, each holding one request', async () => {
        const created = await createResource(t, alice, { name: 'Pile-up', type: 'report', data: { writer: 'initial' } });
        const responses = await Promise.all(
          Array.from({ length: 8 }, (_, i) => call(t, i % 2 ? admin.token : alice.token, 'PATCH', `${R}/${created.id}`, { data: { writer: i } })),
        );
        for (const response of responses) assert.equal(response.statusCode, 200, response.body);
        const bodies = responses.map((r) => r.json() as Resource);
        assert.deepEqual(
          bodies.map((b) => b.version).sort((a, b) => a - b),
          [2, 3, 4, 5, 6, 7, 8, 9],
          'each write got its own version',
        );

        const listed = await getJson<Page<VersionItem>>(t, alice.token, `${R}/${created.id}/versions?limit=100`);
        assert.deepEqual(
          listed.items.map((v) => v.version),
          [9, 8, 7, 6, 5, 4, 3, 2, 1],
        );
        const writers = new Set<unknown>();
        for (const item of listed.items.filter((v) => v.version > 1)) {
          const version = await getJson<Version>(t, alice.token, `${R}/${created.id}/versions/${item.version}`);
          const writer = (version.data as { writer: number }).writer;
          assert.ok(Number.isInteger(writer) && writer >= 0 && writer < 8, JSON.stringify(version.data));
          writers.add(writer);
          // The answer that claimed this version carried this data, and its author.
          const answer = bodies.find((b) => b.version === item.version)!;
          assert.deepEqual(answer.data, version.data);
          assert.equal(version.createdBy, writer % 2 ? admin.user.id : alice.user.id);
        }
        assert.equal(writers.size, 8, 'every request is in exactly one version');
        const current = await getJson<Resource>(t, alice.token, `${R}/${created.id}`);
        assert.equal(current.version, 9);
        assert.deepEqual(current.data, bodies.find((b) => b.version === 9)!.data);
      });
    });

    describe('Idempotency-Key', () => {
      const body = { name: 'Idempotent', type: 'invoice', metadata: { n: 1 }, data: { total: 10 } };

      it('replays the same answer for the same key and body, with idempotent-replayed, and creates one resource', async () => {
        const key = `create-${newId()}`;
        const first = await call(t, alice.token, 'POST', R, body, { 'idempotency-key': key });
        assert.equal(first.statusCode, 201, first.body);
        assert.equal(first.headers['idempotent-replayed'], undefined);
        const replay = await call(t, alice.token, 'POST', R, body, { 'idempotency-key': key });
        assert.equal(replay.statusCode, 201, replay.body);
        assert.equal(replay.headers['idempotent-replayed'], 'true');
        assert.deepEqual(replay.json(), first.json());
        assert.equal(replay.headers.location, first.headers.location);
        assert.equal(replay.headers.etag, first.headers.etag);
        const id = (first.json() as Resource).id;
        // The same JSON with its keys in another order is the same request.
        const reordered = await call(
          t,
          alice.token,
          'POST',
          R,
          { data: { total: 10 }, metadata: { n: 1 }, type: 'invoice', name: 'Idempotent' },
          { 'idempotency-key': key },
        );
        assert.equal(reordered.statusCode, 201, reordered.body);
        assert.equal(reordered.headers['idempotent-replayed'], 'true');
        assert.equal((reordered.json() as Resource).id, id);
        assert.deepEqual(
          (await resourcesNamed('Idempotent')).map((r) => r.id),
          [id],
        );
        assert.equal((await outboxRows(id)).length, 1, 'one event');

        // Another body under the key: 422, and still one resource.
        for (const other of [
          { ...body, data: { total: 11 } },
          { ...body, metadata: undefined },
          { ...body, name: 'Idempotent 2' },
        ]) {
          assertProblem(await call(t, alice.token, 'POST', R, other, { 'idempotency-key': key }), 422, 'UNPROCESSABLE_ENTITY');
        }
        assert.equal((await db().selectFrom('resources').select('id').where('type', '=', 'invoice').execute()).length, 1);

        // Another user's key of the same text is its own.
        const bobs = await call(t, bob.token, 'POST', R, body, { 'idempotency-key': key });
        assert.equal(bobs.statusCode, 201, bobs.body);
        assert.equal(bobs.headers['idempotent-replayed'], undefined);
        const bobsResource = bobs.json() as Resource;
        assert.notEqual(bobsResource.id, id);
        assert.equal(bobsResource.ownerId, bob.user.id);
        const bobsReplay = await call(t, bob.token, 'POST', R, body, { 'idempotency-key': key });
        assert.equal(bobsReplay.headers['idempotent-replayed'], 'true');
        assert.equal((bobsReplay.json() as Resource).id, bobsResource.id);
        assert.equal((await resourcesNamed('Idempotent')).length, 2);

        // Without a key, every POST creates.
        await createResource(t, alice, body);
        await createResource(t, alice, body);
        assert.equal((await resourcesNamed('Idempotent')).length, 4);
      });

      it('answers a duplicate in flight with 409 or the replay, never a second resource', async () => {
        for (let round = 0; round < 3; round++) {
          const key = `race-${newId()}`;
          const name = `Race idempotent ${round}`;
          const request = { ...body, name };
          const responses = await Promise.all([0, 1, 2].map(() => call(t, alice.token, 'POST', R, request, { 'idempotency-key': key })));
          const fresh = responses.filter((r) => r.statusCode === 201 && r.headers['idempotent-replayed'] === undefined);
          assert.equal(fresh.length, 1, responses.map((r) => `${r.statusCode} ${String(r.headers['idempotent-replayed'])} ${r.body}`).join('\n'));
          const id = (fresh[0]!.json() as Resource).id;
          for (const other of responses.filter((r) => r !== fresh[0])) {
            if (other.statusCode === 409) assertProblem(other, 409, 'CONFLICT');
            else {
              assert.equal(other.statusCode, 201, other.body);
              assert.equal(other.headers['idempotent-replayed'], 'true');
              assert.equal((other.json() as Resource).id, id);
            }
          }
          assert.deepEqual(
            (await resourcesNamed(name)).map((r) => r.id),
            [id],
          );
          // Once the first finished, the key replays.
          const later = await call(t, alice.token, 'POST', R, request, { 'idempotency-key': key });
          assert.equal(later.headers['idempotent-replayed'], 'true');
          assert.equal((later.json() as Resource).id, id);
        }
      });

      it('answers 409 while a claim is unanswered, and takes over a claim abandoned for minutes', async () => {
        const key = `claim-${newId()}`;
        const request = { ...body, name: 'Claimed key' };
        const first = (await createResource(t, alice, request, { 'idempotency-key': key })).id;
        // Make the key look claimed by a request still running (what a concurrent duplicate sees).
        await sql`UPDATE idempotency_keys SET status = NULL, response = NULL WHERE user_id = ${alice.user.id} AND key = ${key}`.execute(db());
        const inFlight = await call(t, alice.token, 'POST', R, request, { 'idempotency-key': key });
        assertProblem(inFlight, 409, 'CONFLICT');
        assert.equal(inFlight.headers['retry-after'], '1');
        assertProblem(await call(t, alice.token, 'POST', R, { ...request, data: 'other' }, { 'idempotency-key': key }), 422, 'UNPROCESSABLE_ENTITY');
        assert.equal((await resourcesNamed('Claimed key')).length, 1);

        await sql`UPDATE idempotency_keys SET created_at = now() - interval '6 minutes' WHERE user_id = ${alice.user.id} AND key = ${key}`.execute(db());
        const takenOver = await call(t, alice.token, 'POST', R, request, { 'idempotency-key': key });
        assert.equal(takenOver.statusCode, 201, takenOver.body);
        assert.equal(takenOver.headers['idempotent-replayed'], undefined);
        const second = (takenOver.json() as Resource).id;
        assert.notEqual(second, first);
        const replay = await call(t, alice.token, 'POST', R, request, { 'idempotency-key': key });
        assert.equal(replay.headers['idempotent-replayed'], 'true');
        assert.equal((replay.json() as Resource).id, second);
      });

      it('refuses malformed keys with 400 and creates nothing', async () => {
        const before = (await resourcesNamed('Malformed key')).length;
        for (const key of ['k'.repeat(300), 'k'.repeat(256), 'has space', 'tab\tkey', 'naïve', '']) {
          const response = await call(t, alice.token, 'POST', R, { ...body, name: 'Malformed key' }, { 'idempotency-key': key });
          assertProblem(response, 400, 'INVALID_INPUT');
        }
        assert.equal((await resourcesNamed('Malformed key')).length, before);
        // The longest allowed key works.
        assert.equal((await call(t, alice.token, 'POST', R, { ...body, name: 'Malformed key' }, { 'idempotency-key': 'k'.repeat(255) })).statusCode, 201);
      });

      it('forgets keys after 24 h', async () => {
        const key = `old-${newId()}`;
        const request = { ...body, name: 'Aged key' };
        const first = (await createResource(t, alice, request, { 'idempotency-key': key })).id;
        const age = (hours: number) =>
          sql`UPDATE idempotency_keys SET created_at = now() - make_interval(hours => ${hours}) WHERE user_id = ${alice.user.id} AND key = ${key}`.execute(
            db(),
          );

        await age(23);
        const young = await call(t, alice.token, 'POST', R, request, { 'idempotency-key': key });
        assert.equal(young.headers['idempotent-replayed'], 'true', '23 h old: still remembered');
        assert.equal((young.json() as Resource).id, first);

        await age(25);
        const fresh = await call(t, alice.token, 'POST', R, request, { 'idempotency-key': key });
        assert.equal(fresh.statusCode, 201, fresh.body);
        assert.equal(fresh.headers['idempotent-replayed'], undefined);
        const second = (fresh.json() as Resource).id;
        assert.notEqual(second, first);
        assert.deepEqual(sortedIds((await resourcesNamed('Aged key')).map((r) => r.id)), sortedIds([first, second]));
        // And the new answer is the one remembered now.
        const replay = await call(t, alice.token, 'POST', R, request, { 'idempotency-key': key });
        assert.equal((replay.json() as Resource).id, second);
      });

      it('makes restore idempotent per key, separately from creates and from other users', async () => {
        const created = await createResource(t, alice, { name: 'Restore once', type: 'report', data: { v: 1 } });
        await patchResource(t, alice.token, created.id, { data: { v: 2 } });
        const key = `restore-${newId()}`;
        const url = `${R}/${created.id}/versions/1/restore`;
        const first = await call(t, alice.token, 'POST', url, undefined, { 'idempotency-key': key });
        assert.equal(first.statusCode, 200, first.body);
        assert.equal(first.headers['idempotent-replayed'], undefined);
        const replay = await call(t, alice.token, 'POST', url, undefined, { 'idempotency-key': key });
        assert.equal(replay.statusCode, 200, replay.body);
        assert.equal(replay.headers['idempotent-replayed'], 'true');
        assert.deepEqual(replay.json(), first.json());
        assert.equal(replay.headers.etag, '"3"');
        assert.equal((await versionRows(created.id)).length, 3, 'one version appended');
        assert.deepEqual(
          (await outboxRows(created.id)).map((r) => r.topic),
          ['resource.created', 'resource.updated', 'resource.restored'],
        );

        // Another version under the key is another request.
        assertProblem(
          await call(t, alice.token, 'POST', `${R}/${created.id}/versions/2/restore`, undefined, { 'idempotency-key': key }),
          422,
          'UNPROCESSABLE_ENTITY',
        );
        assertProblem(await call(t, alice.token, 'POST', url, undefined, { 'idempotency-key': 'x'.repeat(300) }), 400, 'INVALID_INPUT');
        // The same key for a create, or for another user's restore, is not a replay.
        const create = await call(t, alice.token, 'POST', R, { name: 'Restore key reuse', type: 'report', data: {} }, { 'idempotency-key': key });
        assert.equal(create.statusCode, 201, create.body);
        assert.equal(create.headers['idempotent-replayed'], undefined);
        const byAdmin = await call(t, admin.token, 'POST', url, undefined, { 'idempotency-key': key });
        assert.equal(byAdmin.statusCode, 200, byAdmin.body);
        assert.equal(byAdmin.headers['idempotent-replayed'], undefined);
        assert.equal((byAdmin.json() as Resource).version, 4);
        // Concurrent duplicates: one restore at most.
        const raceKey = `restore-race-${newId()}`;
        const raced = await Promise.all([0, 1, 2].map(() => call(t, alice.token, 'POST', url, undefined, { 'idempotency-key': raceKey })));
        assert.equal(raced.filter((r) => r.statusCode === 200 && r.headers['idempotent-replayed'] === undefined).length, 1);
        for (const r of raced) assert.ok(r.statusCode === 200 || r.statusCode === 409, r.body);
        assert.equal((await versionRows(created.id)).length, 5);
      });
    });

    describe('listing', () => {
      let dave: Session;
      let erin: Session;
      const owned = new Map<string, string[]>();
      const sharedWithDave: string[] = [];
      const named = new Map<string, string>();

      before(async () => {
        [dave, erin] = await Promise.all([newMember('dave'), newMember('erin')]);
        const owners = [admin, dave, erin];
        for (const owner of owners) owned.set(owner.user.id, []);
        // 45 resources, owners interleaved so every page mixes them.
        for (let i = 0; i < 45; i++) {
          const owner = owners[i % 3]!;
          const created = await createResource(t, owner, {
            name: `Listed ${String(i).padStart(2, '0')}`,
            type: i % 5 === 0 ? 'list.other' : 'list.item',
            data: { i },
          });
          owned.get(owner.user.id)!.push(created.id);
        }
        for (const id of owned.get(erin.user.id)!.filter((_, i) => i % 5 === 1)) {
          const response = await call(t, erin.token, 'POST', `${R}/${id}/shares`, { userId: dave.user.id, actions: ['read'] });
          assert.equal(response.statusCode, 201, response.body);
          sharedWithDave.push(id);
        }
        for (const name of ['100% Done', '100 Done', '1000 Done', 'snake_case', 'snakeXcase', 'MiXeD Case Name', 'back\\slash', 'backslash']) {
          named.set(name, (await createResource(t, dave, { name, type: 'list.q', data: {} })).id);
        }
      });

      it('pages through every readable resource with limit=7, as a member and as an admin: no duplicates, ordered by id', async () => {
        const daveExpected = sortedIds([...owned.get(dave.user.id)!, ...named.values(), ...sharedWithDave]);
        const daves = await readAll<Summary>(t, dave.token, R, 7);
        assert.ok(daves.pages.length >= 4, `${daves.pages.length} pages`);
        const daveIds = daves.items.map((r) => r.id);
        assert.deepEqual(daveIds, sortedIds(daveIds), 'ordered by id');
        assert.equal(new Set(daveIds).size, daveIds.length, 'no duplicates');
        assert.deepEqual(daveIds, daveExpected, 'exactly its own and the shared ones');
        for (const item of daves.items) assert.deepEqual(Object.keys(item).sort(), SUMMARY_KEYS, 'lists carry no data');

        const all = sortedIds((await db().selectFrom('resources').select('id').execute()).map((r) => r.id));
        assert.ok(all.length > 60, `${all.length} resources`);
        const admins = await readAll<Summary>(t, admin.token, R, 7);
        const adminIds = admins.items.map((r) => r.id);
        assert.equal(new Set(adminIds).size, adminIds.length, 'no duplicates');
        assert.deepEqual(adminIds, all, 'the admin reads every resource, in id order');

        // Erin's list holds only her own (sharing is one way).
        const erins = await readAll<Summary>(t, erin.token, R, 7);
        assert.deepEqual(
          erins.items.map((r) => r.id),
          sortedIds(owned.get(erin.user.id)!),
        );
        // A type filter pages the same way.
        const items = await readAll<Summary>(t, dave.token, `${R}?type=list.item`, 7);
        assert.ok(
          items.items.every((r) => r.type === 'list.item'),
          'only the type asked for',
        );
        assert.deepEqual(
          items.items.map((r) => r.id),
          daveExpected.filter((id) => daves.items.find((r) => r.id === id)!.type === 'list.item'),
        );
      });

      it('uses limit 20 by default and accepts 1 to 100; refuses limit 0, 101, abc and bad cursors with 400', async () => {
        const page = await getJson<Page<Summary>>(t, admin.token, R);
        assert.equal(page.items.length, 20);
        assert.equal(typeof page.nextCursor, 'string');
        assert.equal((await getJson<Page<Summary>>(t, admin.token, `${R}?limit=1`)).items.length, 1);
        const hundred = await getJson<Page<Summary>>(t, admin.token, `${R}?limit=100`);
        assert.equal(
          hundred.items.length,
          Math.min(
            100,
            Number(
              (
                await db()
                  .selectFrom('resources')
                  .select(sql<string>`count(*)`.as('n'))
                  .executeTakeFirstOrThrow()
              ).n,
            ),
          ),
        );
        for (const limit of ['0', '101', 'abc', '-1', '1.5']) assertInvalidField(await call(t, admin.token, 'GET', `${R}?limit=${limit}`), /^limit$/);
        for (const cursor of ['abc', '%21%21%21', Buffer.from('not a uuid').toString('base64url'), 'A'.repeat(65)]) {
          assertProblem(await call(t, admin.token, 'GET', `${R}?cursor=${cursor}`), 400, 'INVALID_INPUT');
        }
        assertProblem(await call(t, admin.token, 'GET', `${R}?unknown=1`), 400, 'INVALID_INPUT');
      });

      it('filters by type, by ownerId and by q (case-insensitive contains; % and _ are literals)', async () => {
        const ids = async (token: string, query: string) => (await readAll<Summary>(t, token, `${R}?${query}`, 100)).items.map((r) => r.id);
        const byName = (...names: string[]) => sortedIds(names.map((n) => named.get(n)!));

        assert.deepEqual(await ids(dave.token, 'type=list.q'), byName(...named.keys()));
        assert.deepEqual(await ids(admin.token, 'type=list.q'), byName(...named.keys()));
        assert.deepEqual(await ids(erin.token, 'type=list.q'), [], 'not readable, not listed');
        assert.deepEqual(await ids(dave.token, 'type=no.such.type'), []);

        assert.deepEqual(await ids(admin.token, `ownerId=${erin.user.id}`), sortedIds(owned.get(erin.user.id)!));
        assert.deepEqual(await ids(admin.token, `ownerId=${erin.user.id.toUpperCase()}`), sortedIds(owned.get(erin.user.id)!));
        assert.deepEqual(await ids(dave.token, `ownerId=${erin.user.id}`), sortedIds(sharedWithDave), 'a member sees only what it may read');
        assert.deepEqual(await ids(dave.token, `ownerId=${admin.user.id}`), []);
        assert.deepEqual(
          await ids(admin.token, `ownerId=${erin.user.id}&type=list.other`),
          sortedIds(owned.get(erin.user.id)!.filter((_, i) => (i * 3 + 2) % 5 === 0)),
        );
        assertInvalidField(await call(t, admin.token, 'GET', `${R}?ownerId=nope`), /^ownerId$/);

        const q = (text: string) => ids(dave.token, `type=list.q&q=${encodeURIComponent(text)}`);
        assert.deepEqual(await q('100%'), byName('100% Done'));
        assert.deepEqual(await q('%'), byName('100% Done'));
        assert.deepEqual(await q('0% d'), byName('100% Done'));
        assert.deepEqual(await q('100'), byName('100% Done', '100 Done', '1000 Done'));
        assert.deepEqual(await q('_'), byName('snake_case'));
        assert.deepEqual(await q('e_c'), byName('snake_case'));
        assert.deepEqual(await q('\\'), byName('back\\slash'));
        assert.deepEqual(await q('mixed case'), byName('MiXeD Case Name'));
        assert.deepEqual(await q('MIXED'), byName('MiXeD Case Name'));
        assert.deepEqual(await q('CASE'), byName('snake_case', 'snakeXcase', 'MiXeD Case Name'));
        assert.deepEqual(await q(''), byName(...named.keys()), 'an empty q filters nothing');
        assert.deepEqual(await q('zzz'), []);
        // Without a type, q finds readable rows only.
        assert.deepEqual(await ids(erin.token, 'q=snake'), []);
        assert.deepEqual(await ids(admin.token, 'q=snake_'), byName('snake_case'));
      });
    });

    describe('limits', () => {
      const valid = { name: 'Limits', type: 'limits', data: { ok: true } };
      const countLimits = async () => (await db().selectFrom('resources').select('id').where('type', '=', 'limits').execute()).length;

      it('refuses empty, 256-character and control-character names; accepts 255', async () => {
        const before = await countLimits();
        for (const name of ['', '   ', 'n'.repeat(256), 'bell\u0007name', 'del\u007fname', 'nul\u0000name', 'c1\u0085name', 5, null]) {
          assertInvalidField(await call(t, alice.token, 'POST', R, { ...valid, name }), /^name$/);
        }
        const created = await createResource(t, alice, { ...valid, name: 'n'.repeat(255) });
        assert.equal(created.name.length, 255);
        for (const name of ['', 'n'.repeat(256), 'bell\u0007name'])
          assertInvalidField(await call(t, alice.token, 'PATCH', `${R}/${created.id}`, { name }), /^name$/);
        assert.equal(await countLimits(), before + 1);
        assert.equal((await getJson<Resource>(t, alice.token, `${R}/${created.id}`)).name, 'n'.repeat(255));
      });

      it('counts name length in characters (code points), as the database does', async () => {
        const emoji = '\u{1F600}'.repeat(255);
        assert.equal(emoji.length, 510, 'UTF-16 units');
        assert.equal((await createResource(t, alice, { ...valid, name: emoji })).name, emoji);
        assertInvalidField(await call(t, alice.token, 'POST', R, { ...valid, name: '\u{1F600}'.repeat(256) }), /^name$/);
        assertInvalidField(await call(t, alice.token, 'POST', R, { ...valid, name: `${'n'.repeat(255)}\u{1F600}` }), /^name$/);
      });

      it('refuses invalid and reserved types; accepts 64 characters', async () => {
        const before = await countLimits();
        for (const type of ['Bad', 'user', 'role', 'a'.repeat(65), '', '1abc', 'has space', 'ünï', 7]) {
          assertInvalidField(await call(t, alice.token, 'POST', R, { ...valid, type }), /^type$/);
        }
        assert.equal(await countLimits(), before);
        for (const type of ['a'.repeat(64), 'my-type.v1_2']) assert.equal((await createResource(t, alice, { ...valid, type })).type, type);
      });

      it('refuses metadata that is not an object or is over 64 KiB; accepts exactly 64 KiB', async () => {
        const before = await countLimits();
        for (const metadata of [[], ['a'], 'string', 5, null, true])
          assertInvalidField(await call(t, alice.token, 'POST', R, { ...valid, metadata }), /^metadata$/);
        // {"k":"…"} is 8 bytes around the string.
        const exactly = { k: 'x'.repeat(64 * 1024 - 8) };
        assert.equal(Buffer.byteLength(JSON.stringify(exactly)), 64 * 1024);
        assertInvalidField(await call(t, alice.token, 'POST', R, { ...valid, metadata: { k: 'x'.repeat(64 * 1024 - 7) } }), /^metadata$/);
        assertInvalidField(await call(t, alice.token, 'POST', R, { ...valid, metadata: { k: 'x'.repeat(100_000) } }), /^metadata$/);
        assert.equal(await countLimits(), before);
        const created = await createResource(t, alice, { ...valid, metadata: exactly });
        assertInvalidField(await call(t, alice.token, 'PATCH', `${R}/${created.id}`, { metadata: ['a'] }), /^metadata$/);
        assertInvalidField(await call(t, alice.token, 'PATCH', `${R}/${created.id}`, { metadata: { k: 'x'.repeat(64 * 1024) } }), /^metadata$/);
        assertInvalidField(await call(t, alice.token, 'PATCH', `${R}/${created.id}`, { metadata: null }), /^metadata$/);
      });

      it('refuses U+0000 anywhere in data or metadata (PostgreSQL cannot store it)', async () => {
        const before = await countLimits();
        for (const data of ['a\u0000b', { 'k\u0000': 1 }, [{ deep: ['\u0000'] }]])
          assertInvalidField(await call(t, alice.token, 'POST', R, { ...valid, data }), /^data$/);
        assertInvalidField(await call(t, alice.token, 'POST', R, { ...valid, metadata: { k: 'a\u0000' } }), /^metadata$/);
        assert.equal(await countLimits(), before);
      });

      it('refuses data over 1 MiB by default', async () => {
        const before = await countLimits();
        assertInvalidField(await call(t, alice.token, 'POST', R, { ...valid, data: 'x'.repeat(1024 * 1024) }), /^data$/);
        assertInvalidField(await call(t, alice.token, 'POST', R, { ...valid, data: { big: ['y'.repeat(600_000), 'z'.repeat(600_000)] } }), /^data$/);
        assert.equal(await countLimits(), before);
        const created = await createResource(t, alice, valid);
        assertInvalidField(await call(t, alice.token, 'PATCH', `${R}/${created.id}`, { data: 'x'.repeat(1024 * 1024) }), /^data$/);
        assert.equal((await versionRows(created.id)).length, 1);
      });

      it('accepts JSON nested 64 deep and refuses 65, in data and in metadata', async () => {
        const before = await countLimits();
        for (const data of [nestedObjects(65), nestedArrays(65), { wrap: nestedArrays(64) }])
          assertInvalidField(await call(t, alice.token, 'POST', R, { ...valid, data }), /^data$/);
        assertInvalidField(await call(t, alice.token, 'POST', R, { ...valid, metadata: nestedObjects(65) }), /^metadata$/);
        assert.equal(await countLimits(), before);
        for (const data of [nestedObjects(64), nestedArrays(64), { wrap: nestedArrays(63) }]) {
          const created = await createResource(t, alice, { ...valid, data });
          assert.deepEqual(created.data, data);
          assert.deepEqual((await getJson<Resource>(t, alice.token, `${R}/${created.id}`)).data, data);
        }
        const withMetadata = await createResource(t, alice, { ...valid, metadata: nestedObjects(64) });
        assertInvalidField(await call(t, alice.token, 'PATCH', `${R}/${withMetadata.id}`, { data: nestedObjects(65) }), /^data$/);
        assertInvalidField(await call(t, alice.token, 'PATCH', `${R}/${withMetadata.id}`, { metadata: nestedObjects(65) }), /^metadata$/);
        assert.equal((await patchResource(t, alice.token, withMetadata.id, { data: nestedArrays(64) })).version, 2);
      });

      it('refuses unknown fields on create (ownerId, version, id, …) and type or unknown fields on PATCH', async () => {
        const before = await countLimits();
        for (const field of ['ownerId', 'version', 'id', 'createdAt', 'updatedAt', 'owner_id', '__proto__x']) {
          assertInvalidField(await call(t, alice.token, 'POST', R, { ...valid, [field]: field === 'version' ? 5 : bob.user.id }), new RegExp(`^${field}$`));
        }
        assertInvalidField(await call(t, alice.token, 'POST', R, { name: 'x', type: 'limits' }), /^data$/);
        assertInvalidField(await call(t, alice.token, 'POST', R, { type: 'limits', data: 1 }), /^name$/);
        assertInvalidField(await call(t, alice.token, 'POST', R, { name: 'x', data: 1 }), /^type$/);
        assert.equal(await countLimits(), before);

        const created = await createResource(t, alice, valid);
        for (const [field, value] of [
          ['type', 'other'],
          ['type', 'limits'],
          ['ownerId', bob.user.id],
          ['version', 7],
          ['id', newId()],
        ] as const) {
          assertInvalidField(await call(t, alice.token, 'PATCH', `${R}/${created.id}`, { [field]: value, data: { changed: true } }), new RegExp(`^${field}$`));
        }
        const after = await getJson<Resource>(t, alice.token, `${R}/${created.id}`);
        assert.deepEqual(after, created, 'nothing changed');
        // A body that is not a JSON object is refused as well.
        const raw = await t.app.inject({ method: 'POST', url: R, headers: { ...bearer(alice.token), 'content-type': 'application/json' }, payload: '[1,2]' });
        assertProblem(raw, 400, 'INVALID_INPUT');
      });
    });

    describe('sharing', () => {
      it('shares read, then read and update; lists shares; unsharing removes access at once', async () => {
        const created = await createResource(t, alice, { name: 'Shared doc', type: 'memo', data: { v: 1 } });
        assertProblem(await call(t, bob.token, 'GET', `${R}/${created.id}`), 404, 'NOT_FOUND');
        // Bob's cached grants are warm before the share.
        assert.ok(
          !(await getJson<Page<Summary>>(t, bob.token, `${R}?type=memo&limit=100`)).items.some((r) => r.id === created.id),
          'not listed for bob before the share',
        );

        const share = await call(t, alice.token, 'POST', `${R}/${created.id}/shares`, { userId: bob.user.id, actions: ['read'] });
        assert.equal(share.statusCode, 201, share.body);
        assert.deepEqual(share.json(), shareOf(bob, ['read']));
        const read = await getJson<Resource>(t, bob.token, `${R}/${created.id}`);
        assert.deepEqual(read.data, { v: 1 });
        assert.ok(
          (await getJson<Page<Summary>>(t, bob.token, `${R}?type=memo&limit=100`)).items.some((r) => r.id === created.id),
          'listed for bob',
        );
        assert.equal((await getJson<Page<VersionItem>>(t, bob.token, `${R}/${created.id}/versions`)).items.length, 1);
        // Read only: changing, restoring, deleting or resharing is forbidden (bob can see it).
        assertProblem(await call(t, bob.token, 'PATCH', `${R}/${created.id}`, { data: { v: 2 } }), 403, 'FORBIDDEN');
        assertProblem(await call(t, bob.token, 'POST', `${R}/${created.id}/versions/1/restore`), 403, 'FORBIDDEN');
        assertProblem(await call(t, bob.token, 'DELETE', `${R}/${created.id}`), 403, 'FORBIDDEN');
        assertProblem(await call(t, bob.token, 'POST', `${R}/${created.id}/shares`, { userId: carol.user.id, actions: ['read'] }), 403, 'FORBIDDEN');
        assertProblem(await call(t, bob.token, 'GET', `${R}/${created.id}/shares`), 403, 'FORBIDDEN');
        // (Bob may give his own share back: resources.shares.test.ts.)
        // Carol cannot read it: it does not exist for her.
        assertProblem(await call(t, carol.token, 'POST', `${R}/${created.id}/shares`, { userId: carol.user.id, actions: ['read'] }), 404, 'NOT_FOUND');
        assertProblem(await call(t, carol.token, 'GET', `${R}/${created.id}`), 404, 'NOT_FOUND');

        const more = await call(t, alice.token, 'POST', `${R}/${created.id}/shares`, { userId: bob.user.id, actions: ['read', 'update', 'update'] });
        assert.equal(more.statusCode, 201, more.body);
        assert.deepEqual(more.json(), shareOf(bob, ['read', 'update']));
        const patched = await patchResource(t, bob.token, created.id, { data: { v: 2, by: 'bob' } });
        assert.equal(patched.version, 2);
        assert.equal(patched.ownerId, alice.user.id);
        assertProblem(await call(t, bob.token, 'DELETE', `${R}/${created.id}`), 403, 'FORBIDDEN');
        assert.equal((await getJson<Version>(t, alice.token, `${R}/${created.id}/versions/2`)).createdBy, bob.user.id);

        // delete, shared with read, lets bob delete; shares never make bob the owner.
        const deletable = await createResource(t, alice, { name: 'Deletable by bob', type: 'memo', data: {} });
        assert.equal((await call(t, alice.token, 'POST', `${R}/${deletable.id}/shares`, { userId: bob.user.id, actions: ['read', 'delete'] })).statusCode, 201);
        assertProblem(await call(t, bob.token, 'PATCH', `${R}/${deletable.id}`, { data: 1 }), 403, 'FORBIDDEN');
        assertProblem(await call(t, bob.token, 'GET', `${R}/${deletable.id}/shares`), 403, 'FORBIDDEN');
        assert.equal((await call(t, bob.token, 'DELETE', `${R}/${deletable.id}`)).statusCode, 204);
        assertProblem(await call(t, alice.token, 'GET', `${R}/${deletable.id}`), 404, 'NOT_FOUND');

        // The admin may share anyone's resource too.
        assert.equal((await call(t, admin.token, 'POST', `${R}/${created.id}/shares`, { userId: carol.user.id, actions: ['read'] })).statusCode, 201);
        const shares = await getJson<{ items: Share[] }>(t, alice.token, `${R}/${created.id}/shares`);
        const expected = [shareOf(bob, ['read', 'update']), shareOf(carol, ['read'])];
        const byUser = (a: Share, b: Share) => a.userId.localeCompare(b.userId);
        assert.deepEqual([...shares.items].sort(byUser), expected.sort(byUser));
        assert.deepEqual([...(await getJson<{ items: Share[] }>(t, admin.token, `${R}/${created.id}/shares`)).items].sort(byUser), expected);
        assert.equal((await call(t, carol.token, 'GET', `${R}/${created.id}`)).statusCode, 200);

        const removed = await call(t, alice.token, 'DELETE', `${R}/${created.id}/shares/${bob.user.id}`);
        assert.equal(removed.statusCode, 204, removed.body);
        assertProblem(await call(t, bob.token, 'GET', `${R}/${created.id}`), 404, 'NOT_FOUND');
        assertProblem(await call(t, bob.token, 'PATCH', `${R}/${created.id}`, { data: { v: 3 } }), 404, 'NOT_FOUND');
        assert.ok(!(await getJson<Page<Summary>>(t, bob.token, `${R}?type=memo&limit=100`)).items.some((r) => r.id === created.id), 'gone from bob’s list');
        assert.deepEqual((await getJson<{ items: Share[] }>(t, alice.token, `${R}/${created.id}/shares`)).items, [shareOf(carol, ['read'])]);
        assert.equal((await call(t, carol.token, 'GET', `${R}/${created.id}`)).statusCode, 200, 'other shares stay');
        assertProblem(await call(t, alice.token, 'DELETE', `${R}/${created.id}/shares/${bob.user.id}`), 404, 'NOT_FOUND');
        assertProblem(await call(t, alice.token, 'DELETE', `${R}/${created.id}/shares/not-a-uuid`), 404, 'NOT_FOUND');
        assert.equal((await shareRows(created.id)).length, 1);
      });

      it('update or delete shared alone come with read', async () => {
        const created = await createResource(t, alice, { name: 'Update only', type: 'memo', data: { v: 1 } });
        const share = await call(t, alice.token, 'POST', `${R}/${created.id}/shares`, { userId: carol.user.id, actions: ['update'] });
        assert.equal(share.statusCode, 201, share.body);
        assert.deepEqual(share.json(), shareOf(carol, ['read', 'update']));
        assert.equal((await call(t, carol.token, 'GET', `${R}/${created.id}`)).statusCode, 200);
        assert.equal((await patchResource(t, carol.token, created.id, { data: { v: 2 } })).version, 2);
        assertProblem(await call(t, carol.token, 'DELETE', `${R}/${created.id}`), 403, 'FORBIDDEN');
        // Sharing again adds; it never takes away.
        const more = await call(t, alice.token, 'POST', `${R}/${created.id}/shares`, { userId: carol.user.id, actions: ['delete'] });
        assert.deepEqual(more.json(), shareOf(carol, ['read', 'update', 'delete']));
        assert.equal((await call(t, carol.token, 'DELETE', `${R}/${created.id}`)).statusCode, 204);
      });

      it('refuses invalid actions, unknown users and unknown fields with 400', async () => {
        const created = await createResource(t, alice, { name: 'Share limits', type: 'memo', data: {} });
        const url = `${R}/${created.id}/shares`;
        for (const actions of [['manage'], [], ['fly'], ['read', 'fly'], ['create'], 'read', [1]]) {
          assertInvalidField(await call(t, alice.token, 'POST', url, { userId: bob.user.id, actions }), /^actions/);
        }
        assertInvalidField(await call(t, alice.token, 'POST', url, { userId: newId(), actions: ['read'] }), /^userId$/);
        assertInvalidField(await call(t, alice.token, 'POST', url, { userId: 'nope', actions: ['read'] }), /^userId$/);
        assertInvalidField(await call(t, alice.token, 'POST', url, { actions: ['read'] }), /^userId$/);
        assertInvalidField(await call(t, alice.token, 'POST', url, { userId: bob.user.id, actions: ['read'], conditions: {} }), /^conditions$/);
        assert.equal((await shareRows(created.id)).length, 0);
        assertProblem(await call(t, bob.token, 'GET', `${R}/${created.id}`), 404, 'NOT_FOUND');
      });
    });

    describe('access', () => {
      it('answers every probe of another member’s resource exactly like a missing one (404)', async () => {
        const created = await createResource(t, alice, { name: 'Private', type: 'secret', data: { s: 1 } });
        await patchResource(t, alice.token, created.id, { data: { s: 2 } });
        const probes: [string, Method, (id: string) => string, unknown?][] = [
          ['GET', 'GET', (id) => `${R}/${id}`],
          ['PATCH data', 'PATCH', (id) => `${R}/${id}`, { data: { s: 'mine' } }],
          ['PATCH name', 'PATCH', (id) => `${R}/${id}`, { name: 'mine' }],
          ['DELETE', 'DELETE', (id) => `${R}/${id}`],
          ['versions', 'GET', (id) => `${R}/${id}/versions`],
          ['versions/1', 'GET', (id) => `${R}/${id}/versions/1`],
          ['versions/99', 'GET', (id) => `${R}/${id}/versions/99`],
          ['diff', 'GET', (id) => `${R}/${id}/diff?from=1&to=2`],
          ['restore', 'POST', (id) => `${R}/${id}/versions/1/restore`],
          ['shares', 'GET', (id) => `${R}/${id}/shares`],
          ['share', 'POST', (id) => `${R}/${id}/shares`, { userId: bob.user.id, actions: ['read'] }],
          ['unshare', 'DELETE', (id) => `${R}/${id}/shares/${bob.user.id}`],
        ];
        const ids = { theirs: created.id, upper: created.id.toUpperCase(), random: newId(), malformed: 'not-a-uuid' };
        for (const [label, method, url, payload] of probes) {
          const answers: Record<string, Problem> = {};
          for (const [which, id] of Object.entries(ids)) answers[which] = assertProblem(await call(t, bob.token, method, url(id), payload), 404, 'NOT_FOUND');
          for (const which of ['theirs', 'upper', 'malformed']) {
            assert.deepEqual(problemIdentity(answers[which]!), problemIdentity(answers.random!), `${label} (${which}) looks like a missing resource`);
          }
        }
        // With an Idempotency-Key or If-Match, still nothing to tell.
        assertProblem(await call(t, bob.token, 'POST', `${R}/${created.id}/versions/1/restore`, undefined, { 'idempotency-key': 'probe' }), 404, 'NOT_FOUND');
        assertProblem(await call(t, bob.token, 'PATCH', `${R}/${created.id}`, { data: 1 }, { 'if-match': '"1"' }), 404, 'NOT_FOUND');

        // Nothing changed, and the owner reads it by its id in any case.
        const after = await getJson<Resource>(t, alice.token, `${R}/${created.id.toUpperCase()}`);
        assert.equal(after.id, created.id);
        assert.equal(after.version, 2);
        assert.equal(after.name, 'Private');
        assert.equal((await versionRows(created.id)).length, 2);
        assert.deepEqual(await shareRows(created.id), []);
        assert.ok(!(await getJson<Page<Summary>>(t, bob.token, `${R}?type=secret`)).items.some((r) => r.id === created.id), 'not listed for bob');
        assertProblem(await call(t, bob.token, 'GET', `${R}/${'x'.repeat(30)}`), 404, 'NOT_FOUND');
      });

      it('a read permission with a metadata condition shows exactly the public docs of others, in lists and by id', async () => {
        const frank = await newMember('frank');
        const docs = {
          alicePublic: await createResource(t, alice, { name: 'A public', type: 'doc', metadata: { public: true }, data: 1 }),
          alicePrivate: await createResource(t, alice, { name: 'A private', type: 'doc', metadata: { public: false }, data: 2 }),
          aliceBare: await createResource(t, alice, { name: 'A bare', type: 'doc', data: 3 }),
          aliceString: await createResource(t, alice, { name: 'A string', type: 'doc', metadata: { public: 'true' }, data: 4 }),
          aliceNested: await createResource(t, alice, { name: 'A nested', type: 'doc', metadata: { public: { value: true } }, data: 5 }),
          aliceNote: await createResource(t, alice, { name: 'A note', type: 'note', metadata: { public: true }, data: 6 }),
          bobPublic: await createResource(t, bob, { name: 'B public', type: 'doc', metadata: { public: true, other: 1 }, data: 7 }),
          adminPublic: await createResource(t, admin, { name: 'Admin public', type: 'doc', metadata: { public: true }, data: 8 }),
        };
        const publicDocs = sortedIds([docs.alicePublic.id, docs.bobPublic.id, docs.adminPublic.id]);
        assert.deepEqual((await readAll<Summary>(t, frank.token, R, 7)).items, [], 'nothing before the grant');

        const grant = await call(t, admin.token, 'POST', `/api/v1/users/${frank.user.id}/permissions`, {
          resourceType: 'doc',
          action: 'read',
          conditions: { 'metadata.public': true },
        });
        assert.equal(grant.statusCode, 201, grant.body);

        assert.deepEqual(
          (await readAll<Summary>(t, frank.token, R, 2)).items.map((r) => r.id),
          publicDocs,
        );
        assert.deepEqual(
          (await readAll<Summary>(t, frank.token, `${R}?type=doc`, 7)).items.map((r) => r.id),
          publicDocs,
        );
        assert.deepEqual(
          (await readAll<Summary>(t, frank.token, `${R}?ownerId=${alice.user.id}`, 7)).items.map((r) => r.id),
          [docs.alicePublic.id],
        );
        assert.deepEqual(
          (await readAll<Summary>(t, frank.token, `${R}?q=public`, 7)).items.map((r) => r.id),
          publicDocs,
        );
        for (const [label, doc] of Object.entries(docs)) {
          const response = await call(t, frank.token, 'GET', `${R}/${doc.id}`);
          if (publicDocs.includes(doc.id)) {
            assert.equal(response.statusCode, 200, `${label}: ${response.body}`);
            assert.deepEqual((response.json() as Resource).data, doc.data);
          } else assertProblem(response, 404, 'NOT_FOUND');
        }
        // Reading is all it grants.
        assertProblem(await call(t, frank.token, 'PATCH', `${R}/${docs.alicePublic.id}`, { data: 0 }), 403, 'FORBIDDEN');
        assertProblem(await call(t, frank.token, 'DELETE', `${R}/${docs.alicePublic.id}`), 403, 'FORBIDDEN');
        assertProblem(
          await call(t, frank.token, 'POST', `${R}/${docs.alicePublic.id}/shares`, { userId: frank.user.id, actions: ['update'] }),
          403,
          'FORBIDDEN',
        );
        // A doc that stops being public disappears for frank at once; one that becomes public appears.
        await patchResource(t, alice.token, docs.alicePublic.id, { metadata: { public: false } });
        await patchResource(t, alice.token, docs.alicePrivate.id, { metadata: { public: true } });
        assertProblem(await call(t, frank.token, 'GET', `${R}/${docs.alicePublic.id}`), 404, 'NOT_FOUND');
        assert.equal((await call(t, frank.token, 'GET', `${R}/${docs.alicePrivate.id}`)).statusCode, 200);
        assert.deepEqual(
          (await readAll<Summary>(t, frank.token, `${R}?type=doc`, 7)).items.map((r) => r.id),
          sortedIds([docs.alicePrivate.id, docs.bobPublic.id, docs.adminPublic.id]),
        );
        // Its own docs, public or not, it reads as a member.
        const own = await createResource(t, frank, { name: 'F private', type: 'doc', metadata: { public: false }, data: 9 });
        assert.ok(
          (await readAll<Summary>(t, frank.token, `${R}?type=doc`, 7)).items.some((r) => r.id === own.id),
          'its own doc is listed',
        );
      });
    });

    describe('caching', () => {
      // A change leaves an invalidation marker for a while (no re-caching meanwhile), so each
      // case starts from a fresh resource whose read is known to be cached.
      const cached = (id: string) => t.server.cache.get<Partial<Resource>>(`res:${id}`);
      const warm = async (session: Session, body: Record<string, unknown>): Promise<Resource> => {
        const created = await createResource(t, session, body);
        for (let i = 0; i < 2; i++) assert.equal((await call(t, session.token, 'GET', `${R}/${created.id}`)).statusCode, 200);
        assert.equal((await cached(created.id))?.version, created.version, 'the read was cached');
        return created;
      };

      it('serves a data change, a name or metadata change, a restore and a deletion at once after a warm read', async () => {
        const read = (token: string, id: string) => call(t, token, 'GET', `${R}/${id}`);

        const data = await warm(alice, { name: 'Cached data', type: 'report', data: { v: 1 } });
        await patchResource(t, alice.token, data.id, { data: { v: 2 } });
        let now = await read(alice.token, data.id);
        assert.equal(now.headers.etag, '"2"');
        assert.deepEqual((now.json() as Resource).data, { v: 2 });

        const meta = await warm(alice, { name: 'Cached meta', type: 'report', metadata: { m: 1 }, data: { v: 1 } });
        await patchResource(t, admin.token, meta.id, { name: 'Cached renamed', metadata: { m: 2 } });
        now = await read(alice.token, meta.id);
        assert.equal((now.json() as Resource).name, 'Cached renamed');
        assert.deepEqual((now.json() as Resource).metadata, { m: 2 });
        assert.equal(now.headers.etag, '"2"', 'the new revision, not a cached tag');

        // Restoring version 1 of a one-version resource appends version 2: a stale read says "1".
        const restored = await warm(alice, { name: 'Cached restore', type: 'report', data: { v: 'one' } });
        assert.equal((await call(t, alice.token, 'POST', `${R}/${restored.id}/versions/1/restore`)).statusCode, 200);
        now = await read(alice.token, restored.id);
        assert.equal(now.headers.etag, '"2"');
        assert.equal((now.json() as Resource).version, 2);
        const keyed = await warm(alice, { name: 'Cached keyed restore', type: 'report', data: { v: 'one' } });
        assert.equal((await call(t, alice.token, 'POST', `${R}/${keyed.id}/versions/1/restore`, undefined, { 'idempotency-key': newId() })).statusCode, 200);
        assert.equal((await read(alice.token, keyed.id)).headers.etag, '"2"');

        const doomed = await warm(alice, { name: 'Cached delete', type: 'report', data: { v: 1 } });
        assert.equal((await call(t, admin.token, 'GET', `${R}/${doomed.id}`)).statusCode, 200);
        assert.equal((await call(t, alice.token, 'DELETE', `${R}/${doomed.id}`)).statusCode, 204);
        for (const session of [alice, admin]) assertProblem(await read(session.token, doomed.id), 404, 'NOT_FOUND');
        assertProblem(await call(t, alice.token, 'GET', `${R}/${doomed.id}/versions`), 404, 'NOT_FOUND');
        assertProblem(await call(t, alice.token, 'PATCH', `${R}/${doomed.id}`, { data: 1 }), 404, 'NOT_FOUND');
      });

      it('takes a share back at once from a user whose grants are cached', async () => {
        // A share written straight to the database before the user's first sign-in: signing
        // in loads (and caches) grants that include it, with no invalidation marker around.
        const created = await createResource(t, alice, { name: 'Cached share', type: 'memo', data: {} });
        const hank = await newMember('hank', async (userId) => {
          await db()
            .insertInto('resource_shares')
            .values({ resource_id: created.id, user_id: userId, actions: ['read'] })
            .execute();
        });
        for (let i = 0; i < 2; i++) assert.equal((await call(t, hank.token, 'GET', `${R}/${created.id}`)).statusCode, 200);
        assert.deepEqual((await getJson<{ items: Share[] }>(t, alice.token, `${R}/${created.id}/shares`)).items, [shareOf(hank, ['read'])]);

        assert.equal((await call(t, alice.token, 'DELETE', `${R}/${created.id}/shares/${hank.user.id}`)).statusCode, 204);
        assertProblem(await call(t, hank.token, 'GET', `${R}/${created.id}`), 404, 'NOT_FOUND');
        assert.ok(!(await getJson<Page<Summary>>(t, hank.token, `${R}?type=memo`)).items.some((r) => r.id === created.id), 'gone from hank’s list');
      });
    });
  });

  describe(`resources data limit from config (${kind})`, () => {
    let t: TestServer;
    let owner: Session;

    before(async () => {
      t = await startTestServer(kind, { config: { 'resources.maxDataBytes': 2048 } });
      owner = await signedInUser(t, { name: 'Owner' });
    });
    after(() => t.close());

    it('refuses data over resources.maxDataBytes on create and PATCH; accepts exactly the limit', async () => {
      // A JSON string is its characters plus two quotes.
      assertInvalidField(await call(t, owner.token, 'POST', R, { name: 'big', type: 'blob', data: 'x'.repeat(3000) }), /^data$/);
      assertInvalidField(await call(t, owner.token, 'POST', R, { name: 'big', type: 'blob', data: 'x'.repeat(2047) }), /^data$/);
      assertInvalidField(
        await call(t, owner.token, 'POST', R, { name: 'big', type: 'blob', data: { list: Array.from({ length: 600 }, (_, i) => i) } }),
        /^data$/,
      );
      assert.equal((await t.server.database.db.selectFrom('resources').select('id').execute()).length, 0);
      const created = await createResource(t, owner, { name: 'fits', type: 'blob', data: 'x'.repeat(2046) });
      assertInvalidField(await call(t, owner.token, 'PATCH', `${R}/${created.id}`, { data: 'y'.repeat(3000) }), /^data$/);
      // Metadata has its own limit (64 KiB), not this one.
      assert.equal((await patchResource(t, owner.token, created.id, { metadata: { note: 'm'.repeat(3000) } })).version, 1);
      assert.equal((await patchResource(t, owner.token, created.id, { data: 'y'.repeat(2046) })).version, 2);
    });
  });
}

// Two instances sharing PostgreSQL and Redis: a resource cached by one is never served stale
// after the other changes or deletes it (no in-process layer for resources).
if (TEST_REDIS_URL && DATABASE_KINDS.includes('postgres')) {
  describe('resources cache across instances (postgres + redis)', () => {
    let first: TestServer;
    let second: TestServer;
    let session: Session;

    before(async () => {
      const config = { 'redis.url': TEST_REDIS_URL, 'redis.keyPrefix': `pcf-test:${process.pid}:${randomBytes(4).toString('hex')}:` };
      first = await startTestServer('postgres', { config });
      second = await startTestServer('postgres', { config, database: first.database });
      assert.equal(first.server.cache.kind, 'redis');
      session = await signedInUser(first, { name: 'Cache' });
    });
    after(async () => {
      await second?.server.stop();
      await first?.close();
    });

    it('reads a change or a deletion made on the other instance at once', async () => {
      const created = await createResource(first, session, { name: 'Shared cache', type: 'report', data: { v: 1 } });
      for (const t of [first, second, first]) assert.deepEqual((await getJson<Resource>(t, session.token, `${R}/${created.id}`)).data, { v: 1 });

      await patchResource(second, session.token, created.id, { data: { v: 2 } });
      const onFirst = await call(first, session.token, 'GET', `${R}/${created.id}`);
      assert.equal(onFirst.headers.etag, '"2"');
      assert.deepEqual((onFirst.json() as Resource).data, { v: 2 });

      await patchResource(first, session.token, created.id, { name: 'Renamed on first' });
      assert.equal((await getJson<Resource>(second, session.token, `${R}/${created.id}`)).name, 'Renamed on first');

      assert.equal((await call(second, session.token, 'POST', `${R}/${created.id}/versions/1/restore`)).statusCode, 200);
      assert.deepEqual((await getJson<Resource>(first, session.token, `${R}/${created.id}`)).data, { v: 1 });

      assert.equal((await call(second, session.token, 'DELETE', `${R}/${created.id}`)).statusCode, 204);
      assertProblem(await call(first, session.token, 'GET', `${R}/${created.id}`), 404, 'NOT_FOUND');
    });
  });
}
