import type { Operation } from 'rfc6902';
import { appError } from '../../core/errors.js';
import type { Database } from '../../infra/database/index.js';
import type { TolerantCache } from '../shared/tolerant-cache.js';
import { diffJson, diffTooLarge, type DiffLimit } from './diff.js';
import { findVersion } from './repository.js';

/**
 * Diffs kept in the cache are at most this large: one resource of n versions has n² pairs,
 * so a member could otherwise fill a cache bounded by entries with 64 KiB patches.
 */
const CACHEABLE_DIFF_BYTES = 4 * 1024;

/** A computed diff, or which limit refused it. */
type CachedDiff = { patch: Operation[] } | { tooLarge: Exclude<DiffLimit, 'time'> };
const diffCacheKey = (id: string, from: number, to: number): string => `res-diff:${id}:${from}:${to}`;

export const noSuchVersion = () => appError('NOT_FOUND', 'No such version.');

/**
 * The diffs between versions of a resource the caller was already allowed to read (see
 * diff.ts for the diff itself). Versions never change, so a patch, or the refusal, is cached
 * under (id, from, to) once computed; a deleted resource is not found before its cached
 * diffs are looked at, and its id is never reused.
 */
export class VersionDiffs {
  readonly #database: Database;
  readonly #cache: TolerantCache;
  readonly #ttlMs: number;

  constructor(deps: { database: Database; cache: TolerantCache; cacheTtlMs: number }) {
    this.#database = deps.database;
    this.#cache = deps.cache;
    this.#ttlMs = deps.cacheTtlMs;
  }

  /** The patch from version `from` to `to`; NOT_FOUND for a missing version, UNPROCESSABLE_ENTITY past the diff's limits. */
  async between(resourceId: string, from: number, to: number): Promise<Operation[]> {
    const db = this.#database.db;
    if (from === to) {
      // No change, whatever the data: only that the version exists is read.
      if (!validNumber(from) || !(await findVersion(db, resourceId, from, false))) throw noSuchVersion();
      return [];
    }
    const key = diffCacheKey(resourceId, from, to);
    const cached = await this.#cache.get<CachedDiff>(key);
    if (cached && 'patch' in cached) return cached.patch;
    if (cached && 'tooLarge' in cached) throw diffTooLarge(cached.tooLarge);
    if (!validNumber(from) || !validNumber(to)) throw noSuchVersion();
    const [a, b] = await Promise.all([findVersion(db, resourceId, from), findVersion(db, resourceId, to)]);
    if (!a || !b) throw noSuchVersion();
    const outcome = diffJson(a.data, b.data);
    if (!outcome.ok) {
      // Work and size are the data's; the clock is also the machine's load, so not kept.
      if (outcome.limit !== 'time') await this.#cache.add<CachedDiff>(key, { tooLarge: outcome.limit }, this.#ttlMs);
      throw diffTooLarge(outcome.limit);
    }
    // Large patches are recomputed rather than kept.
    if (outcome.bytes <= CACHEABLE_DIFF_BYTES) await this.#cache.add<CachedDiff>(key, { patch: outcome.patch }, this.#ttlMs);
    return outcome.patch;
  }
}

/** A version number that can exist: versions are numbered from 1. */
export const validNumber = (n: number): boolean => Number.isInteger(n) && n >= 1;
