/**
 * Accounts for the identity scenarios: registered through the API like any client would,
 * with emails unique to this run (so earlier runs' users never collide), and deleted again
 * afterwards together with their sessions (ON DELETE CASCADE), so the logins of a run don't
 * pile up session rows in the benchmark database.
 *
 * The first account registered on a PCF database becomes an admin. So that the measured
 * accounts are always ordinary members (what most callers are, and the same payload from
 * one run to the next), one account, OWNER_EMAIL, is registered first and kept.
 */
import { requestJson } from './http.js';
import type { SetupContext } from './scenarios.js';

export const BENCH_PASSWORD = 'bench-password-1';
/** The account that takes the first-user admin role, kept between runs. */
export const OWNER_EMAIL = 'pcf-bench-owner@example.com';

/** Tags this run's accounts: `pcf-bench-<tag>-<scenario>-<n>@example.com`. */
const RUN_TAG = `${Date.now().toString(36)}-${process.pid}`;

export interface BenchUser {
  id: string;
  email: string;
}

export interface BenchUsers {
  users: BenchUser[];
  /** Deletes the accounts (their sessions go with them); logs and swallows failures. */
  remove(): Promise<void>;
}

/** Registers `count` accounts, one after another (each costs one argon2 hash). */
export async function registerBenchUsers({ baseUrl, db }: SetupContext, scenario: string, count: number): Promise<BenchUsers> {
  const users: BenchUser[] = [];
  const remove = async () => {
    if (users.length === 0) return;
    try {
      await db.query('DELETE FROM users WHERE id = ANY($1::uuid[])', [users.map((u) => u.id)]);
    } catch (err) {
      console.error(`bench: ${scenario}: could not delete its ${users.length} bench account(s): ${(err as Error).message}`);
    }
  };
  try {
    const { rowCount } = await db.query('SELECT 1 FROM users LIMIT 1');
    if (!rowCount) {
      await requestJson(baseUrl, 'POST', '/api/v1/auth/register', { email: OWNER_EMAIL, name: 'Bench owner', password: BENCH_PASSWORD });
    }
    for (let i = 0; i < count; i++) {
      const email = `pcf-bench-${RUN_TAG}-${scenario}-${i}@example.com`;
      const r = await requestJson<{ user: { id: string } }>(baseUrl, 'POST', '/api/v1/auth/register', {
        email,
        name: `Bench ${scenario} ${i}`,
        password: BENCH_PASSWORD,
      });
      users.push({ id: r.body.user.id, email });
    }
  } catch (err) {
    await remove();
    throw err;
  }
  return { users, remove };
}

/** Logs in and returns the bearer token. */
export async function login(baseUrl: string, email: string): Promise<string> {
  const r = await requestJson<{ token: string }>(baseUrl, 'POST', '/api/v1/auth/login', { email, password: BENCH_PASSWORD });
  if (typeof r.body.token !== 'string' || r.body.token.length === 0) {
    throw new Error(`setup: POST /api/v1/auth/login answered without a token: ${JSON.stringify(r.body).slice(0, 300)}`);
  }
  return r.body.token;
}
