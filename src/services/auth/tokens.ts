import { createHash, randomBytes } from 'node:crypto';

/**
 * Bearer tokens: `pcf_` followed by 32 random bytes in base64url. The prefix makes a leaked
 * token recognisable to secret scanners; only the SHA-256 of the whole token is stored, so
 * a database dump holds nothing that authenticates.
 */
export const TOKEN_PREFIX = 'pcf_';
const TOKEN_BYTES = 32;
const TOKEN_SHAPE = /^pcf_[A-Za-z0-9_-]{43}$/;

export interface IssuedToken {
  /** Shown to its owner once, never stored. */
  token: string;
  /** What the database keeps. */
  hash: Buffer;
}

export function issueToken(): IssuedToken {
  const token = TOKEN_PREFIX + randomBytes(TOKEN_BYTES).toString('base64url');
  return { token, hash: hashToken(token)! };
}

/** The stored form of a token, or undefined when it cannot be one of ours (no lookup needed). */
export function hashToken(token: string): Buffer | undefined {
  if (!TOKEN_SHAPE.test(token)) return undefined;
  return createHash('sha256').update(token).digest();
}

/** The token of an `Authorization: Bearer <token>` header value; undefined for any other scheme. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^Bearer +(\S+) *$/i.exec(header);
  return match?.[1];
}
