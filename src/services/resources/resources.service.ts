import type { Operation } from 'rfc6902';
import { appError } from '../../core/errors.js';
import { canonicalId, newId } from '../../core/ids.js';
import type { Database } from '../../infra/database/index.js';
import { accessFilter, can, type AccessFilter, type AppAbility } from '../access/index.js';
import { actor, type Audit } from '../auth/audit.js';
import type { Principal } from '../auth/principals.js';
import { signedIn, type ServiceContext } from '../context.js';
import { TOPIC, type ResourceEventPayload } from '../events/catalog.js';
import { resourceCacheKey } from '../shared/cache-keys.js';
import { IdempotencyStore } from '../shared/idempotency.js';
import { decodeVersionCursor, pageBounds, toPage, toVersionPage, type Page, type PageRequest } from '../shared/pagination.js';
import { INVALIDATION_HOLD_MS, type TolerantCache } from '../shared/tolerant-cache.js';
import type { ChangeEffects, UnitOfWork } from '../shared/unit-of-work.js';
import type { SharesService } from '../shares/shares.service.js';
import { noSuchVersion, validNumber, type VersionDiffs } from './diffs.js';
import { validateListFilters, validateNewResource, validateResourcePatch } from './input.js';
import {
  eventPayload,
  resourceRecord,
  type ListFilters,
  type Precondition,
  type ResourceSummary,
  type ResourceView,
  type VersionSummary,
  type VersionView,
  type WriteOptions,
} from './model.js';
import { assertVersionRoom, chargeStorage, makeRoom, nameBytes, pickSlot, quotaExceeded, resourceRowBytes, storedBytes, versionBytes } from './quota.js';
import { noSuchResource, type ResourceReads } from './reads.js';
import * as repo from './repository.js';

export interface ResourcesDeps {
  database: Database;
  unitOfWork: UnitOfWork;
  reads: ResourceReads;
  diffs: VersionDiffs;
  shares: SharesService;
  /** The resources' cache, for the changes other instances make. */
  cache: TolerantCache;
  audit: Audit;
  maxDataBytes: number;
  /** `resources.maxVersions`: most versions one resource may have. */
  maxVersions: number;
  /** `quotas.storageBytesPerUser`: bytes the resources of one owner may hold (0 = unlimited). */
  storageQuotaBytes: number;
}

type Tx = Database['db'];

/** An ability's read filter and, unless it reads nothing, its list statements. */
interface Readable {
  filter: AccessFilter;
  list: repo.SummaryList | undefined;
}

/** The list's filters, validated, with the owner's id in canonical form. */
function listFilterValues(filters: ListFilters): repo.ListFilterValues {
  validateListFilters(filters);
  let ownerId: string | undefined;
  if (filters.ownerId !== undefined) {
    ownerId = canonicalId(filters.ownerId);
    if (!ownerId) throw appError('INVALID_INPUT', 'ownerId must be a user id.', { errors: [{ field: 'ownerId', message: 'is not a uuid' }] });
  }
  return { type: filters.type, ownerId, q: filters.q };
}

/**
 * Versioned resources (DESIGN §5 "Resources"): typed JSON documents whose data has an
 * immutable, gapless version history. The rules live here (access, quotas, preconditions,
 * idempotency); the SQL in repository.ts. Every change commits with its version row and its
 * outbox event; concurrent writers serialise on the resource's row lock.
 */
export class ResourcesService {
  readonly #d: ResourcesDeps;
  readonly #idempotency: IdempotencyStore;
  /** Each ability's read filter and list statements, compiled once: abilities are cached and never change. */
  readonly #readable = new WeakMap<AppAbility, Readable>();

  /** Sharing resources with other users: a service of its own, reached here by the transports. */
  readonly shares: SharesService;

  constructor(deps: ResourcesDeps) {
    this.#d = deps;
    this.shares = deps.shares;
    this.#idempotency = new IdempotencyStore(deps.database);
  }

