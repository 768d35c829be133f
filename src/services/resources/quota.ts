import type { StorageUsage } from '../shared/views.js';
import { sql, type RawBuilder } from 'kysely';
import { appError } from '../../core/errors.js';
import type { Database } from '../../infra/database/index.js';
import { jsonBytes } from './input.js';

/**
 * Storage accounting (issue 12 point 5): what the resources a user owns hold, and the limits
 * on it. Each resource keeps its own byte count and each user the sum over what it owns
 * (`storage_bytes`, migration 0005), both changed in the transaction of the write, so the
 * quota is checked without summing history and a refused write leaves nothing behind.
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
 * A condition on `users.storage_bytes` (of the row being updated) that holds when adding
 * `delta` bytes stays within `quota` (0 = unlimited). Parameters are cast: a quota may pass 2^31.
 */
export function withinQuota(delta: number, quota: number): RawBuilder<boolean> {
  if (quota === 0 || delta <= 0) return sql<boolean>`true`;
  return sql<boolean>`users.storage_bytes + ${delta}::bigint <= ${quota}::bigint`;
}

/**
 * Adds `delta` bytes (negative: frees them) to an owner's count, under the user row's lock
 * until the transaction ends, so concurrent writes of one owner cannot overshoot together.
 * Past the quota, UNPROCESSABLE_ENTITY naming the limit and the figures.
 */
export async function chargeStorage(tx: Database['db'], ownerId: string, delta: number, quota: number): Promise<void> {
  if (delta === 0) return;
  // greatest(): history written before migration 0005 was counted a little larger, so a
  // count never goes below zero when that history goes.
  const { rows } = await sql`
    UPDATE users SET storage_bytes = greatest(users.storage_bytes + ${delta}::bigint, 0)
    WHERE users.id = ${ownerId} AND ${withinQuota(delta, quota)}
    RETURNING users.id`.execute(tx);
  if (rows.length === 0) throw await quotaExceeded(tx, ownerId, delta, quota);
}

/** The refusal of a write that would take an owner past its storage quota, with the figures. */
export async function quotaExceeded(db: Database['db'], ownerId: string, delta: number, quota: number) {
  const held = await storageBytesOf(db, ownerId);
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
  const row = await db.selectFrom('users').select('storage_bytes').where('id', '=', userId).executeTakeFirst();
  return row ? Number(row.storage_bytes) : 0;
}

/** A user's storage figures, as /auth/me shows them. */
export async function storageUsage(db: Database['db'], userId: string, quota: number): Promise<StorageUsage> {
  return { storageBytes: await storageBytesOf(db, userId), storageQuotaBytes: quota === 0 ? null : quota };
}
