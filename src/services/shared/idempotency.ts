import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { appError } from '../../core/errors.js';
import type { Database } from '../../infra/database/index.js';

/** How long a key is remembered (issue: 24 h). */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
/** Expired keys deleted per statement by `purgeExpired`. */
const PURGE_BATCH = 5000;
/** A claim still unanswered after this long belongs to a request that died (crash, lost connection). */
const ABANDONED_AFTER_MS = 5 * 60 * 1000;
const KEY_SHAPE = /^[\x21-\x7e]{1,255}$/;

/** Runs `body` in a transaction and returns what it returns. */
export type Transact = <R>(body: (tx: Database['db']) => Promise<R>) => Promise<R>;

export interface StoredResponse<T> {
  status: number;
  body: T;
}

/**
 * `Idempotency-Key` for retried writes. The first request with a key claims it (a row with
 * no status yet); its work and the recording of its answer commit in one transaction, so
 * an answer is stored if and only if the change happened. A replay with the same request
 * gets the stored answer; with a different request, 422; while the first is still running,
 * 409. Keys are per user and per operation, and forgotten after 24 h.
 */
export class IdempotencyStore {
  readonly #database: Database;

  constructor(database: Database) {
    this.#database = database;
  }

  /** The fingerprint of a request: what must match for a replay. Object key order does not count. */
  static fingerprint(request: unknown): Buffer {
    return createHash('sha256')
      .update(JSON.stringify(request, sortedKeys) ?? 'undefined')
      .digest();
  }

  static validKey(key: string): boolean {
    return KEY_SHAPE.test(key);
  }

  /**
   * Runs `work` once per (user, scope, key). `work` gets the transaction to do its change in;
   * what it returns is stored with that change and given back to replays. `transact` opens
   * that transaction (a UnitOfWork's, for a change with events and invalidations); a plain
   * one by default.
   */
  async run<T>(
    owner: { userId: string; scope: string; key: string; request: unknown },
    work: (tx: Database['db']) => Promise<StoredResponse<T>>,
    transact: Transact = (body) => this.#database.db.transaction().execute(body),
  ): Promise<StoredResponse<T> & { replayed: boolean }> {
    if (!IdempotencyStore.validKey(owner.key)) {
      throw appError('INVALID_INPUT', 'The Idempotency-Key must be 1 to 255 visible ASCII characters.', {
        errors: [{ field: 'Idempotency-Key', message: 'is malformed' }],
      });
    }
    const db = this.#database.db;
    const hash = IdempotencyStore.fingerprint(owner.request);
    const where = { user_id: owner.userId, scope: owner.scope, key: owner.key };
    // A key older than its lifetime is free again, and so is a claim its request abandoned.
    await db
      .deleteFrom('idempotency_keys')
      .where('user_id', '=', where.user_id)
      .where('scope', '=', where.scope)
      .where('key', '=', where.key)
      .where((eb) =>
        eb.or([
          eb('created_at', '<', new Date(Date.now() - IDEMPOTENCY_TTL_MS)),
          eb.and([eb('status', 'is', null), eb('created_at', '<', new Date(Date.now() - ABANDONED_AFTER_MS))]),
        ]),
      )
      .execute();
    const claimed = await db
      .insertInto('idempotency_keys')
      .values({ ...where, request_hash: hash, status: null, response: null })
      .onConflict((oc) => oc.doNothing())
      .returning('key')
      .executeTakeFirst();
    if (!claimed) return this.#replay<T>(where, hash);
    try {
      return await transact(async (tx) => {
        const answer = await work(tx);
        await tx
          .updateTable('idempotency_keys')
          .set({ status: answer.status, response: JSON.stringify(answer.body) })
          .where('user_id', '=', where.user_id)
          .where('scope', '=', where.scope)
          .where('key', '=', where.key)
          .execute();
        return { ...answer, replayed: false };
      });
    } catch (err) {
      // Nothing changed: the key is released so the client can retry with it.
      await db.deleteFrom('idempotency_keys').where('user_id', '=', where.user_id).where('scope', '=', where.scope).where('key', '=', where.key).execute();
      throw err;
    }
  }

  /**
   * Deletes the keys past their lifetime; resolves with how many. The worker's retention job
   * calls it (a request frees only its own expired key), so the table holds about a day of
   * keys and API instances run no table-wide delete.
   */
  async purgeExpired(): Promise<number> {
    const before = new Date(Date.now() - IDEMPOTENCY_TTL_MS);
    let purged = 0;
    // In batches, oldest first along the created_at index: an hour of keys from busy clients
    // is many rows, and one statement for all of them could pass the statement timeout and
    // then fail every hour with more.
    for (;;) {
      const result = await sql`
        DELETE FROM idempotency_keys WHERE (user_id, scope, key) IN (
          SELECT user_id, scope, key FROM idempotency_keys WHERE created_at < ${before} ORDER BY created_at LIMIT ${PURGE_BATCH}
        )`.execute(this.#database.db);
      const deleted = Number(result.numAffectedRows ?? 0);
      purged += deleted;
      if (deleted < PURGE_BATCH) return purged;
    }
  }

  async #replay<T>(where: { user_id: string; scope: string; key: string }, hash: Buffer): Promise<StoredResponse<T> & { replayed: boolean }> {
    const row = await this.#database.db
      .selectFrom('idempotency_keys')
      .select(['request_hash', 'status', 'response'])
      .where('user_id', '=', where.user_id)
      .where('scope', '=', where.scope)
      .where('key', '=', where.key)
      .executeTakeFirst();
    if (!row) throw appError('CONFLICT', 'A request with this Idempotency-Key just finished or failed; retry.');
    if (!Buffer.from(row.request_hash).equals(hash)) {
      throw appError('UNPROCESSABLE_ENTITY', 'This Idempotency-Key was used for a different request.');
    }
    if (row.status === null) throw appError('CONFLICT', 'A request with this Idempotency-Key is still in progress.', { headers: { 'retry-after': '1' } });
    return { status: row.status, body: row.response as T, replayed: true };
  }
}

/** JSON.stringify replacer that writes object keys in sorted order. */
function sortedKeys(_key: string, value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
