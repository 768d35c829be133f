import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PasswordHasher, type PasswordPolicy } from '../../src/services/auth/password.js';

const OWASP: PasswordPolicy = { memoryKib: 19_456, iterations: 2, parallelism: 1 };
const hasher = new PasswordHasher(OWASP);
// Hashed once and shared: each hash costs ~30 ms, and most cases only need one.
const stored = hasher.hash('correct horse battery staple');

describe('password hasher', () => {
  it('verifies the password it hashed', async () => {
    assert.deepEqual(await hasher.verify(await stored, 'correct horse battery staple'), { ok: true, needsRehash: false });
  });

  it('refuses a wrong password', async () => {
    assert.deepEqual(await hasher.verify(await stored, 'correct horse battery stapler'), { ok: false, needsRehash: false });
  });

  it('writes an argon2id PHC string carrying the policy', async () => {
    const [, algorithm, version, params, salt, digest, ...rest] = (await stored).split('$');
    assert.equal(algorithm, 'argon2id');
    assert.equal(version, 'v=19');
    // PHC leaves the parameters' order open; the library writes m,p,t.
    assert.deepEqual(params?.split(',').sort(), ['m=19456', 'p=1', 't=2']);
    assert.match(salt ?? '', /^[A-Za-z0-9+/]{22}$/, '16 bytes of salt');
    assert.match(digest ?? '', /^[A-Za-z0-9+/]{43}$/, '32 bytes of hash');
    assert.deepEqual(rest, []);
  });

  it('salts every hash', async () => {
    const again = await hasher.hash('correct horse battery staple');
    assert.notEqual(again, await stored);
    assert.equal((await hasher.verify(again, 'correct horse battery staple')).ok, true);
  });

  it('asks for a rehash once the policy is raised, and only then', async () => {
    const raisedMemory = new PasswordHasher({ ...OWASP, memoryKib: 19_457 });
    const raisedPasses = new PasswordHasher({ ...OWASP, iterations: 3 });
    assert.deepEqual(await raisedMemory.verify(await stored, 'correct horse battery staple'), { ok: true, needsRehash: true });
    assert.deepEqual(await raisedPasses.verify(await stored, 'correct horse battery staple'), { ok: true, needsRehash: true });
    // A lowered policy keeps the stronger hash; a wrong password never earns a rehash.
    const lowered = new PasswordHasher({ ...OWASP, memoryKib: 12_288 });
    assert.deepEqual(await lowered.verify(await stored, 'correct horse battery staple'), { ok: true, needsRehash: false });
    assert.deepEqual(await raisedPasses.verify(await stored, 'wrong'), { ok: false, needsRehash: false });
  });

  it('asks for a rehash of a hash made with another algorithm or lane count', async () => {
    // Small parameters: only the algorithm and lanes matter here, and they keep the case fast.
    const { hash, argon2i } = await import('argon2');
    const cheap = { memoryCost: 1024, timeCost: 1 };
    const lenient = new PasswordHasher({ memoryKib: 8, iterations: 1, parallelism: 1 });
    const argon2iHash = await hash('passphrase', { ...cheap, type: argon2i, parallelism: 1 });
    const fourLanes = await hash('passphrase', { ...cheap, parallelism: 4 });
    assert.deepEqual(await lenient.verify(argon2iHash, 'passphrase'), { ok: true, needsRehash: true });
    assert.deepEqual(await lenient.verify(fourLanes, 'passphrase'), { ok: true, needsRehash: true });
  });

  it('answers ok=false, without throwing, for a hash it cannot use', async () => {
    const unusable = [
      '',
      'not a hash',
      '!',
      '$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW', // bcrypt
      '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA', // truncated
      '$argon2id$v=19$m=1,p=1,t=2$c29tZXNhbHQxMjM0NTY$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g', // m below argon2's minimum
      '$argon2id$v=19$m=19456,p=1$c29tZXNhbHQxMjM0NTY$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g', // no t
    ];
    for (const hash of unusable) {
      assert.deepEqual(await hasher.verify(hash, 'correct horse battery staple'), { ok: false, needsRehash: false }, hash);
    }
  });

  it('matches a passphrase however its Unicode is composed', async () => {
    const composed = await hasher.hash('caf\u00e9 au lait');
    assert.equal((await hasher.verify(composed, 'cafe\u0301 au lait')).ok, true);
  });

  it('runs a dummy verification, whatever the password', async () => {
    await hasher.verifyDummy('anything at all');
    await Promise.all([hasher.verifyDummy('a'), hasher.verifyDummy('b')]);
  });

  it('refuses a policy argon2 would refuse', () => {
    assert.throws(() => new PasswordHasher({ ...OWASP, memoryKib: 4 }), RangeError);
    assert.throws(() => new PasswordHasher({ ...OWASP, iterations: 0 }), RangeError);
    assert.throws(() => new PasswordHasher({ ...OWASP, iterations: 1.5 }), RangeError);
    assert.throws(() => new PasswordHasher({ ...OWASP, parallelism: 2 as 1 }), RangeError);
  });
});
