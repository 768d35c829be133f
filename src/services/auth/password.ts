import { randomBytes } from 'node:crypto';
import { argon2id, hash as argon2Hash, verify as argon2Verify } from 'argon2';

/** argon2id cost parameters; raising memory or iterations rehashes each password at its next login. */
export interface PasswordPolicy {
  memoryKib: number;
  iterations: number;
  /** Pinned to one lane: argon2 runs each extra lane on a thread of its own, beyond the pool's. */
  parallelism: 1;
}

/** The argon2 release the library writes (0x13); older hashes are rehashed to it. */
const ARGON2_VERSION = 19;

/**
 * $argon2id$v=19$m=19456,p=1,t=2$salt$hash. PHC leaves the order of parameters open (the
 * library writes m,p,t; others write m,t,p), and v= is absent in version 0x10 hashes.
 */
const PHC = /^\$(argon2id|argon2i|argon2d)\$(?:v=(\d+)\$)?([a-z]+=[^,$]+(?:,[a-z]+=[^,$]+)*)\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/;
const INTEGER = /^\d{1,10}$/;

interface StoredParams {
  algorithm: string;
  version: number;
  memoryKib: number;
  iterations: number;
  parallelism: number;
}

function parse(hash: string): StoredParams | undefined {
  const match = PHC.exec(hash);
  if (!match) return undefined;
  const [, algorithm = '', version = '16', list = ''] = match;
  const params = new Map(list.split(',').map((pair) => pair.split('=', 2) as [string, string]));
  const [m, t, p] = [params.get('m'), params.get('t'), params.get('p')];
  if (m === undefined || t === undefined || p === undefined || ![m, t, p].every((n) => INTEGER.test(n))) return undefined;
  return { algorithm, version: Number(version), memoryKib: Number(m), iterations: Number(t), parallelism: Number(p) };
}

/**
 * NIST SP 800-63B asks verifiers to normalise Unicode: the same passphrase typed on two
 * keyboards may arrive composed on one and decomposed on the other, and must still match.
 */
function normalise(password: string): string {
  return password.normalize('NFKC');
}

function checkPolicy(policy: PasswordPolicy): void {
  // argon2 itself refuses fewer than 8 KiB per lane or zero passes; say so at start-up
  // rather than on the first registration.
  if (!Number.isInteger(policy.memoryKib) || policy.memoryKib < 8 * policy.parallelism) {
    throw new RangeError(`argon2 memoryKib must be an integer of at least 8, got ${policy.memoryKib}`);
  }
  if (!Number.isInteger(policy.iterations) || policy.iterations < 1) {
    throw new RangeError(`argon2 iterations must be a positive integer, got ${policy.iterations}`);
  }
  if (policy.parallelism !== 1) throw new RangeError(`argon2 parallelism must be 1, got ${String(policy.parallelism)}`);
}

/**
 * Hashes and verifies passwords with argon2id. Hashes are PHC strings carrying their own
 * parameters and salt, so raising the policy never breaks existing hashes: `verify` still
 * accepts them and reports `needsRehash` so the caller can store a fresh hash.
 */
export class PasswordHasher {
  readonly #policy: Readonly<PasswordPolicy>;
  readonly #options: { type: typeof argon2id; memoryCost: number; timeCost: number; parallelism: number };
  // A promise, not a string, so concurrent first calls share one computation.
  #dummy: Promise<string> | undefined;

  constructor(policy: PasswordPolicy) {
    checkPolicy(policy);
    this.#policy = Object.freeze({ ...policy });
    this.#options = {
      type: argon2id,
      memoryCost: policy.memoryKib,
      timeCost: policy.iterations,
      parallelism: policy.parallelism,
    };
  }

  hash(password: string): Promise<string> {
    return argon2Hash(normalise(password), this.#options);
  }

  /**
   * ok=false for a wrong password OR an unparseable/foreign hash (never throws for those);
   * needsRehash when the stored params are below the policy, only ever alongside ok=true
   * since a new hash needs the right password.
   */
  async verify(hash: string, password: string): Promise<{ ok: boolean; needsRehash: boolean }> {
    const stored = parse(hash);
    if (stored === undefined) {
      // A disabled marker, a bcrypt hash from an import, or corruption: still spend a
      // verification's time, so the answer's speed does not reveal such accounts.
      await this.verifyDummy(password).catch(() => undefined);
      return { ok: false, needsRehash: false };
    }
    let ok: boolean;
    try {
      ok = await argon2Verify(hash, normalise(password));
    } catch {
      // Parameters argon2 refuses (say m below its minimum) make the hash unusable, not the caller's bug.
      ok = false;
    }
    return { ok, needsRehash: ok && this.#belowPolicy(stored) };
  }

  /** Runs one verification against a fixed dummy hash made with the current policy, so an unknown account costs the same time as a wrong password. */
  async verifyDummy(password: string): Promise<void> {
    this.#dummy ??= argon2Hash(randomBytes(32), this.#options).catch((err: unknown) => {
      this.#dummy = undefined;
      throw err;
    });
    await argon2Verify(await this.#dummy, normalise(password));
  }

  /**
   * Weaker memory or passes, another algorithm or release, or another lane count than the
   * policy pins. Stronger memory or passes are kept: lowering the policy (say, to relieve
   * a loaded host) should not churn every stored hash.
   */
  #belowPolicy(stored: StoredParams): boolean {
    return (
      stored.algorithm !== 'argon2id' ||
      stored.version !== ARGON2_VERSION ||
      stored.memoryKib < this.#policy.memoryKib ||
      stored.iterations < this.#policy.iterations ||
      stored.parallelism !== this.#policy.parallelism
    );
  }
}