  async create(ctx: ServiceContext, input: Record<string, unknown>, options: WriteOptions = {}): Promise<ResourceView & { replayed: boolean }> {
    const { principal: caller } = signedIn(ctx);
    const fields = validateNewResource(input, this.#d.maxDataBytes);
    const at = new Date();
    const id = newId();
    const record = { id, ownerId: caller.user.id, name: fields.name, type: fields.type, createdAt: at.toISOString(), metadata: fields.metadata };
    if (!can(caller.ability, 'create', 'resource', record)) throw appError('FORBIDDEN', `You may not create resources of type ${fields.type}.`);
    const event: ResourceEventPayload = { ...record, version: 1, actorId: caller.user.id };
    const bytes = resourceRowBytes(fields.name, fields.metadataBytes) + versionBytes(fields.dataBytes);
    const quota = this.#d.storageQuotaBytes;
    const slot = pickSlot();
    const insert = (db: Tx, eventId: string) =>
      repo.insertWithFirstVersion(db, { ...fields, id, ownerId: caller.user.id, bytes, quota, slot, at, eventId, event, traceId: ctx.traceId });
    // In a transaction, a slot without room is given some (or the quota refuses), and the
    // same statement runs again under the slots' locks.
    const work = async (tx: Tx, eventId: string, slotFull = false) => {
      let view = slotFull ? undefined : await insert(tx, eventId);
      if (!view) {
        await makeRoom(tx, caller.user.id, slot, bytes, quota);
        view = await insert(tx, eventId);
      }
      if (!view) throw await quotaExceeded(tx, caller.user.id, bytes, quota);
      return { status: 201, body: view };
    };
    // Without an Idempotency-Key the one statement needs no transaction of its own, unless
    // its slot has no room.
    if (options.idempotencyKey === undefined) {
      const view =
        (await this.#d.unitOfWork.statement((db, effects) => insert(db, effects.eventId()))) ??
        (await this.#d.unitOfWork.run(ctx, (tx, effects) => work(tx, effects.eventId(), true))).body;
      return { ...view, replayed: false };
    }
    const result = await this.#idempotent(ctx, caller, 'POST /resources', { input }, options.idempotencyKey, (tx, effects) => work(tx, effects.eventId()));
    return { ...result.body, replayed: result.replayed };
  }

  /** A resource with its current data; NOT_FOUND when missing or not readable. */
  async get(ctx: ServiceContext, rawId: string): Promise<ResourceView> {
    return this.#d.reads.readable(signedIn(ctx).principal, rawId, 'read');
  }

  /**
   * The current data of resources the caller has already read (a list's items), one query
   * per batch. Ids it may not read are skipped.
   */
  async currentData(ctx: ServiceContext, resources: readonly ResourceSummary[]): Promise<Map<string, unknown>> {
    const { principal: caller } = signedIn(ctx);
    // The data of the version each summary shows, not of whatever is current by now.
    const readable = resources.filter((r) => can(caller.ability, 'read', 'resource', resourceRecord(r)));
    return repo.dataOfVersions(this.#d.database.db, readable);
  }

  /** A page of readable resources, filtered and permission-checked in one SQL statement. */
  async list(ctx: ServiceContext, filters: ListFilters): Promise<Page<ResourceSummary>> {
    const { principal: caller } = signedIn(ctx);
    const { limit, after } = pageBounds(filters);
    const values = listFilterValues(filters);
    const { list } = this.#readableBy(caller);
    if (!list) return { items: [], nextCursor: null };
    return toPage(await list.page(this.#d.database.db, values, limit + 1, after), limit, (r) => r);
  }

  async count(ctx: ServiceContext, filters: ListFilters): Promise<number> {
    const { principal: caller } = signedIn(ctx);
    const values = listFilterValues(filters);
    const { filter } = this.#readableBy(caller);
    if (filter.kind === 'none') return 0;
    const where = repo.filterConditions(values);
    if (filter.kind === 'where') where.push(filter.expression);
    return repo.countMatching(this.#d.database.db, where);
  }

  /**
   * Changes name, metadata and/or data. New data appends version n+1; name and metadata
   * alone change the resource without a version. Every change bumps the revision. A
   * precondition (If-Match) the resource no longer meets is PRECONDITION_FAILED. New data
   * past the version cap, or bytes past the owner's quota, are UNPROCESSABLE_ENTITY.
   */
  async update(ctx: ServiceContext, rawId: string, input: Record<string, unknown>, expected: Precondition = {}): Promise<ResourceView> {
    const { principal: caller } = signedIn(ctx);
    const patch = validateResourcePatch(input, this.#d.maxDataBytes);
    const unchanged = patch.name === undefined && patch.metadata === undefined && patch.data === undefined;
    // The document is read only to answer a change that changes nothing; a change itself
    // needs the summary (a 1 MiB current version is not read to be replaced).
    const current = unchanged ? await this.#d.reads.readable(caller, rawId, 'read') : await this.#d.reads.visible(caller, rawId, 'read');
    const renamed = (r: ResourceSummary): ResourceSummary => ({
      ...r,
      ...(patch.name !== undefined ? { name: patch.name } : {}),
      ...(patch.metadata !== undefined ? { metadata: patch.metadata } : {}),
    });
    if (!can(caller.ability, 'update', 'resource', resourceRecord(current)) || !can(caller.ability, 'update', 'resource', resourceRecord(renamed(current)))) {
      throw appError('FORBIDDEN', 'You may not change this resource.');
    }
    // Nothing to change: no write, no event; the precondition still holds or fails.
    if (unchanged) {
      assertPrecondition(current, expected);
      return current as ResourceView;
    }
    return this.#d.unitOfWork.run(ctx, async (tx, effects) => {
      const locked = await this.#lockForChange(tx, effects, current.id, expected);
      // Checked again on the locked row: a concurrent change to name or metadata may have
      // moved the resource out of (or the change into) what the caller may update.
      assertMay(caller, 'update', locked);
      assertMay(caller, 'update', renamed(locked));
      if (patch.data !== undefined) assertVersionRoom(locked.version, this.#d.maxVersions);
      // New data adds a version; a new name or metadata replaces the old (not versioned).
      const bytes =
        (patch.data !== undefined ? versionBytes(patch.dataBytes) : 0) +
        (patch.metadata !== undefined ? patch.metadataBytes - storedBytes(locked.metadata) : 0) +
        (patch.name !== undefined ? nameBytes(patch.name) - nameBytes(locked.name) : 0);
      await chargeStorage(tx, locked.ownerId, bytes, this.#d.storageQuotaBytes);
      const at = new Date();
      const version = patch.data !== undefined ? locked.version + 1 : locked.version;
      const summary = await repo.updateResource(tx, locked.id, {
        name: patch.name,
        metadata: patch.metadata,
        version,
        revision: locked.revision + 1,
        bytes,
        at,
      });
      const data =
        patch.data !== undefined
          ? await repo.appendVersion(tx, { resourceId: locked.id, version, data: patch.data, authorId: caller.user.id, at })
          : (await repo.findVersion(tx, locked.id, version))!.data;
      await effects.emit({ topic: TOPIC.resourceUpdated, payload: eventPayload(summary, caller.user.id) });
      return { ...summary, data };
    });
  }

  /** Appends a version whose data equals version n (itself immutable). */
  async restore(ctx: ServiceContext, rawId: string, n: number, options: WriteOptions = {}): Promise<ResourceView & { replayed: boolean }> {
    const { principal: caller } = signedIn(ctx);
    const current = await this.#d.reads.visible(caller, rawId, 'read');
    if (!can(caller.ability, 'update', 'resource', resourceRecord(current))) throw appError('FORBIDDEN', 'You may not change this resource.');
    const source = validNumber(n) ? await repo.findVersion(this.#d.database.db, current.id, n) : undefined;
    if (!source) throw noSuchVersion();
    const work = async (tx: Tx, effects: ChangeEffects) => {
      const locked = await this.#lockForChange(tx, effects, current.id, {});
      assertMay(caller, 'update', locked);
      assertVersionRoom(locked.version, this.#d.maxVersions);
      // A restored version is a new version: its bytes and its row count again.
      const bytes = versionBytes(storedBytes(source.data));
      await chargeStorage(tx, locked.ownerId, bytes, this.#d.storageQuotaBytes);
      const at = new Date();
      const version = locked.version + 1;
      const summary = await repo.updateResource(tx, locked.id, { version, revision: locked.revision + 1, bytes, at });
      const data = await repo.appendVersion(tx, { resourceId: locked.id, version, data: source.data, authorId: caller.user.id, at });
      await effects.emit({ topic: TOPIC.resourceRestored, payload: { ...eventPayload(summary, caller.user.id), restoredFrom: n } });
      return { status: 200, body: { ...summary, data } satisfies ResourceView };
    };
    const result =
      options.idempotencyKey === undefined
        ? { ...(await this.#d.unitOfWork.run(ctx, work)), replayed: false }
        : await this.#idempotent(ctx, caller, `POST /resources/${current.id}/restore`, { n }, options.idempotencyKey, work);
    return { ...result.body, replayed: result.replayed };
  }

  /** Deletes a resource with its versions and shares; an outbox event records it. */
  async delete(ctx: ServiceContext, rawId: string): Promise<void> {
    const { principal: caller } = signedIn(ctx);
    const current = await this.#d.reads.visible(caller, rawId, 'read');
    if (!can(caller.ability, 'delete', 'resource', resourceRecord(current))) throw appError('FORBIDDEN', 'You may not delete this resource.');
    await this.#d.unitOfWork.run(ctx, async (tx, effects) => {
      const locked = await this.#lockForChange(tx, effects, current.id, {});
      assertMay(caller, 'delete', locked);
      // The resource and its holders as they are when it goes (no share comes under the lock):
      // their grants named it.
      const holders = await repo.shareHolders(tx, current.id);
      await effects.invalidateGrantsNow(holders);
      const gone = await repo.deleteResource(tx, current.id);
      // Its history goes with it: the owner gets those bytes back.
      await chargeStorage(tx, gone.ownerId, -gone.storageBytes, this.#d.storageQuotaBytes);
      await effects.emit({ topic: TOPIC.resourceDeleted, payload: { ...eventPayload(locked, caller.user.id), sharedWith: holders } });
    });
    this.#d.audit('resource.deleted', { ...actor(caller), resourceId: current.id });
  }

  /** The version history, newest first, without data. */
  async versions(ctx: ServiceContext, rawId: string, page: PageRequest): Promise<Page<VersionSummary>> {
    const { principal: caller } = signedIn(ctx);
    const resource = await this.#d.reads.visible(caller, rawId, 'read');
    const limit = pageBounds({ limit: page.limit }).limit;
    const before = page.cursor === undefined ? undefined : decodeVersionCursor(page.cursor);
    return toVersionPage(await repo.versionsBefore(this.#d.database.db, resource.id, limit + 1, before), limit);
  }

  async version(ctx: ServiceContext, rawId: string, n: number): Promise<VersionView> {
    const { principal: caller } = signedIn(ctx);
    const resource = await this.#d.reads.visible(caller, rawId, 'read');
    const found = validNumber(n) ? await repo.findVersion(this.#d.database.db, resource.id, n) : undefined;
    if (!found) throw noSuchVersion();
    return found;
  }

  /**
   * RFC 6902 JSON Patch that turns version `from` into version `to`, within the diff's work
   * and size limits (UNPROCESSABLE_ENTITY past them, see diff.ts and diffs.ts).
   */
  async diff(ctx: ServiceContext, rawId: string, from: number, to: number): Promise<Operation[]> {
    const { principal: caller } = signedIn(ctx);
    const resource = await this.#d.reads.visible(caller, rawId, 'read');
    return this.#d.diffs.between(resource.id, from, to);
  }

  /** Retention: forgets the Idempotency-Keys past their lifetime (the worker's job); resolves with how many. */
  purgeExpiredIdempotencyKeys(): Promise<number> {
    return this.#idempotency.purgeExpired();
  }

  /** A change of the resource made elsewhere (its event arrived): this instance's cached copy goes. */
  async changedElsewhere(id: string): Promise<void> {
    await this.#d.cache.forgetCopies([resourceCacheKey(id)], INVALIDATION_HOLD_MS, true);
  }

  // ---------------------------------------------------------------------------------------

  /** What the caller may read, as SQL: its access filter and the list statements built on it. */
  #readableBy(caller: Principal): Readable {
    let readable = this.#readable.get(caller.ability);
    if (!readable) {
      const filter = accessFilter(caller.ability, 'read', 'resource');
      const list = filter.kind === 'none' ? undefined : new repo.SummaryList(filter.kind === 'where' ? filter.expression : undefined);
      readable = { filter, list };
      this.#readable.set(caller.ability, readable);
    }
    return readable;
  }

  /**
   * The resource under its row lock, where concurrent writers serialise (so versions stay
   * contiguous) and a precondition is compared with the current row. Its cached copy is
   * invalidated before the change commits: a resource changed on one instance must read as
   * changed on every other at once.
   */
  async #lockForChange(tx: Tx, effects: ChangeEffects, id: string, expected: Precondition): Promise<ResourceSummary> {
    await effects.invalidateNow([resourceCacheKey(id)]);
    const locked = await repo.lockSummary(tx, id);
    if (!locked) throw noSuchResource();
    assertPrecondition(locked, expected);
    return locked;
  }

  /** A write through the idempotency store: a retry with the same key and request gets the first answer. */
  async #idempotent(
    ctx: ServiceContext,
    caller: Principal,
    scope: string,
    request: unknown,
    key: string,
    work: (tx: Tx, effects: ChangeEffects) => Promise<{ status: number; body: ResourceView }>,
  ) {
    let effects: ChangeEffects | undefined;
    const result = await this.#idempotency.run(
      { userId: caller.user.id, scope, key, request },
      (tx) => work(tx, effects!),
      (body) =>
        this.#d.unitOfWork.run(ctx, (tx, e) => {
          effects = e;
          return body(tx);
        }),
    );
    // An answer stored before revisions existed (migration 0005) has none; 0005 set each
    // resource's revision to its version, so the version is the revision it had.
    return result.replayed && result.body.revision === undefined ? { ...result, body: { ...result.body, revision: result.body.version } } : result;
  }
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
