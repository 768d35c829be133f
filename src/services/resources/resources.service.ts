import { sql } from 'kysely';
import type { Operation } from 'rfc6902';
import { appError } from '../../core/errors.js';
import { canonicalId, newId } from '../../core/ids.js';
import type { Database } from '../../infra/database/index.js';
import { accessFilter, can, SHARE_ACTIONS, type Action, type ShareAction } from '../access/index.js';
import { actor, type Audit } from '../auth/audit.js';
import { requireSignedIn, type GrantsStore, type Principal } from '../auth/principals.js';
import { resourceCacheKey } from '../shared/cache-keys.js';
import { IdempotencyStore } from '../shared/idempotency.js';
import { TOPIC, type ResourceEventPayload } from '../events/catalog.js';
import type { Outbox } from '../shared/outbox.js';
import { pageBounds, toPage, type Page, type PageRequest } from '../shared/pagination.js';
import { INVALIDATION_HOLD_MS, isInvalidated, type Invalidated, type TolerantCache } from '../shared/tolerant-cache.js';
import { iso } from '../shared/views.js';
import { FieldProblems } from '../users/input.js';
import { diffJson, diffTooLarge, type DiffLimit } from './diff.js';
import { jsonBytes, validateListFilters, validateNewResource, validateResourcePatch } from './input.js';
import { assertVersionRoom, chargeStorage, nameBytes, quotaExceeded, resourceRowBytes, storedBytes, versionBytes, withinQuota } from './quota.js';

export interface ResourceSummary {
  id: string;
  ownerId: string;
  name: string;
  type: string;
  metadata: Record<string, unknown>;
  /** The current version of the data: new data appends version n+1. */
  version: number;
  /**
   * Bumped by every change of the record (name, metadata, data, owner): the ETag, and what
   * If-Match and expectedRevision are compared with.
   */
  revision: number;
  createdAt: string;
  updatedAt: string;
}

export interface ResourceView extends ResourceSummary {
  /** The current version's data. */
  data: unknown;
}

export interface VersionSummary {
  version: number;
  createdBy: string | null;
  createdAt: string;
}

export interface VersionView extends VersionSummary {
  data: unknown;
}

export interface Share {
  userId: string;
  actions: ShareAction[];
}

export { SHARE_ACTIONS, type ShareAction };

export interface ListFilters extends PageRequest {
  type?: string | undefined;
  ownerId?: string | undefined;
  q?: string | undefined;
}

/**
 * What a write expects the resource to be at; an absent field accepts any. `revisions`
 * (If-Match's tags, GraphQL's expectedRevision) is compared with the revision, which every
 * change bumps; `version` (GraphQL's deprecated expectedVersion) with the data's version
 * alone, so it does not protect name or metadata.
 */
export interface Precondition {
  revisions?: readonly number[] | undefined;
  version?: number | undefined;
}

export interface WriteOptions {
  /** `Idempotency-Key`: a retry with the same key and request gets the first answer. */
  idempotencyKey?: string | undefined;
  /** The trace of the request, recorded on the outbox event. */
  traceId?: string | undefined;
}

export interface ResourcesDeps {
  database: Database;
  cache: TolerantCache;
  grants: GrantsStore;
  audit: Audit;
  maxDataBytes: number;
  /** `resources.maxVersions`: most versions one resource may have. */
  maxVersions: number;
  /** `quotas.storageBytesPerUser`: bytes the resources of one owner may hold (0 = unlimited). */
  storageQuotaBytes: number;
  cacheTtlMs: number;
  outbox: Outbox;
  /** Users one resource may be shared with (resources.maxSharesPerResource). */
  maxSharesPerResource: number;
  /** Shares one user may receive (resources.maxSharesPerUser). */
  maxSharesPerUser: number;
}

const SUMMARY_COLUMNS = [
  'resources.id',
  'resources.owner_id',
  'resources.name',
  'resources.type',
  'resources.metadata',
  'resources.version',
  'resources.revision',
  'resources.created_at',
  'resources.updated_at',
] as const;

/** Reads larger than this are served from the database only, so the cache stays small. */
const CACHEABLE_BYTES = 64 * 1024;

/**
 * Diffs kept in the cache are at most this large: one resource of n versions has n² pairs,
 * so a member could otherwise fill a cache bounded by entries with 64 KiB patches.
 */
const CACHEABLE_DIFF_BYTES = 4 * 1024;

/** A computed diff, or which limit refused it (see `diff`). */
type CachedDiff = { patch: Operation[] } | { tooLarge: Exclude<DiffLimit, 'time'> };
const diffCacheKey = (id: string, from: number, to: number): string => `res-diff:${id}:${from}:${to}`;

const notFound = () => appError('NOT_FOUND', 'No such resource.');

/** Shares one user may receive of the resources of one owner: a tenth of `maxSharesPerUser` (at least 1). */
export const sharesPerOwnerAndUser = (maxSharesPerUser: number): number => Math.max(1, Math.floor(maxSharesPerUser / 10));

