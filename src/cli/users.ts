import { randomBytes } from 'node:crypto';
import type { Config } from '../core/config/index.js';
import { isAppError } from '../core/errors.js';
import { createDatabase, databaseOptionsFrom, isDataDirInUse, migrateUp } from '../infra/database/index.js';
import { createLogger } from '../infra/telemetry/logger.js';
import { PasswordHasher } from '../services/auth/password.js';
import { createAccount, validateNewAccount } from '../services/auth/accounts.js';
import { EXIT_DATA_DIR_IN_USE } from './options.js';
import { err, out } from './output.js';

export interface CreateUserOptions {
  email: string;
  name: string;
  admin: boolean;
  /** Read the password from standard input instead of generating one. */
  passwordStdin: boolean;
}

/**
 * `pcf users create`: makes an account directly in the database, the way to the first admin
 * when registration is closed. A password on the command line would show in `ps` and shell
 * history, so it comes from stdin or is generated and printed once.
 */
export async function createUser(config: Config, options: CreateUserOptions): Promise<void> {
  const password = options.passwordStdin ? (await readStdin()).replace(/\r?\n$/, '') : randomBytes(18).toString('base64url');
  try {
    // Checked before the database is opened (or, embedded, created).
    validateNewAccount({ email: options.email, name: options.name, password });
  } catch (e) {
    return fail(e);
  }
  const database = createDatabase(databaseOptionsFrom(config), createLogger({ level: 'silent' }));
  try {
    if (config.database.autoMigrate) await migrateUp(database.db);
    const hasher = new PasswordHasher({ memoryKib: config.auth.argon2MemoryKib, iterations: config.auth.argon2Iterations, parallelism: 1 });
    const user = await createAccount(database, hasher, { email: options.email, name: options.name, password }, { admin: options.admin });
    out(`created ${options.admin ? 'admin' : 'member'} ${user.email} (${user.id})`);
    if (!options.passwordStdin) out(`password: ${password}\nIt is shown only this once; change it after signing in (POST /api/v1/auth/password).`);
  } catch (e) {
    fail(e);
  } finally {
    await database.close().catch(() => undefined);
  }
}

/**
 * One clear line (and the field problems) on stderr, exit code 1 (75 when a running server
 * holds the embedded data directory); never a stack trace.
 */
function fail(e: unknown): void {
  if (isDataDirInUse(e)) {
    err(`cannot create the account: ${e.message}`);
    process.exitCode = EXIT_DATA_DIR_IN_USE;
    return;
  }
  if (isAppError(e)) {
    const cause = e.cause instanceof Error ? ` (${e.cause.message})` : '';
    const fields = e.errors?.length ? `\n${e.errors.map((f) => `  ${f.field}: ${f.message}`).join('\n')}` : '';
    err(`cannot create the account: ${e.message}${e.status >= 500 ? cause : ''}${fields}`);
  } else {
    err(`cannot create the account: ${e instanceof Error ? e.message : String(e)}`);
  }
  process.exitCode = 1;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
