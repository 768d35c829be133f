import { appError } from '../../core/errors.js';
import { canonicalId } from '../../core/ids.js';
import type { Database } from '../../infra/database/index.js';
import { can, type Action } from '../access/index.js';
import type { Principal } from '../auth/principals.js';
import { resourceCacheKey } from '../shared/cache-keys.js';
import { isInvalidated, type Invalidated, type TolerantCache } from '../shared/tolerant-cache.js';
import { jsonBytes } from './input.js';
import { resourceRecord, type ResourceSummary, type ResourceView } from './model.js';
import { findSummary, findWithData } from './repository.js';

/** Reads larger than this are served from the database only, so the cache stays small. */
const CACHEABLE_BYTES = 64 * 1024;

export const noSuchResource = () => appError('NOT_FOUND', 'No such resource.');

/**
 * A resource by id as a caller may see it, from the cache when warm: the one read every
 * resource and share call starts with. A resource the caller may not read is NOT_FOUND,
 * like a missing one. Its cache has no in-process layer of its own: a change invalidates
 * the shared cache before it commits (see ResourcesService).
 */
export class ResourceReads {
  readonly #database: Database;
  readonly #cache: TolerantCache;
  readonly #ttlMs: number;

  constructor(deps: { database: Database; cache: TolerantCache; cacheTtlMs: number }) {
    this.#database = deps.database;
    this.#cache = deps.cache;
    this.#ttlMs = deps.cacheTtlMs;
  }

  /** The resource with its current data, if the caller may do `action` on it. */
  async readable(caller: Principal, rawId: string, action: Action): Promise<ResourceView> {
    const id = canonicalId(rawId);
    if (!id) throw noSuchResource();
    const resource = await this.#load(id);
    if (!resource || !can(caller.ability, action, 'resource', resourceRecord(resource))) throw noSuchResource();
    return resource;
  }

  /**
   * `readable` without the document: for the calls that need only to know the resource is
   * there and readable (its history, a diff, its shares, a change). A version of 1 MiB is
   * not read, parsed and measured for each of them.
   */
  async visible(caller: Principal, rawId: string, action: Action): Promise<ResourceSummary> {
    const id = canonicalId(rawId);
    if (!id) throw noSuchResource();
    const cached = await this.#cached(id);
    const resource = cached ?? (await findSummary(this.#database.db, id));
    if (!resource || !can(caller.ability, action, 'resource', resourceRecord(resource))) throw noSuchResource();
    return resource;
  }

  async #load(id: string): Promise<ResourceView | undefined> {
    const key = resourceCacheKey(id);
    const cached = await this.#cache.get<ResourceView | Invalidated>(key);
    if (usable(cached)) return cached;
    const view = await findWithData(this.#database.db, id);
    // Only small documents are cached, and never over a fresh invalidation marker.
    if (view && !cached && jsonBytes(view.data) <= CACHEABLE_BYTES) await this.#cache.add(key, view, this.#ttlMs);
    return view;
  }

  async #cached(id: string): Promise<ResourceView | undefined> {
    const cached = await this.#cache.get<ResourceView | Invalidated>(resourceCacheKey(id));
    return usable(cached) ? cached : undefined;
  }
}

/**
 * An entry cached before revisions existed (an instance not yet upgraded, sharing Redis)
 * has none to serve as the ETag: the row is read instead.
 */
function usable(cached: ResourceView | Invalidated | undefined): cached is ResourceView {
  return cached !== undefined && !isInvalidated(cached) && typeof cached.revision === 'number';
}
