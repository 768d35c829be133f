import type { StorageUsage } from '../shared/views.js';
import { randomInt } from 'node:crypto';
import { sql, type RawBuilder } from 'kysely';
import { appError } from '../../core/errors.js';
import type { Database } from '../../infra/database/index.js';
import { jsonBytes } from './input.js';

/**
 * Storage accounting (issue 12 point 5): what the resources a user owns hold, and the limits
 * on it. Each resource keeps its own byte count (`storage_bytes`, migration 0005) and each
 * user the sum over what it owns, spread over slot rows (`storage_slots`, migration 0008),
 * both changed by the statement or transaction of the write, so the quota is checked without
 * summing history and a refused write leaves nothing behind. The quota is exact: its bytes
 * are held in escrow, divided between the slots (see `slotCharge` and `makeRoom`).
 *
 * Bytes are those of the compact UTF-8 JSON of every version's data plus the current
 * metadata (the measure of `resources.maxDataBytes`), the UTF-8 bytes of the name, and a
 * fixed overhead per resource and per version: without it empty data and metadata cost 3
 * bytes, so a quota would not bound the rows (and disk) one user can fill. Bytes are charged
 * to the resource's owner, whoever writes (a user a resource is shared with spends its
 * owner's quota).
 */

/**
 * Bytes charged for each row a resource keeps besides its JSON: the resource's own row, and
 * each version's. Migration 0007 charged existing rows with this figure: changing it needs a
 * migration that recounts.
 */
export const ROW_OVERHEAD_BYTES = 256;

/** Bytes a version's data, or a resource's metadata, adds to its owner's count (its JSON). */
export const storedBytes = (value: unknown): number => jsonBytes(value);

/** Bytes a name counts for: its UTF-8. */
export const nameBytes = (name: string): number => Buffer.byteLength(name, 'utf8');

/** Bytes a new version (create, new data, restore) adds: its data (`dataBytes` of JSON) and its row. */
export const versionBytes = (dataBytes: number): number => ROW_OVERHEAD_BYTES + dataBytes;

/** Bytes a resource's own row counts for: its name, its metadata (`metadataBytes` of JSON) and the row. */
export const resourceRowBytes = (name: string, metadataBytes: number): number => ROW_OVERHEAD_BYTES + nameBytes(name) + metadataBytes;

/**
 * Slots each owner's count is spread over (migration 0008): writes of one owner charge
 * different slots (`pickSlot`), so up to this many of them hold a counter's row lock through
 * their commits at once instead of one. More slots divide the room left under the quota finer, so near the
 * quota more writes take the slow path of `makeRoom`.
 */
export const STORAGE_SLOTS = 16;

/**
 * The slot a write charges: this process's writes take the slots in turn, from a random
 * start, so its concurrent writes of one owner meet on one slot only past STORAGE_SLOTS of
 * them in flight; other processes' writes land anywhere.
 */
export function pickSlot(): number {
  nextSlot = (nextSlot + 1) % STORAGE_SLOTS;
  return nextSlot;
}
let nextSlot = randomInt(STORAGE_SLOTS);

/**
 * The UPDATE that charges `delta` bytes (negative: frees them) to one slot of an owner,
 * returning its `user_id`; no row when the slot has no room (or does not exist yet), so a
 * statement built on it writes nothing else either. Bytes are added only within the slot's
 * allowance of the current quota (`quota`, 0 = unlimited), the escrow that keeps the owner's
 * sum within it without locking its other slots; frees always pass. Parameters are cast: a
 * quota may pass 2^31.
 */
export function slotCharge(ownerId: string, slot: number, delta: number, quota: number): RawBuilder<unknown> {
  return sql`UPDATE storage_slots SET used_bytes = storage_slots.used_bytes + ${delta}::bigint
    WHERE storage_slots.user_id = ${ownerId} AND storage_slots.slot = ${slot} AND ${roomFor(delta, quota)}
    RETURNING storage_slots.user_id`;
}

function roomFor(delta: number, quota: number): RawBuilder<boolean> {
  if (delta <= 0) return sql<boolean>`true`;
  const within = sql<boolean>`storage_slots.used_bytes + ${delta}::bigint <= storage_slots.allowance_bytes`;
  // Unlimited: slots divided under an earlier quota stay within it until `makeRoom` undivides
  // them all, so a quota set again later never finds one slot past its allowance.
  if (quota === 0) return sql<boolean>`(storage_slots.quota_bytes IS NULL OR ${within})`;
  return sql<boolean>`(storage_slots.quota_bytes = ${quota}::bigint AND ${within})`;
}

/**
 * Adds `delta` bytes (negative: frees them) to an owner's count in the caller's transaction,
 * on the slot `pickSlot` gives; through `makeRoom` when that slot lacks room. Past the quota,
 * UNPROCESSABLE_ENTITY naming the limit and the figures.
 */
export async function chargeStorage(tx: Database['db'], ownerId: string, delta: number, quota: number): Promise<void> {
  if (delta === 0) return;
  const slot = pickSlot();
  const charge = async () => (await slotCharge(ownerId, slot, delta, quota).execute(tx)).rows.length > 0;
  if (await charge()) return;
  await makeRoom(tx, ownerId, slot, delta, quota);
  if (!(await charge())) throw await quotaExceeded(tx, ownerId, delta, quota);
}

/**
 * The slow path of a charge whose slot had no room, in the caller's transaction: creates
 * the owner's missing slots, locks them all in slot order (two slow paths never wait on each
 * other in a cycle), and unless the owner's sum plus `delta` passes the quota (then
 * UNPROCESSABLE_ENTITY with the figures), divides the room left so that `slot` has room for
 * `delta`. The charge itself is then made again, by the caller's statement, under the locks.
 */
