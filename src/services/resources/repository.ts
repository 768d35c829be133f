import { CompiledQuery, sql, type Expression, type SqlBool } from 'kysely';
import { newId } from '../../core/ids.js';
import { prepared, type Database } from '../../infra/database/index.js';
import type { ShareAction } from '../access/index.js';
import { TOPIC, type ResourceEventPayload } from '../events/catalog.js';
import { iso } from '../shared/views.js';
import type { ResourceSummary, ResourceView, VersionSummary, VersionView } from './model.js';
import { slotCharge } from './quota.js';

/**
 * Every SQL statement on `resources`, `resource_versions` and `resource_shares`, so what a
 * request costs the database is read in one place. Each function is one statement; the
 * services around it hold the rules (access, quotas, preconditions) and choose whether it
 * runs alone or in a transaction (`db` is then the transaction).
 */
type Db = Database['db'];

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

function summaryOf(row: SummaryRow): ResourceSummary {
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

// --- resources --------------------------------------------------------------------------

/** The resource without its data. */
export async function findSummary(db: Db, id: string): Promise<ResourceSummary | undefined> {
  const row = await db.selectFrom('resources').select(SUMMARY_COLUMNS).where('resources.id', '=', id).executeTakeFirst();
  return row && summaryOf(row);
}

/** The resource with its current version's data, in one statement. */
export async function findWithData(db: Db, id: string): Promise<ResourceView | undefined> {
  const query = db
    .selectFrom('resources')
    .innerJoin('resource_versions', (join) =>
      join.onRef('resource_versions.resource_id', '=', 'resources.id').onRef('resource_versions.version', '=', 'resources.version'),
    )
    .select([...SUMMARY_COLUMNS, 'resource_versions.data'])
    .where('resources.id', '=', id);
  const row = (await db.executeQuery(prepared('resource-get', query))).rows[0];
  return row && { ...summaryOf(row), data: row.data };
}

/** The resource under its row lock until the transaction ends: what a write's checks must see. */
export async function lockSummary(tx: Db, id: string): Promise<ResourceSummary | undefined> {
  const row = await tx.selectFrom('resources').select(SUMMARY_COLUMNS).where('resources.id', '=', id).forUpdate().executeTakeFirst();
  return row && summaryOf(row);
}

export interface NewResource {
  id: string;
  ownerId: string;
  name: string;
  type: string;
  metadata: Record<string, unknown>;
  data: unknown;
  /** Bytes charged to the owner: the resource's row and its version 1. */
  bytes: number;
  /** The owner's quota (0 = unlimited). */
  quota: number;
  /** The slot of the owner's count charged (quota.ts). */
  slot: number;
  at: Date;
  /** The outbox row of `resource.created`. */
  eventId: string;
  event: ResourceEventPayload;
  traceId: string | undefined;
}

/**
 * The owner's storage charge, the resource, its version 1 and its outbox event in ONE
 * statement (data-modifying CTEs): atomic without BEGIN/COMMIT, one round trip instead of
 * six. When the charged slot has no room (the owner may still be under its quota: see
 * `makeRoom`), the charge updates no row, so nothing else is written either: undefined then.
 */
export async function insertWithFirstVersion(db: Db, r: NewResource): Promise<ResourceView | undefined> {
  const statement = sql<SummaryRow & { data: unknown }>`
    WITH u AS (${slotCharge(r.ownerId, r.slot, r.bytes, r.quota)}), r AS (
      INSERT INTO resources (id, owner_id, name, type, metadata, version, revision, storage_bytes, created_at, updated_at)
      SELECT ${r.id}, u.user_id, ${r.name}, ${r.type}, ${JSON.stringify(r.metadata)}::jsonb, 1, 1, ${r.bytes}::bigint, ${r.at}, ${r.at} FROM u
      RETURNING id, owner_id, name, type, metadata, version, revision, created_at, updated_at
    ), v AS (
      INSERT INTO resource_versions (id, resource_id, version, data, created_by, created_at)
      SELECT ${newId()}, r.id, 1, ${JSON.stringify(r.data)}::jsonb, ${r.ownerId}, ${r.at} FROM r
      RETURNING data
    ), o AS (
      INSERT INTO outbox (id, topic, aggregate_type, aggregate_id, payload, trace_id)
      SELECT ${r.eventId}, ${TOPIC.resourceCreated}, 'resource', r.id, ${JSON.stringify(r.event)}::jsonb, ${r.traceId ?? null} FROM r
    )
    SELECT r.*, v.data FROM r, v`;
  const { rows } = await db.executeQuery(prepared('resource-create', statement.compile(db)));
  const row = rows[0];
  return row && { ...summaryOf(row), data: row.data };
}

export interface ResourceChange {
  name?: string | undefined;
  metadata?: Record<string, unknown> | undefined;
  version: number;
  revision: number;
  /** Bytes the change adds to the resource's count (negative: frees). */
  bytes: number;
  at: Date;
}

/** Writes a change of the resource's own row. */
export async function updateResource(tx: Db, id: string, change: ResourceChange): Promise<ResourceSummary> {
  const row = await tx
    .updateTable('resources')
    .set({
      ...(change.name !== undefined ? { name: change.name } : {}),
      ...(change.metadata !== undefined ? { metadata: JSON.stringify(change.metadata) } : {}),
      version: change.version,
      revision: change.revision,
      // greatest(): history written before migration 0005 was counted a little larger.
      storage_bytes: sql<string>`greatest(storage_bytes + ${change.bytes}::bigint, 0)`,
      updated_at: change.at,
    })
    .where('id', '=', id)
    .returning(SUMMARY_COLUMNS)
    .executeTakeFirstOrThrow();
  return summaryOf(row);
}

/** Deletes the resource (its versions and shares go with it); what its owner gets back. */
export async function deleteResource(tx: Db, id: string): Promise<{ ownerId: string; storageBytes: number }> {
  const gone = await tx.deleteFrom('resources').where('id', '=', id).returning(['owner_id', 'storage_bytes']).executeTakeFirstOrThrow();
  return { ownerId: gone.owner_id, storageBytes: Number(gone.storage_bytes) };
}

/** What a list filters on, besides access (values already validated). */
export interface ListFilterValues {
  type?: string | undefined;
  ownerId?: string | undefined;
  q?: string | undefined;
}

/**
 * timestamptz as text in `toISOString()`'s form: the drivers hand JavaScript a Date
 * truncated to milliseconds, and `MS` truncates the same way, so a list reads what a get does.
 */
const isoText = (column: 'created_at' | 'updated_at') =>
  sql<string>`to_char(${sql.ref(`resources.${column}`)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** The summary's columns under the view's names: each row is a `ResourceSummary` as read. */
const LIST_COLUMNS = [
  'resources.id',
  'resources.owner_id as ownerId',
  'resources.name',
  'resources.type',
  'resources.metadata',
  'resources.version',
  'resources.revision',
  isoText('created_at').as('createdAt'),
  isoText('updated_at').as('updatedAt'),
] as const;

/**
 * The list statement of one access filter (undefined: it reads every row). A page is
 * requested often with the same filters present, so the statement is built and compiled
 * once per filter shape and then run with the request's values: no query builder, no SQL
 * compilation, no row mapping per request. The request's values are the statement's first
 * parameters and the limit its last; the access filter's, constant, lie in between. Only the
 * SQL text and those constants are kept (at most 16 shapes, about 1 KB each, per ability).
 */
export class SummaryList {
  readonly #access: Expression<SqlBool> | undefined;
  readonly #statements = new Map<number, ListStatement>();

  constructor(access: Expression<SqlBool> | undefined) {
    this.#access = access;
  }

  /** `limit` rows after `after` in id order. */
  async page(db: Db, filters: ListFilterValues, limit: number, after: string | undefined): Promise<ResourceSummary[]> {
    const values = filterValues(filters);
    let shape = values.shape;
    if (after !== undefined) {
      values.parameters.push(after);
      shape |= AFTER;
    }
    let statement = this.#statements.get(shape);
    if (!statement) {
      statement = this.#compile(db, filters, limit, after, values.parameters);
      this.#statements.set(shape, statement);
    }
    const parameters = [...values.parameters, ...statement.access, limit];
    return (await db.executeQuery(CompiledQuery.raw(statement.sql, parameters) as CompiledQuery<ResourceSummary>)).rows;
  }

  #compile(db: Db, filters: ListFilterValues, limit: number, after: string | undefined, leading: readonly unknown[]): ListStatement {
    let query = db.selectFrom('resources').select(LIST_COLUMNS).orderBy('resources.id').limit(limit);
    for (const condition of filterConditions(filters)) query = query.where(condition);
    if (after !== undefined) query = query.where('resources.id', '>', after);
    if (this.#access) query = query.where(this.#access);
    const { sql: text, parameters: p } = query.compile();
    // The layout page() relies on; a change of the builder above that breaks it fails here, at once.
    if (p.length < leading.length + 1 || leading.some((v, i) => p[i] !== v) || p[p.length - 1] !== limit) {
      throw new Error('resources: the list statement does not lead with its filter values and end with its limit');
    }
    return { sql: text, access: p.slice(leading.length, -1) };
  }
}

interface ListStatement {
  sql: string;
  /** The access filter's parameters, between the request's values and the limit. */
  access: readonly unknown[];
}

const TYPE = 1;
const OWNER = 2;
const NAME = 4;
const AFTER = 8;

/** The filters' parameters, in the order filterConditions writes them, and which are present. */
function filterValues(filters: ListFilterValues): { shape: number; parameters: unknown[] } {
  const parameters: unknown[] = [];
  let shape = 0;
  if (filters.type !== undefined) {
    parameters.push(filters.type);
    shape |= TYPE;
  }
  if (filters.ownerId !== undefined) {
    parameters.push(filters.ownerId);
    shape |= OWNER;
  }
  if (filters.q !== undefined && filters.q !== '') {
    parameters.push(namePattern(filters.q));
    shape |= NAME;
  }
  return { shape, parameters };
}

/** Contains, case-insensitively: the user's text is a literal, not a pattern. */
function namePattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * The first `limit` resources (in id order) this filter matches, `undefined` meaning every
 * one: walking the primary key and stopping at `limit`, whatever the table holds.
 */
/**
 * The first `limit` resources a filter matches, newest first, among the newest `window`
 * resources only: the filter is applied to a bounded slice of the primary key, so a condition
 * that matches nothing costs `window` rows, not the whole table. The slice is named
 * `resources`, so a filter compiled against the table applies to it unchanged.
 */
export function summariesMatching(db: Db, where: Expression<SqlBool> | undefined, limit: number, window: number): Promise<ResourceSummary[]> {
  const newest = db.selectFrom('resources').selectAll().orderBy('id', 'desc').limit(window).as('resources');
  let query = db.selectFrom(newest).select(LIST_COLUMNS).orderBy('resources.id', 'desc').limit(limit);
  if (where) query = query.where(where);
  return query.execute();
}

/** Whether the table holds more than `n` resources (reads at most n + 1 keys). */
export async function moreResourcesThan(db: Db, n: number): Promise<boolean> {
  const first = db
    .selectFrom('resources')
    .select('id')
    .limit(n + 1)
    .as('first');
  const row = await db
    .selectFrom(first)
    .select(sql<string>`count(*)`.as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n) > n;
}

export async function countMatching(db: Db, where: readonly Expression<SqlBool>[]): Promise<number> {
  let query = db.selectFrom('resources').select(sql<string>`count(*)`.as('n'));
  for (const condition of where) query = query.where(condition);
  return Number((await query.executeTakeFirstOrThrow()).n);
}

/** The list filters as conditions on `resources` (values already validated), their parameters in filterValues' order. */
export function filterConditions(filters: ListFilterValues): Expression<SqlBool>[] {
  const where: Expression<SqlBool>[] = [];
  if (filters.type !== undefined) where.push(sql<SqlBool>`resources.type = ${filters.type}`);
  if (filters.ownerId !== undefined) where.push(sql<SqlBool>`resources.owner_id = ${filters.ownerId}`);
  if (filters.q !== undefined && filters.q !== '') where.push(sql<SqlBool>`resources.name ILIKE ${namePattern(filters.q)}`);
  return where;
}

// --- versions ---------------------------------------------------------------------------

/** Version n (its data null unless `withData`). */
export async function findVersion(db: Db, resourceId: string, n: number, withData = true): Promise<VersionView | undefined> {
  const row = await db
    .selectFrom('resource_versions')
    .select(['version', withData ? 'data' : sql<unknown>`null`.as('data'), 'created_by', 'created_at'])
    .where('resource_id', '=', resourceId)
    .where('version', '=', n)
    .executeTakeFirst();
  return row && { version: row.version, data: row.data, createdBy: row.created_by, createdAt: iso(row.created_at) };
}

/** `limit` versions before `before` (all when undefined), newest first, without data. */
export async function versionsBefore(db: Db, resourceId: string, limit: number, before: number | undefined): Promise<VersionSummary[]> {
  let query = db
    .selectFrom('resource_versions')
    .select(['version', 'created_by', 'created_at'])
    .where('resource_id', '=', resourceId)
    .orderBy('version', 'desc')
    .limit(limit);
  if (before !== undefined) query = query.where('version', '<', before);
  return (await query.execute()).map((r) => ({ version: r.version, createdBy: r.created_by, createdAt: iso(r.created_at) }));
}

/** The data of one version of each resource, in one statement. */
export async function dataOfVersions(db: Db, wanted: readonly { id: string; version: number }[]): Promise<Map<string, unknown>> {
  if (wanted.length === 0) return new Map();
  const rows = await db
    .selectFrom('resource_versions')
    .select(['resource_id', 'data'])
    .where((eb) => eb.or(wanted.map((r) => eb.and([eb('resource_id', '=', r.id), eb('version', '=', r.version)]))))
    .execute();
  return new Map(rows.map((r) => [r.resource_id, r.data]));
}

/**
 * Appends a version row and returns its data as the database stores it (jsonb orders object
 * keys its own way), so the answer to a write, its idempotent replays and later reads agree.
 */
export async function appendVersion(tx: Db, v: { resourceId: string; version: number; data: unknown; authorId: string; at: Date }): Promise<unknown> {
  const row = await tx
    .insertInto('resource_versions')
    .values({ id: newId(), resource_id: v.resourceId, version: v.version, data: JSON.stringify(v.data), created_by: v.authorId, created_at: v.at })
    .returning('data')
    .executeTakeFirstOrThrow();
  return row.data;
}

// --- shares -----------------------------------------------------------------------------

export interface ShareRow {
  user_id: string;
  actions: string[];
}

/** A resource's shares (or its share with one user), oldest first. */
export function sharesOf(db: Db, resourceId: string, userId?: string): Promise<ShareRow[]> {
  let query = db.selectFrom('resource_shares').select(['user_id', 'actions']).where('resource_id', '=', resourceId);
  if (userId) query = query.where('user_id', '=', userId);
  return query.orderBy('created_at').orderBy('user_id').execute();
}

/** The users a resource is shared with. */
export async function shareHolders(db: Db, resourceId: string): Promise<string[]> {
  const rows = await db.selectFrom('resource_shares').select('user_id').where('resource_id', '=', resourceId).execute();
  return [...new Set(rows.map((r) => r.user_id))];
}

/** Shares a user has received by the end of the transaction are counted under this lock alone. */
export async function lockRecipient(tx: Db, userId: string): Promise<void> {
  await sql`SELECT pg_advisory_xact_lock(hashtext(${`resource_shares:${userId}`}))`.execute(tx);
}

/** A user as a share names it: its id, and the email and name a UI shows. */
export interface UserContact {
  id: string;
  email: string;
  name: string;
}

/** The user with this (canonical) id, or undefined. */
export function userById(db: Db, userId: string): Promise<UserContact | undefined> {
  return db.selectFrom('users').select(['id', 'email', 'name']).where('id', '=', userId).executeTakeFirst();
}

/** The user with this (normalised) email, by the unique index on lower(email) that sign-in uses; or undefined. */
export function userByEmail(db: Db, email: string): Promise<UserContact | undefined> {
  return db
    .selectFrom('users')
    .select(['id', 'email', 'name'])
    .where(sql<string>`lower(email)`, '=', email)
    .executeTakeFirst();
}

/** A resource's shares with each grantee's name, oldest first. */
export function sharesWithGrantees(db: Db, resourceId: string): Promise<(ShareRow & { name: string })[]> {
  return db
    .selectFrom('resource_shares')
    .innerJoin('users', 'users.id', 'resource_shares.user_id')
    .select(['resource_shares.user_id', 'resource_shares.actions', 'users.name'])
    .where('resource_shares.resource_id', '=', resourceId)
    .orderBy('resource_shares.created_at')
    .orderBy('resource_shares.user_id')
    .execute();
}

/** How many users a resource is shared with, how many shares a user has received, and how many of those from one owner. */
export async function shareCounts(
  tx: Db,
  resourceId: string,
  userId: string,
  ownerId: string,
): Promise<{ ofResource: number; toUser: number; fromOwner: number }> {
  const row = await tx
    .selectNoFrom((eb) => [
      eb
        .selectFrom('resource_shares')
        .select(sql<string>`count(*)`.as('n'))
        .where('resource_id', '=', resourceId)
        .as('of_resource'),
      eb
        .selectFrom('resource_shares')
        .select(sql<string>`count(*)`.as('n'))
        .where('user_id', '=', userId)
        .as('to_user'),
      eb
        .selectFrom('resource_shares')
        .innerJoin('resources', 'resources.id', 'resource_shares.resource_id')
        .select(sql<string>`count(*)`.as('n'))
        .where('resource_shares.user_id', '=', userId)
        .where('resources.owner_id', '=', ownerId)
        .as('from_owner'),
    ])
    .executeTakeFirstOrThrow();
  return { ofResource: Number(row.of_resource), toUser: Number(row.to_user), fromOwner: Number(row.from_owner) };
}

/** Creates the share, or sets its actions. */
export async function upsertShare(tx: Db, resourceId: string, userId: string, actions: ShareAction[]): Promise<void> {
  await tx
    .insertInto('resource_shares')
    .values({ resource_id: resourceId, user_id: userId, actions })
    .onConflict((oc) => oc.columns(['resource_id', 'user_id']).doUpdateSet({ actions }))
    .execute();
}

/** Deletes one share; false when there was none (a concurrent unshare took it). */
export async function deleteShare(tx: Db, resourceId: string, userId: string): Promise<boolean> {
  const deleted = await tx.deleteFrom('resource_shares').where('resource_id', '=', resourceId).where('user_id', '=', userId).executeTakeFirst();
  return Number(deleted.numDeletedRows) > 0;
}
