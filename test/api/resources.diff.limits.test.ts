import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Operation } from 'rfc6902';
import { DATABASE_KINDS } from '../support/databases.js';
import { signedInUser, type Session } from '../support/factories.js';
import { as, assertProblem, type InjectedResponse } from '../support/identity.js';
import { applyStrict, normalise, type Json } from '../support/json-patch.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The diff's limits (docs/limits.md "Diffs") through
 * `GET /api/v1/resources/{id}/diff?from=&to=`: two versions of about 1 MiB shaped to be
 * costly to compare answer a patch that turns `from` into `to`, or a 422 that says the diff is
 * too large and to read both versions; a patch over the size limit is that 422. (There is no
 * GraphQL field for diffs.)
 */

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** The shape: 46 objects of 1,300 keys (~1 MiB); the second version changes one key in each. */
const wideObjects = (v: number): Json => range(46).map((i) => Object.fromEntries(range(1300).map((k) => [`k${k}`, k === 7 ? v : `v${i}_${k}`])));

/** One object of 60,000 members (~0.9 MiB), every value changed: a patch of 60,000 operations, ~2.7 MiB. */
const everyValue = (sign: number): Json => Object.fromEntries(range(60_000).map((k) => [`k${k}`, sign * (k + 1)]));

function assertTooLarge(response: InjectedResponse): void {
  const problem = assertProblem(response, 422, 'UNPROCESSABLE_ENTITY');
  assert.match(problem.detail, /diff between these versions is too large/);
  assert.match(problem.detail, /Read both versions instead/);
}

for (const kind of DATABASE_KINDS) {
  describe(`resource diff limits (${kind})`, () => {
    let t: TestServer;
    let owner: Session;

    before(async () => {
      t = await startTestServer(kind);
      owner = await signedInUser(t, { name: 'Owner' });
    });
    after(() => t.close());

    /** A resource whose versions 1 and 2 hold `a` and `b`. */
    const twoVersions = async (a: Json, b: Json): Promise<string> => {
      const created = await as(t, owner.token, 'POST', '/api/v1/resources', { name: 'Big', type: 'doc', data: a });
      assert.equal(created.statusCode, 201, created.body.slice(0, 300));
      const id = (created.json() as { id: string }).id;
      const updated = await as(t, owner.token, 'PATCH', `/api/v1/resources/${id}`, { data: b });
      assert.equal(updated.statusCode, 200, updated.body.slice(0, 300));
      return id;
    };
    const diff = (id: string, from: number, to: number) => as(t, owner.token, 'GET', `/api/v1/resources/${id}/diff?from=${from}&to=${to}`);
    const versionData = async (id: string, n: number) =>
      normalise(((await as(t, owner.token, 'GET', `/api/v1/resources/${id}/versions/${n}`)).json() as { data: unknown }).data);

    it("answers the issue's shape (46 objects of 1,300 keys, one key changed in each) with a patch that gives `to`, or a 422 saying the diff is too large", async () => {
      const id = await twoVersions(wideObjects(1), wideObjects(2));
      for (const [from, to] of [
        [1, 2],
        [2, 1],
        [1, 2],
      ] as const) {
        const response = await diff(id, from, to);
        if (response.statusCode === 422) {
          assertTooLarge(response);
          continue;
        }
        assert.equal(response.statusCode, 200, response.body.slice(0, 300));
        const patch = response.json() as Operation[];
        assert.deepStrictEqual(applyStrict(await versionData(id, from), patch), await versionData(id, to), `${from}→${to}`);
        assert.equal(patch.length, 46, 'one operation per object, not a rewrite of each');
      }
    });

    it('refuses a diff whose patch would be larger than the limit with a 422 that says so and what to do, again when asked again', async () => {
      const id = await twoVersions(everyValue(1), everyValue(-1));
      assertTooLarge(await diff(id, 1, 2));
      // The refusal is remembered (versions never change): the same answer, without the work.
      assertTooLarge(await diff(id, 1, 2));
      assert.deepEqual((await diff(id, 1, 1)).json(), [], 'a version against itself is still no change');
    });

    it('still answers small diffs of large versions with their patch', async () => {
      const a = everyValue(1) as Record<string, Json>;
      const b: Record<string, Json> = { ...a, k5: 'changed', extra: [1, 2] };
      delete b.k9;
      const id = await twoVersions(a, b);
      const response = await diff(id, 1, 2);
      if (response.statusCode === 422) return assertTooLarge(response);
      assert.equal(response.statusCode, 200, response.body.slice(0, 300));
      assert.deepStrictEqual(applyStrict(await versionData(id, 1), response.json() as Operation[]), await versionData(id, 2));
    });
  });
}
