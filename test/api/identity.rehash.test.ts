import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PasswordHasher } from '../../src/services/auth/password.js';
import { createAccount } from '../../src/services/auth/accounts.js';
import { startTestServer, type TestServer } from '../support/server.js';

// Raising the argon2 parameters must upgrade stored hashes as their owners sign in, without
// anyone having to reset a password.
describe('password rehash at login (pglite)', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer('pglite', { config: { 'auth.argon2Iterations': 3 } });
  });
  after(() => t.close());

  const storedHash = async (email: string) =>
    (await t.server.database.db.selectFrom('users').select('password_hash').where('email', '=', email).executeTakeFirstOrThrow()).password_hash;

  it('rehashes a password made with weaker parameters on the next successful login only', async () => {
    const weaker = new PasswordHasher({ memoryKib: 19_456, iterations: 2, parallelism: 1 });
    await createAccount(t.server.database, weaker, { email: 'old@example.com', name: 'Old', password: 'an old passphrase' });
    const before = await storedHash('old@example.com');
    assert.match(before, /\$m=19456,p=1,t=2\$|\$m=19456,t=2,p=1\$/);

    const wrong = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'old@example.com', password: 'not the passphrase' } });
    assert.equal(wrong.statusCode, 401);
    assert.equal(await storedHash('old@example.com'), before, 'a failed login changes nothing');

    const ok = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'old@example.com', password: 'an old passphrase' } });
    assert.equal(ok.statusCode, 200);
    const after = await storedHash('old@example.com');
    assert.notEqual(after, before);
    assert.match(after, /^\$argon2id\$v=19\$/);
    assert.match(after, /t=3/);

    const again = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'old@example.com', password: 'an old passphrase' } });
    assert.equal(again.statusCode, 200, 'the upgraded hash still verifies');
    assert.equal(await storedHash('old@example.com'), after, 'an up-to-date hash is left alone');
    assert.ok(t.logs.records().some((l) => l.event === 'auth.password.rehashed'));
  });
});
