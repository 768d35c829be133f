import { appError, type AppError } from '../../core/errors.js';
import { newId } from '../../core/ids.js';
import { violatedConstraint, type Database } from '../../infra/database/index.js';
import type { PasswordHasher } from './password.js';
import { ADMIN_ROLE_ID, MEMBER_ROLE_ID } from '../roles/builtin.js';
import { userView, type UserView } from '../shared/views.js';
import { checkPassword, FieldProblems, normaliseEmail, normaliseName } from '../shared/input.js';

export interface NewAccount {
  email: unknown;
  name: unknown;
  password: unknown;
}

export interface AccountOptions {
  /** Make the account an admin (CLI `users create --admin`). */
  admin?: boolean;
  /** The first account ever created becomes an admin (self-registration). */
  firstIsAdmin?: boolean;
  /** Runs inside the creating transaction, before commit (e.g. accepting an invitation). */
  within?: (tx: Database['db'], user: UserView) => Promise<void>;
}

/** Validates a new account's fields, reporting every problem at once. */
export function validateNewAccount(input: NewAccount): { email: string; name: string; password: string } {
  const problems = new FieldProblems();
  const email = normaliseEmail(input.email, 'email', problems);
  const name = normaliseName(input.name, 'name', problems);
  const password = checkPassword(input.password, 'password', problems);
  problems.throwIfAny();
  return { email, name, password };
}

/**
 * Creates a user with its role: `member`, or `admin` when asked or when it is the very first
 * account. The admin role's row is locked for the check, so two simultaneous first
 * registrations cannot both become admins. The password is hashed before the transaction
 * opens, so no lock is held across argon2.
 */
export async function createAccount(database: Database, hasher: PasswordHasher, input: NewAccount, options: AccountOptions = {}): Promise<UserView> {
  const fields = validateNewAccount(input);
  const passwordHash = await hasher.hash(fields.password);
  try {
    return await database.db.transaction().execute(async (tx) => {
      let admin = options.admin === true;
      if (!admin && options.firstIsAdmin) {
        await tx.selectFrom('roles').select('id').where('id', '=', ADMIN_ROLE_ID).forUpdate().execute();
        admin = (await tx.selectFrom('users').select('id').limit(1).executeTakeFirst()) === undefined;
      }
      const now = new Date();
      const row = await tx
        .insertInto('users')
        .values({ id: newId(), email: fields.email, name: fields.name, password_hash: passwordHash, created_at: now, updated_at: now })
        .returning(['id', 'email', 'name', 'created_at', 'updated_at'])
        .executeTakeFirstOrThrow();
      await tx
        .insertInto('user_roles')
        .values({ user_id: row.id, role_id: admin ? ADMIN_ROLE_ID : MEMBER_ROLE_ID })
        .execute();
      const user = userView(row);
      await options.within?.(tx, user);
      return user;
    });
  } catch (err) {
    throw emailTaken(err) ?? err;
  }
}

/** The unique-email violation as a clear 409; undefined for any other error. */
export function emailTaken(err: unknown): AppError | undefined {
  if (violatedConstraint(err) === 'users_email_key') {
    return appError('CONFLICT', 'An account with this email already exists.', { errors: [{ field: 'email', message: 'is already registered' }] });
  }
  return undefined;
}