export async function makeRoom(tx: Database['db'], ownerId: string, slot: number, delta: number, quota: number): Promise<void> {
  await ensureSlots(tx, ownerId);
  if (delta <= 0) return;
  const rows = await lockSlots(tx, ownerId);
  if (rows.length === 0) throw quotaRefusal(0, delta, quota);
  // Below zero only with history counted before migration 0005 (see storageBytesOf); the
  // slots are rewritten below, which sets the count to zero then.
  const held = Math.max(
    rows.reduce((sum, r) => sum + Number(r.used_bytes), 0),
    0,
  );
  if (quota === 0) {
    await sql`UPDATE storage_slots SET quota_bytes = NULL WHERE user_id = ${ownerId}`.execute(tx);
    return;
  }
  if (held + delta > quota) throw quotaRefusal(held, delta, quota);
  // Under the locks the count may move between slots: all of it goes to the slot charged,
  // whose allowance covers it and `delta`, and the room left is divided evenly.
  const room = quota - held - delta;
  const share = Math.floor(room / rows.length);
  const allowances = rows.map((r, i) => ({
    slot: r.slot,
    used: r.slot === slot ? held : 0,
    allowance: share + (i < room % rows.length ? 1 : 0) + (r.slot === slot ? held + delta : 0),
  }));
  await sql`UPDATE storage_slots SET used_bytes = v.used, allowance_bytes = v.allowance, quota_bytes = ${quota}::bigint
    FROM (VALUES ${sql.join(allowances.map((a) => sql`(${a.slot}::int, ${a.used}::bigint, ${a.allowance}::bigint)`))}) AS v (slot, used, allowance)
    WHERE storage_slots.user_id = ${ownerId} AND storage_slots.slot = v.slot`.execute(tx);
}

/**
 * Moves `delta` bytes onto an owner's count whatever its quota (an heir taking over a deleted
 * user's resources), in the caller's transaction. Its slots are undivided, so its next write
 * under a quota goes through `makeRoom`, which refuses until the owner is back under it.
 */
export async function takeOverStorage(tx: Database['db'], ownerId: string, delta: number): Promise<void> {
  if (delta === 0) return;
  await ensureSlots(tx, ownerId);
  await lockSlots(tx, ownerId);
  await sql`UPDATE storage_slots SET used_bytes = used_bytes + CASE WHEN slot = 0 THEN ${delta}::bigint ELSE 0 END, quota_bytes = NULL
    WHERE user_id = ${ownerId}`.execute(tx);
}

/**
 * Creates the owner's missing slots. Inserted in slot order, so concurrent first writes of
 * one owner wait on each other in that order too. An owner gone has no slots and gets none.
 */
async function ensureSlots(tx: Database['db'], ownerId: string): Promise<void> {
  await sql`INSERT INTO storage_slots (user_id, slot)
    SELECT users.id, s FROM users, generate_series(0, ${STORAGE_SLOTS - 1}::int) AS s WHERE users.id = ${ownerId} ORDER BY s
    ON CONFLICT DO NOTHING`.execute(tx);
}

/** Locks all the owner's slots until the transaction ends, in slot order: two lockers never wait on each other in a cycle. */
async function lockSlots(tx: Database['db'], ownerId: string): Promise<{ slot: number; used_bytes: string }[]> {
  const { rows } = await sql<{ slot: number; used_bytes: string }>`
    SELECT slot, used_bytes FROM storage_slots WHERE user_id = ${ownerId} ORDER BY slot FOR UPDATE`.execute(tx);
  return rows;
}

/** The refusal of a write that would take an owner past its storage quota, with the figures. */
export async function quotaExceeded(db: Database['db'], ownerId: string, delta: number, quota: number) {
  return quotaRefusal(await storageBytesOf(db, ownerId), delta, quota);
}

/** The refusal, when the owner's bytes (`held`) are known. */
function quotaRefusal(held: number, delta: number, quota: number) {
  return appError(
    'UNPROCESSABLE_ENTITY',
    `Storage quota exceeded (quotas.storageBytesPerUser): the owner's resources hold ${held} of ${quota} bytes; this change needs ${delta} more.`,
  );
}

/**
 * The version cap (`resources.maxVersions`): a resource's versions are numbered 1..n without
 * gaps and never pruned, so its current version is how many it has.
 */
export function assertVersionRoom(current: number, maxVersions: number): void {
  if (current >= maxVersions) {
    throw appError(
      'UNPROCESSABLE_ENTITY',
      `Version cap reached (resources.maxVersions): the resource has ${current} of ${maxVersions} versions; no new version can be added.`,
    );
  }
}

/** Bytes the resources a user owns hold (0 for an unknown user). */
export async function storageBytesOf(db: Database['db'], userId: string): Promise<number> {
  // greatest(): history written before migration 0005 was counted a little larger, so
  // freeing it could take the sum below zero.
  const row = await db
    .selectFrom('storage_slots')
    .select(sql<string>`greatest(coalesce(sum(used_bytes), 0), 0)`.as('bytes'))
    .where('user_id', '=', userId)
    .executeTakeFirstOrThrow();
  return Number(row.bytes);
}

/** A user's storage figures, as /auth/me shows them. */
export async function storageUsage(db: Database['db'], userId: string, quota: number): Promise<StorageUsage> {
  return { storageBytes: await storageBytesOf(db, userId), storageQuotaBytes: quota === 0 ? null : quota };
}