interface SummaryRow {
  id: string;
  owner_id: string;
  name: string;
  type: string;
  metadata: Record<string, unknown>;
  version: number;
  revision: number;
  created_at: Date;
  updated_at: Date;
}

function summaryView(row: SummaryRow): ResourceSummary {
  return {
    id: row.id,
    ownerId: row.owner_id,
    name: row.name,
    type: row.type,
    metadata: row.metadata,
    version: row.version,
    revision: row.revision,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

/** What permission conditions see of a resource (DESIGN §5 "Permissions"). */
export function resourceRecord(r: ResourceSummary) {
  return { id: r.id, ownerId: r.ownerId, name: r.name, type: r.type, createdAt: r.createdAt, metadata: r.metadata };
}

/**
 * Versioned resources (DESIGN §5 "Resources"): typed JSON documents whose data has an
 * immutable, gapless version history. Every write runs in one transaction with its version
 * row and its outbox event; concurrent writers serialise on the resource's row lock.
 */
export class ResourcesService {
  readonly #d: ResourcesDeps;
  readonly #idempotency: IdempotencyStore;

  constructor(deps: ResourcesDeps) {
    this.#d = deps;
    this.#idempotency = new IdempotencyStore(deps.database);
  }

  async create(principal: Principal | undefined, input: Record<string, unknown>, options: WriteOptions = {}): Promise<ResourceView & { replayed: boolean }> {
    const caller = requireSignedIn(principal);
    const fields = validateNewResource(input, this.#d.maxDataBytes);
    const now = new Date();
    const id = newId();
    const record = { id, ownerId: caller.user.id, name: fields.name, type: fields.type, createdAt: now.toISOString(), metadata: fields.metadata };
    if (!can(caller.ability, 'create', 'resource', record)) throw appError('FORBIDDEN', `You may not create resources of type ${fields.type}.`);
    const event: ResourceEventPayload = { ...record, version: 1, actorId: caller.user.id };
    const bytes = resourceRowBytes(fields.name, fields.metadataBytes) + versionBytes(fields.dataBytes);
    const quota = this.#d.storageQuotaBytes;
    // The owner's storage charge, the resource, its version 1 and its outbox event in ONE
    // statement (data-modifying CTEs): atomic without BEGIN/COMMIT, one round trip instead
    // of six. Past the quota the charge updates no row, so nothing else is written either.
    const work = async (tx: Database['db']) => {
      const { rows } = await sql<SummaryRow & { data: unknown }>`
        WITH u AS (
          UPDATE users SET storage_bytes = users.storage_bytes + ${bytes}::bigint
          WHERE users.id = ${caller.user.id} AND ${withinQuota(bytes, quota)}
          RETURNING users.id
        ), r AS (
          INSERT INTO resources (id, owner_id, name, type, metadata, version, revision, storage_bytes, created_at, updated_at)
          SELECT ${id}, u.id, ${fields.name}, ${fields.type}, ${JSON.stringify(fields.metadata)}::jsonb, 1, 1, ${bytes}::bigint, ${now}, ${now} FROM u
          RETURNING id, owner_id, name, type, metadata, version, revision, created_at, updated_at
        ), v AS (
          INSERT INTO resource_versions (id, resource_id, version, data, created_by, created_at)
          SELECT ${newId()}, r.id, 1, ${JSON.stringify(fields.data)}::jsonb, ${caller.user.id}, ${now} FROM r
          RETURNING data
        ), o AS (
          INSERT INTO outbox (id, topic, aggregate_type, aggregate_id, payload, trace_id)
          SELECT ${this.#d.outbox.newEventId()}, ${TOPIC.resourceCreated}, 'resource', r.id, ${JSON.stringify(event)}::jsonb, ${options.traceId ?? null} FROM r
        )
        SELECT r.*, v.data FROM r, v`.execute(tx);
      const row = rows[0];
      if (!row) throw await quotaExceeded(tx, caller.user.id, bytes, quota);
      return { status: 201, body: { ...summaryView(row), data: row.data } satisfies ResourceView };
    };
    // Without an Idempotency-Key the statement needs no transaction of its own.
    const result =
      options.idempotencyKey === undefined
        ? { ...(await work(this.#d.database.db)), replayed: false }
        : await this.#write(caller, 'POST /resources', { input }, options, work);
    this.#d.outbox.committed();
    return { ...result.body, replayed: result.replayed };
  }

  /** A resource with its current data; NOT_FOUND when missing or not readable. */
  async get(principal: Principal | undefined, rawId: string): Promise<ResourceView> {
    const caller = requireSignedIn(principal);
    return this.#readable(caller, rawId, 'read');
  }

  /**
   * The current data of resources the caller has already read (a list's items), one query
   * per batch. Ids it may not read are skipped.
   */
  async currentData(principal: Principal | undefined, resources: readonly ResourceSummary[]): Promise<Map<string, unknown>> {
    const caller = requireSignedIn(principal);
    const readable = resources.filter((r) => can(caller.ability, 'read', 'resource', resourceRecord(r)));
    if (readable.length === 0) return new Map();
    // The data of the version each summary shows, not of whatever is current by now.
    const rows = await this.#d.database.db
      .selectFrom('resource_versions')
      .select(['resource_id', 'data'])
      .where((eb) => eb.or(readable.map((r) => eb.and([eb('resource_id', '=', r.id), eb('version', '=', r.version)]))))
      .execute();
    return new Map(rows.map((r) => [r.resource_id, r.data]));
  }

  /** A page of readable resources, filtered and permission-checked in one SQL statement. */
  async list(principal: Principal | undefined, filters: ListFilters): Promise<Page<ResourceSummary>> {
    const caller = requireSignedIn(principal);
    const { limit, after } = pageBounds(filters);
    validateListFilters(filters);
    const filter = accessFilter(caller.ability, 'read', 'resource');
    if (filter.kind === 'none') return { items: [], nextCursor: null };
    let query = this.#filtered(filters)
      .select(SUMMARY_COLUMNS)
      .orderBy('resources.id')
      .limit(limit + 1);
    if (after) query = query.where('resources.id', '>', after);
    if (filter.kind === 'where') query = query.where(filter.expression);
    return toPage(await query.execute(), limit, summaryView);
  }

  async count(principal: Principal | undefined, filters: ListFilters): Promise<number> {
    const caller = requireSignedIn(principal);
    validateListFilters(filters);
    const filter = accessFilter(caller.ability, 'read', 'resource');
    if (filter.kind === 'none') return 0;
    let query = this.#filtered(filters).select(sql<string>`count(*)`.as('n'));
    if (filter.kind === 'where') query = query.where(filter.expression);
    return Number((await query.executeTakeFirstOrThrow()).n);
  }

  /**
   * Changes name, metadata and/or data. New data appends version n+1; name and metadata
   * alone change the resource without a version. Every change bumps the revision. A
   * precondition (If-Match) the resource no longer meets is PRECONDITION_FAILED. New data
   * past the version cap, or bytes past the owner's quota, are UNPROCESSABLE_ENTITY.
   */
  async update(
    principal: Principal | undefined,
    rawId: string,
    input: Record<string, unknown>,
    expected: Precondition = {},
    options: WriteOptions = {},
  ): Promise<ResourceView> {
    const caller = requireSignedIn(principal);
    const patch = validateResourcePatch(input, this.#d.maxDataBytes);
    const unchanged = patch.name === undefined && patch.metadata === undefined && patch.data === undefined;
    // The document is read only to answer a change that changes nothing; a change itself
    // needs the summary (a 1 MiB current version is not read to be replaced).
    const current = unchanged ? await this.#readable(caller, rawId, 'read') : await this.#visible(caller, rawId, 'read');
    const next = {
      ...current,
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.metadata !== undefined ? { metadata: patch.metadata } : {}),
    };
    if (!can(caller.ability, 'update', 'resource', resourceRecord(current)) || !can(caller.ability, 'update', 'resource', resourceRecord(next))) {
      throw appError('FORBIDDEN', 'You may not change this resource.');
    }
    // Nothing to change: no write, no event; the precondition still holds or fails.
    if (unchanged) {
      assertPrecondition(current, expected);
      return current as ResourceView;
    }
    return this.#change(caller, current.id, expected, options, async (tx, locked) => {
      // Checked again on the locked row: a concurrent change to name or metadata may have
      // moved the resource out of (or the change into) what the caller may update.
      assertMay(caller, 'update', locked);
      assertMay(caller, 'update', {
        ...locked,
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.metadata !== undefined ? { metadata: patch.metadata } : {}),
      });
      if (patch.data !== undefined) assertVersionRoom(locked.version, this.#d.maxVersions);
      // New data adds a version; a new name or metadata replaces the old (not versioned).
      const bytes =
        (patch.data !== undefined ? versionBytes(patch.dataBytes) : 0) +
        (patch.metadata !== undefined ? patch.metadataBytes - storedBytes(locked.metadata) : 0) +
        (patch.name !== undefined ? nameBytes(patch.name) - nameBytes(locked.name) : 0);
      await chargeStorage(tx, locked.ownerId, bytes, this.#d.storageQuotaBytes);
      const now = new Date();
      const version = patch.data !== undefined ? locked.version + 1 : locked.version;
      const row = await tx
        .updateTable('resources')
        .set({
          ...(patch.name !== undefined ? { name: patch.name } : {}),
          ...(patch.metadata !== undefined ? { metadata: JSON.stringify(patch.metadata) } : {}),
          version,
          revision: locked.revision + 1,
          storage_bytes: sql<string>`greatest(storage_bytes + ${bytes}::bigint, 0)`,
          updated_at: now,
        })
        .where('id', '=', locked.id)
        .returning(SUMMARY_COLUMNS)
        .executeTakeFirstOrThrow();
      let data: unknown;
      if (patch.data !== undefined) {
        data = await appendVersion(tx, { resourceId: locked.id, version, data: patch.data, authorId: caller.user.id, at: now });
      } else {
        data = await this.#dataOf(tx, locked.id, version);
      }
      return { ...summaryView(row), data };
    });
  }

  /** Appends a version whose data equals version n (itself immutable). */
  async restore(principal: Principal | undefined, rawId: string, n: number, options: WriteOptions = {}): Promise<ResourceView & { replayed: boolean }> {
    const caller = requireSignedIn(principal);
    const current = await this.#visible(caller, rawId, 'read');
    if (!can(caller.ability, 'update', 'resource', resourceRecord(current))) throw appError('FORBIDDEN', 'You may not change this resource.');
    const source = await this.#version(current.id, n);
    const work = async (tx: Database['db']) => {
      const locked = await this.#lock(tx, current.id);
      assertMay(caller, 'update', locked);
      assertVersionRoom(locked.version, this.#d.maxVersions);
      // A restored version is a new version: its bytes and its row count again.
      const bytes = versionBytes(storedBytes(source.data));
      await chargeStorage(tx, locked.ownerId, bytes, this.#d.storageQuotaBytes);
      const now = new Date();
      const version = locked.version + 1;
      const row = await tx
        .updateTable('resources')
        .set({ version, revision: locked.revision + 1, storage_bytes: sql<string>`storage_bytes + ${bytes}::bigint`, updated_at: now })
        .where('id', '=', locked.id)
        .returning(SUMMARY_COLUMNS)
        .executeTakeFirstOrThrow();
      const data = await appendVersion(tx, { resourceId: locked.id, version, data: source.data, authorId: caller.user.id, at: now });
      const view: ResourceView = { ...summaryView(row), data };
      await this.#d.outbox.write(tx, { topic: TOPIC.resourceRestored, payload: { ...eventPayload(view, caller), restoredFrom: n }, traceId: options.traceId });
      return { status: 200, body: view };
    };
    await this.#d.cache.invalidate([resourceCacheKey(current.id)], INVALIDATION_HOLD_MS);
    const result = await this.#write(caller, `POST /resources/${current.id}/restore`, { n }, options, work);
    this.#d.outbox.committed();
    await this.#forget(current.id);
    return { ...result.body, replayed: result.replayed };
  }

  /** Deletes a resource with its versions and shares; an outbox event records it. */
  async delete(principal: Principal | undefined, rawId: string, options: WriteOptions = {}): Promise<void> {
    const caller = requireSignedIn(principal);
    const current = await this.#readable(caller, rawId, 'read');
    if (!can(caller.ability, 'delete', 'resource', resourceRecord(current))) throw appError('FORBIDDEN', 'You may not delete this resource.');
    const sharedWith = await this.#shareHolders(current.id);
    await this.#d.cache.invalidate([resourceCacheKey(current.id)], INVALIDATION_HOLD_MS);
    await this.#d.grants.invalidate(sharedWith);
    await this.#d.database.db.transaction().execute(async (tx) => {
      const locked = await this.#lock(tx, current.id);
      assertMay(caller, 'delete', locked);
      // The resource and its holders as they are when it goes (a share may have come since).
      const holders = await this.#shareHolders(current.id, tx);
      const gone = await tx.deleteFrom('resources').where('id', '=', current.id).returning(['owner_id', 'storage_bytes']).executeTakeFirstOrThrow();
      // Its history goes with it: the owner gets those bytes back.
      await chargeStorage(tx, gone.owner_id, -Number(gone.storage_bytes), this.#d.storageQuotaBytes);
      await this.#d.outbox.write(tx, {
        topic: TOPIC.resourceDeleted,
        payload: { ...eventPayload(locked, caller), sharedWith: holders },
        traceId: options.traceId,
      });
    });
    this.#d.outbox.committed();
    await this.#forget(current.id);
    this.#d.audit('resource.deleted', { ...actor(caller), resourceId: current.id });
  }

  /** The version history, newest first, without data. */
  async versions(principal: Principal | undefined, rawId: string, page: PageRequest): Promise<Page<VersionSummary>> {
    const caller = requireSignedIn(principal);
    const resource = await this.#visible(caller, rawId, 'read');
    const limit = pageBounds({ limit: page.limit }).limit;
    const before = page.cursor === undefined ? undefined : decodeVersionCursor(page.cursor);
    let query = this.#d.database.db
      .selectFrom('resource_versions')
      .select(['version', 'created_by', 'created_at'])
      .where('resource_id', '=', resource.id)
      .orderBy('version', 'desc')
      .limit(limit + 1);
    if (before !== undefined) query = query.where('version', '<', before);
    const rows = await query.execute();
    const more = rows.length > limit;
    const kept = more ? rows.slice(0, limit) : rows;
    return {
      items: kept.map((r) => ({ version: r.version, createdBy: r.created_by, createdAt: iso(r.created_at) })),
      nextCursor: more ? encodeVersionCursor(kept[kept.length - 1]!.version) : null,
    };
  }

  async version(principal: Principal | undefined, rawId: string, n: number): Promise<VersionView> {
    const caller = requireSignedIn(principal);
    const resource = await this.#visible(caller, rawId, 'read');
    return this.#version(resource.id, n);
  }

  /**
   * RFC 6902 JSON Patch that turns version `from` into version `to`, within the diff's work
   * and size limits (UNPROCESSABLE_ENTITY past them, see diff.ts). Versions never change, so
   * a patch, or the refusal, is cached under (id, from, to) once computed; a deleted resource
   * is not found before its cached diffs are looked at, and its id is never reused.
   */
  async diff(principal: Principal | undefined, rawId: string, from: number, to: number): Promise<Operation[]> {
    const caller = requireSignedIn(principal);
    const resource = await this.#visible(caller, rawId, 'read');
    if (from === to) {
      // No change, whatever the data: only that the version exists is read.
      await this.#version(resource.id, from, false);
      return [];
    }
    const key = diffCacheKey(resource.id, from, to);
    const cached = await this.#d.cache.get<CachedDiff>(key);
    if (cached && 'patch' in cached) return cached.patch;
    if (cached && 'tooLarge' in cached) throw diffTooLarge(cached.tooLarge);
    const [a, b] = await Promise.all([this.#version(resource.id, from), this.#version(resource.id, to)]);
    const outcome = diffJson(a.data, b.data);
    if (!outcome.ok) {
      // Work and size are the data's; the clock is also the machine's load, so not kept.
      if (outcome.limit !== 'time') await this.#d.cache.add<CachedDiff>(key, { tooLarge: outcome.limit }, this.#d.cacheTtlMs);
      throw diffTooLarge(outcome.limit);
    }
    // Large patches are recomputed rather than kept.
    if (outcome.bytes <= CACHEABLE_DIFF_BYTES) await this.#d.cache.add<CachedDiff>(key, { patch: outcome.patch }, this.#d.cacheTtlMs);
    return outcome.patch;
  }

  /**
   * Shares a resource with another user for these actions (read always comes with them);
   * sharing again adds actions to the one share row, never takes any away (unsharing does).
   * Only its owner, or whoever may manage it, shares it.
   * Refused: sharing with oneself or with the owner (400), past `maxSharesPerResource` users
   * of one resource, `maxSharesPerUser` shares received by one user, or a tenth of that
   * received from one owner (409, naming the cap).
   */
  async share(principal: Principal | undefined, rawId: string, input: Record<string, unknown>): Promise<Share> {
    const caller = requireSignedIn(principal);
    const resource = await this.#visible(caller, rawId, 'read');
    this.#assertSharer(caller, resource);
    const problems = new FieldProblems();
    for (const key of Object.keys(input)) if (key !== 'userId' && key !== 'actions') problems.add(key, 'is not an allowed field');
    const userId = typeof input.userId === 'string' ? canonicalId(input.userId) : undefined;
    if (!userId) problems.add('userId', 'must be a user id');
    // Each share is state kept for its recipient: one with oneself (or the owner, who may do
    // everything already) grants nothing and only costs memory and list time.
    else if (userId === caller.user.id) problems.add('userId', 'is you: a resource cannot be shared with oneself');
    else if (userId === resource.ownerId) problems.add('userId', 'is the owner of the resource, who needs no share');
    const pointless = userId !== undefined && (userId === caller.user.id || userId === resource.ownerId);
    const asked = Array.isArray(input.actions) ? input.actions : [];
    if (asked.length === 0 || !asked.every((a): a is ShareAction => SHARE_ACTIONS.includes(a as ShareAction))) {
      problems.add('actions', `must be a non-empty list of ${SHARE_ACTIONS.join(', ')}`);
    }
    // Changing or deleting what one cannot read is useless (every call is a 404): read comes with them.
    const wanted = SHARE_ACTIONS.filter((a) => a === 'read' || asked.includes(a));
    problems.throwIfAny(pointless ? 'A resource cannot be shared with yourself or with its owner.' : undefined);
    const db = this.#d.database.db;
    const user = await db.selectFrom('users').select('id').where('id', '=', userId!).executeTakeFirst();
    if (!user) throw appError('INVALID_INPUT', 'userId must be an existing user.', { errors: [{ field: 'userId', message: 'is not a user' }] });
    const outcome = await db.transaction().execute(async (tx) => {
      // Under the resource's row lock, like every write of it: its events commit in order,
      // and the per-resource count cannot race. The recipient's count is serialised by a
      // lock of its own (shares of other resources with the same user).
      const locked = await this.#lock(tx, resource.id);
      await sql`SELECT pg_advisory_xact_lock(hashtext(${`resource_shares:${user.id}`}))`.execute(tx);
      const existing = await tx
        .selectFrom('resource_shares')
        .select('actions')
        .where('resource_id', '=', resource.id)
        .where('user_id', '=', user.id)
        .executeTakeFirst();
      if (!existing) await this.#assertShareCaps(tx, resource.id, locked.ownerId, user.id);
      const actions = SHARE_ACTIONS.filter((a) => wanted.includes(a) || existing?.actions.includes(a));
      // Sharing what is already shared changes nothing, and says nothing.
      if (existing && actions.length === existing.actions.length) return { changed: false, actions };
      // Only a share that will be made costs the recipient its cached grants: a refused one
      // must not let anyone make another user's requests reload them. Before the commit, so
      // no request can cache the grants as they were once the share exists (a failing cache
      // fails the share with nothing written).
      await this.#d.grants.invalidate([user.id]);
      await tx
        .insertInto('resource_shares')
        .values({ resource_id: resource.id, user_id: user.id, actions })
        .onConflict((oc) => oc.columns(['resource_id', 'user_id']).doUpdateSet({ actions }))
        .execute();
      await this.#d.outbox.write(tx, { topic: TOPIC.resourceShared, payload: { ...eventPayload(locked, caller), userId: user.id, actions } });
      return { changed: true, actions };
    });
    if (outcome.changed) this.#d.outbox.committed();
    this.#d.audit('resource.shared', { ...actor(caller), resourceId: resource.id, userId: user.id, actions: outcome.actions });
    return { userId: user.id, actions: outcome.actions };
  }

  /** Who the resource is shared with, oldest share first (owner or manager only). */
  async shares(principal: Principal | undefined, rawId: string): Promise<Share[]> {
    const caller = requireSignedIn(principal);
    const resource = await this.#visible(caller, rawId, 'read');
    this.#assertSharer(caller, resource);
    const rows = await this.#sharesOf(this.#d.database.db, resource.id);
    return rows.map((row) => ({ userId: row.user_id, actions: SHARE_ACTIONS.filter((a) => row.actions.includes(a)) }));
  }

  /**
   * Removes a share: its owner (or whoever may manage the resource) removes any, and the
   * recipient the one made to it (a recipient may not want what was shared).
   */
  async unshare(principal: Principal | undefined, rawId: string, rawUserId: string): Promise<void> {
    const caller = requireSignedIn(principal);
    const resource = await this.#visible(caller, rawId, 'read');
    const userId = canonicalId(rawUserId);
    if (userId !== caller.user.id) this.#assertSharer(caller, resource);
    const held = userId ? await this.#sharesOf(this.#d.database.db, resource.id, userId) : [];
    if (held.length === 0) throw appError('NOT_FOUND', 'The resource is not shared with this user.');
    await this.#d.grants.invalidate([userId!]);
    const removed = await this.#d.database.db.transaction().execute(async (tx) => {
      const locked = await this.#lock(tx, resource.id);
      const deleted = await tx.deleteFrom('resource_shares').where('resource_id', '=', resource.id).where('user_id', '=', userId!).executeTakeFirst();
      // A concurrent unshare already took it: one event for one change.
      if (Number(deleted.numDeletedRows) === 0) return false;
      await this.#d.outbox.write(tx, { topic: TOPIC.resourceUnshared, payload: { ...eventPayload(locked, caller), userId } });
      return true;
    });
    if (removed) this.#d.outbox.committed();
    this.#d.audit('resource.unshared', { ...actor(caller), resourceId: resource.id, userId });
  }

  /**
   * CONFLICT naming the cap when one more share would pass any (a new share only). The cap
   * per owner and recipient keeps the per-recipient cap from being a weapon: without it one
   * member could fill a victim's `maxSharesPerUser` alone, and then nobody could share with
   * the victim. Derived from that cap (a tenth), so it needs no setting of its own.
   */
  async #assertShareCaps(tx: Database['db'], resourceId: string, ownerId: string, userId: string): Promise<void> {
    const count = async (column: 'resource_id' | 'user_id', id: string) =>
      Number(
        (
          await tx
            .selectFrom('resource_shares')
            .select(sql<string>`count(*)`.as('n'))
            .where(column, '=', id)
            .executeTakeFirstOrThrow()
        ).n,
      );
    const { maxSharesPerResource, maxSharesPerUser } = this.#d;
    if ((await count('resource_id', resourceId)) >= maxSharesPerResource) {
      throw appError(
        'CONFLICT',
        `This resource is already shared with ${maxSharesPerResource} users, the most allowed (resources.maxSharesPerResource); remove a share first.`,
      );
    }
    if ((await count('user_id', userId)) >= maxSharesPerUser) {
      throw appError('CONFLICT', `This user has already received ${maxSharesPerUser} shares, the most allowed (resources.maxSharesPerUser).`);
    }
    const perOwner = sharesPerOwnerAndUser(maxSharesPerUser);
    const fromOwner = await tx
      .selectFrom('resource_shares')
      .innerJoin('resources', 'resources.id', 'resource_shares.resource_id')
      .select(sql<string>`count(*)`.as('n'))
      .where('resource_shares.user_id', '=', userId)
      .where('resources.owner_id', '=', ownerId)
      .executeTakeFirstOrThrow();
    if (Number(fromOwner.n) >= perOwner) {
      throw appError(
        'CONFLICT',
        `This user has already received ${perOwner} shares of this owner's resources, the most allowed from one owner (a tenth of resources.maxSharesPerUser); remove a share first.`,
      );
    }
  }

  // ---------------------------------------------------------------------------------------

  /** Runs a write in a transaction, through the idempotency store when a key is given. */
  async #write(
    caller: Principal,
    scope: string,
    request: unknown,
    options: WriteOptions,
    work: (tx: Database['db']) => Promise<{ status: number; body: ResourceView }>,
  ) {
    if (options.idempotencyKey === undefined) return { ...(await this.#d.database.db.transaction().execute(work)), replayed: false };
    const result = await this.#idempotency.run({ userId: caller.user.id, scope, key: options.idempotencyKey, request }, work);
    // An answer stored before revisions existed (migration 0005) has none; 0005 set each
    // resource's revision to its version, so the version is the revision it had.
    return result.replayed && result.body.revision === undefined ? { ...result, body: { ...result.body, revision: result.body.version } } : result;
  }

  /**
   * A change under the resource's row lock: concurrent writers serialise here, so versions
   * stay contiguous, and a precondition is compared with the locked, current row.
   */
  async #change(
    caller: Principal,
    id: string,
    expected: Precondition,
    options: WriteOptions,
    apply: (tx: Database['db'], locked: ResourceSummary) => Promise<ResourceView>,
  ): Promise<ResourceView> {
    await this.#d.cache.invalidate([resourceCacheKey(id)], INVALIDATION_HOLD_MS);
    const view = await this.#d.database.db.transaction().execute(async (tx) => {
      const locked = await this.#lock(tx, id);
      assertPrecondition(locked, expected);
      const changed = await apply(tx, locked);
      await this.#d.outbox.write(tx, { topic: TOPIC.resourceUpdated, payload: eventPayload(changed, caller), traceId: options.traceId });
      return changed;
    });
    this.#d.outbox.committed();
    await this.#forget(id);
    return view;
  }

  /** A change of the resource made elsewhere (its event arrived): this instance's cached copy goes. */
  async changedElsewhere(id: string): Promise<void> {
    await this.#d.cache.forgetCopies([resourceCacheKey(id)], INVALIDATION_HOLD_MS, true);
  }

  /**
   * After a commit, the marker again: a write that waited longer than the first marker's
   * hold (for the lock) could otherwise see a racing read cache the old row. Best effort.
   */
  async #forget(id: string): Promise<void> {
    await this.#d.cache.invalidate([resourceCacheKey(id)], INVALIDATION_HOLD_MS).catch(() => undefined);
  }

  /** The resource as it is under its row lock: what permission checks of a write must see. */
  async #lock(tx: Database['db'], id: string): Promise<ResourceSummary> {
    const locked = await tx.selectFrom('resources').select(SUMMARY_COLUMNS).where('resources.id', '=', id).forUpdate().executeTakeFirst();
    if (!locked) throw notFound();
    return summaryView(locked);
  }

  /** The resource if the caller may read it (NOT_FOUND otherwise, like a missing one); from the cache when warm. */
  async #readable(caller: Principal, rawId: string, action: Action): Promise<ResourceView> {
    const id = canonicalId(rawId);
    if (!id) throw notFound();
    const resource = await this.#load(id);
    if (!resource || !can(caller.ability, action, 'resource', resourceRecord(resource))) throw notFound();
    return resource;
  }

  /**
   * `#readable` without the document: for the calls that need only to know the resource is
   * there and readable (its history, a diff, its shares). A version of 1 MiB is not read,
   * parsed and measured for each of them.
   */
  async #visible(caller: Principal, rawId: string, action: Action): Promise<ResourceSummary> {
    const id = canonicalId(rawId);
    if (!id) throw notFound();
    const cached = await this.#d.cache.get<ResourceView | Invalidated>(resourceCacheKey(id));
    const resource =
      cached && !isInvalidated(cached) && typeof cached.revision === 'number'
        ? cached
        : await this.#d.database.db
            .selectFrom('resources')
            .select(SUMMARY_COLUMNS)
            .where('resources.id', '=', id)
            .executeTakeFirst()
            .then((row) => row && summaryView(row));
    if (!resource || !can(caller.ability, action, 'resource', resourceRecord(resource))) throw notFound();
    return resource;
  }

  async #load(id: string): Promise<ResourceView | undefined> {
    const key = resourceCacheKey(id);
    const cached = await this.#d.cache.get<ResourceView | Invalidated>(key);
    // An entry cached before revisions existed (an instance not yet upgraded, sharing Redis)
    // has none to serve as the ETag: read the row instead.
    if (cached && !isInvalidated(cached) && typeof cached.revision === 'number') return cached;
    const row = await this.#d.database.db
      .selectFrom('resources')
      .innerJoin('resource_versions', (join) =>
        join.onRef('resource_versions.resource_id', '=', 'resources.id').onRef('resource_versions.version', '=', 'resources.version'),
      )
      .select([...SUMMARY_COLUMNS, 'resource_versions.data'])
      .where('resources.id', '=', id)
      .executeTakeFirst();
    if (!row) return undefined;
    const view: ResourceView = { ...summaryView(row), data: row.data };
    // Only small documents are cached, and never over a fresh invalidation marker.
    if (!cached && jsonBytes(view.data) <= CACHEABLE_BYTES) await this.#d.cache.add(key, view, this.#d.cacheTtlMs);
    return view;
  }

  /** Version n of a resource (its data null unless `withData`); NOT_FOUND if there is none. */
  async #version(resourceId: string, n: number, withData = true): Promise<VersionView> {
    if (!Number.isInteger(n) || n < 1) throw appError('NOT_FOUND', 'No such version.');
    const row = await this.#d.database.db
      .selectFrom('resource_versions')
      .select(['version', withData ? 'data' : sql<unknown>`null`.as('data'), 'created_by', 'created_at'])
      .where('resource_id', '=', resourceId)
      .where('version', '=', n)
      .executeTakeFirst();
    if (!row) throw appError('NOT_FOUND', 'No such version.');
    return { version: row.version, data: row.data, createdBy: row.created_by, createdAt: iso(row.created_at) };
  }

  async #dataOf(tx: Database['db'], id: string, version: number): Promise<unknown> {
    const row = await tx.selectFrom('resource_versions').select('data').where('resource_id', '=', id).where('version', '=', version).executeTakeFirstOrThrow();
    return row.data;
  }

  #filtered(filters: ListFilters) {
    let query = this.#d.database.db.selectFrom('resources');
    if (filters.type !== undefined) query = query.where('resources.type', '=', filters.type);
    if (filters.ownerId !== undefined) {
      const owner = canonicalId(filters.ownerId);
      if (!owner) throw appError('INVALID_INPUT', 'ownerId must be a user id.', { errors: [{ field: 'ownerId', message: 'is not a uuid' }] });
      query = query.where('resources.owner_id', '=', owner);
    }
    if (filters.q !== undefined && filters.q !== '') {
      // Contains, case-insensitively; the user's text is a literal, not a pattern.
      const literal = filters.q.replace(/[\\%_]/g, (c) => `\\${c}`);
      query = query.where(sql<boolean>`resources.name ILIKE ${`%${literal}%`}`);
    }
    return query;
  }

  #assertSharer(caller: Principal, resource: ResourceSummary): void {
    if (resource.ownerId !== caller.user.id && !can(caller.ability, 'manage', 'resource', resourceRecord(resource))) {
      throw appError('FORBIDDEN', 'Only the owner or an administrator may share this resource.');
    }
  }

  #sharesOf(db: Database['db'], resourceId: string, userId?: string) {
    let query = db.selectFrom('resource_shares').select(['user_id', 'actions']).where('resource_id', '=', resourceId);
    if (userId) query = query.where('user_id', '=', userId);
    return query.orderBy('created_at').orderBy('user_id').execute();
  }

  async #shareHolders(resourceId: string, db: Database['db'] = this.#d.database.db): Promise<string[]> {
    return [...new Set((await this.#sharesOf(db, resourceId)).map((r) => r.user_id))];
  }
}

/**
 * Appends a version row and returns its data as the database stores it (jsonb orders object
 * keys its own way), so the answer to a write, its idempotent replays and later reads agree.
 */
async function appendVersion(tx: Database['db'], v: { resourceId: string; version: number; data: unknown; authorId: string; at: Date }): Promise<unknown> {
  const row = await tx
    .insertInto('resource_versions')
    .values({ id: newId(), resource_id: v.resourceId, version: v.version, data: JSON.stringify(v.data), created_by: v.authorId, created_at: v.at })
    .returning('data')
    .executeTakeFirstOrThrow();
  return row.data;
}

function assertMay(caller: Principal, action: 'update' | 'delete', resource: ResourceSummary): void {
  if (!can(caller.ability, action, 'resource', resourceRecord(resource))) throw appError('FORBIDDEN', `You may not ${action} this resource.`);
}

/**
 * PRECONDITION_FAILED, with the current ETag (its revision), when the resource is not where
 * the write expects it: an expected revision that is not the current one (whatever changed
 * since: name, metadata, data or owner), or an expected data version that is not current.
 */
function assertPrecondition(current: ResourceSummary, expected: Precondition): void {
  const etag = { headers: { etag: `"${current.revision}"` } };
  if (expected.revisions !== undefined && !expected.revisions.includes(current.revision)) {
    const wanted = expected.revisions.length === 0 ? 'none of the given tags' : expected.revisions.join(' or ');
    throw appError('PRECONDITION_FAILED', `The resource is at revision ${current.revision}, not ${wanted}: it changed since.`, etag);
  }
  if (expected.version !== undefined && expected.version !== current.version) {
    throw appError('PRECONDITION_FAILED', `The resource is at version ${current.version}, not ${expected.version}.`, etag);
  }
}

function eventPayload(resource: ResourceSummary, caller: Principal): ResourceEventPayload {
  return { ...resourceRecord(resource), version: resource.version, actorId: caller.user.id };
}

const encodeVersionCursor = (version: number): string => Buffer.from(`v${version}`).toString('base64url');

function decodeVersionCursor(cursor: string): number {
  const text = cursor.length <= 32 ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const version = /^v([1-9][0-9]{0,9})$/.exec(text)?.[1];
  if (!version) throw appError('INVALID_INPUT', 'The cursor is invalid.', { errors: [{ field: 'cursor', message: 'is not a cursor this API issued' }] });
  return Number(version);
}
