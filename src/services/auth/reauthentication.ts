import { appError } from '../../core/errors.js';
import type { Database } from '../../infra/database/index.js';
import type { FieldProblems } from '../shared/input.js';
import type { LoginLimiter } from './login-limiter.js';
import type { PasswordHasher } from './password.js';
import type { CallerContext } from '../context.js';

/** Longest password checked: an over-long one is refused before argon2 sees it (as at login). */
const MAX_PASSWORD_CHARS = 1024;

/** Checks the shape of a `currentPassword` field; the password, or '' with a problem added. */
export function currentPasswordField(value: unknown, field: string, problems: FieldProblems): string {
  if (typeof value !== 'string' || value.length > MAX_PASSWORD_CHARS) {
    problems.add(field, `must be a string of at most ${MAX_PASSWORD_CHARS} characters`);
    return '';
  }
  return value;
}

/**
 * The caller proves it knows its password again before a change that would let a stolen
 * session take the account over (a new password, a new email). Guesses count like failed
 * logins (login-limiter.ts), so this is no side door around the lockout.
 */
export class Reauthentication {
  constructor(
    readonly database: Database,
    readonly hasher: PasswordHasher,
    readonly limiter: LoginLimiter,
  ) {}

  /**
   * Resolves when `password` is the caller's current password; INVALID_INPUT on `field`
   * when it is not, RATE_LIMITED past the login limits. Returns the verified hash.
   */
  async confirm(ctx: CallerContext, password: string, field: string): Promise<string> {
    const caller = ctx.principal;
    const ip = (ctx.client ?? caller.client)?.ip;
    await this.limiter.attempt(caller.user.email, ip);
    const row = await this.database.db.selectFrom('users').select('password_hash').where('id', '=', caller.user.id).executeTakeFirst();
    if (!row) throw appError('UNAUTHORIZED', 'The token is invalid or expired.');
    if (!(await this.hasher.verify(row.password_hash, password)).ok) {
      await this.limiter.recordFailure(caller.user.email, ip);
      throw appError('INVALID_INPUT', 'The current password is incorrect.', { errors: [{ field, message: 'is incorrect' }] });
    }
    await this.limiter.recordSuccess(caller.user.email, ip);
    return row.password_hash;
  }
}
