import { rulesToAST } from '@casl/ability/extra';
import { sql, type Expression, type RawBuilder, type SqlBool } from 'kysely';
import type { AppAbility } from './ability.js';
import type { SharedCondition } from './shares.js';
import { fieldKind, metadataPath, METADATA_FIELD, type Action, type FieldKind, type SubjectType } from './subjects.js';

/**
 * The rules of an ability as a SQL predicate, so list endpoints return (and count) exactly
 * the rows `can()` would allow (DESIGN §5 "Permissions"). Each operator here mirrors the
 * interpreter of the same name in `ability.ts`; the integration test compares the two on
 * real PostgreSQL and PGlite. Every value is a bind parameter with an explicit cast.
 */
export type AccessFilter = { kind: 'all' } | { kind: 'none' } | { kind: 'where'; expression: Expression<SqlBool> };

interface TableMap {
  table: string;
  columns: Readonly<Record<string, string>>;
}

const TABLES: Readonly<Record<SubjectType, TableMap>> = {
  resource: {
    table: 'resources',
    columns: { id: 'id', ownerId: 'owner_id', name: 'name', type: 'type', createdAt: 'created_at', [METADATA_FIELD]: 'metadata' },
  },
  user: { table: 'users', columns: { id: 'id', email: 'email', name: 'name', createdAt: 'created_at' } },
  role: { table: 'roles', columns: { id: 'id', name: 'name' } },
};

/**
 * The access filter for `action` on rows of `subjectType`'s table. `tableAlias` is how the
 * query names that table (default: the table name); columns are always qualified with it.
 */
export function accessFilter(ability: AppAbility, action: Action, subjectType: SubjectType, tableAlias?: string): AccessFilter {
  const ast = rulesToAST(ability, action, subjectType);
  if (ast === null) return { kind: 'none' };
  const map = TABLES[subjectType];
  const predicate = translate(ast, { subjectType, alias: tableAlias ?? map.table, columns: map.columns });
  if (predicate === true) return { kind: 'all' };
  if (predicate === false) return { kind: 'none' };
  return { kind: 'where', expression: predicate };
}

interface Scope {
  subjectType: SubjectType;
  alias: string;
  columns: Readonly<Record<string, string>>;
}

/** A translated node: constants fold, so an always-true filter becomes `all`. */
type Predicate = boolean | RawBuilder<SqlBool>;

interface AstNode {
  operator: string;
  value: unknown;
  field?: unknown;
}

function translate(node: AstNode, scope: Scope): Predicate {
  if (typeof node.field === 'string') return fieldPredicate(node.operator, node.field, node.value, scope);
  const children = Array.isArray(node.value) ? (node.value as AstNode[]).map((child) => translate(child, scope)) : undefined;
  switch (node.operator) {
    case 'and':
      return combine(children!, 'AND');
    case 'or':
      return combine(children!, 'OR');
    case 'not': {
      // Every predicate is NULL-free (see below), so NOT is an exact negation.
      const [inner] = children!;
      return typeof inner === 'boolean' ? !inner : sql<SqlBool>`(NOT ${inner})`;
    }
    default:
      throw new Error(`access: no SQL for condition operator "${node.operator}"`);
  }
}

function combine(children: Predicate[], joiner: 'AND' | 'OR'): Predicate {
  const absorbing = joiner === 'OR';
  if (children.includes(absorbing)) return absorbing;
  const rest = children.filter((child): child is RawBuilder<SqlBool> => typeof child !== 'boolean');
  if (rest.length === 0) return !absorbing;
  if (rest.length === 1) return rest[0]!;
  return sql<SqlBool>`(${sql.join(rest, sql.raw(` ${joiner} `))})`;
}

function fieldPredicate(operator: string, field: string, value: unknown, scope: Scope): Predicate {
  if (operator === 'shared') return sharedPredicate(field, value as SharedCondition, scope);
  const kind = fieldKind(scope.subjectType, field);
  if (kind === undefined) throw new Error(`access: no column for field "${field}" of ${scope.subjectType}`);
  return kind === 'json' ? jsonPredicate(operator, field, value, scope) : columnPredicate(kind, operator, field, value, scope);
}

const COMPARISONS: Readonly<Record<string, string>> = { lt: '<', lte: '<=', gt: '>', gte: '>=' };

/**
 * A NOT NULL column: present on every row, so `$exists` is a constant and plain SQL
 * comparisons are never NULL.
 */
function columnPredicate(kind: Exclude<FieldKind, 'json'>, operator: string, field: string, value: unknown, scope: Scope): Predicate {
  const column = sql.ref(`${scope.alias}.${scope.columns[field]!}`);
  // The drivers hand timestamptz to JavaScript truncated to milliseconds, and conditions
  // hold milliseconds; comparing the truncated column keeps sub-millisecond rows in step.
  const left = kind === 'timestamp' ? sql`date_trunc('milliseconds', ${column})` : column;
  const param = (v: unknown) => (kind === 'uuid' ? sql`${v}::uuid` : kind === 'timestamp' ? sql`${v}::timestamptz` : sql`${v}::text`);
  switch (operator) {
    case 'exists':
      return value === true;
    case 'eq':
      return sql<SqlBool>`(${left} = ${param(value)})`;
    case 'ne':
      return sql<SqlBool>`(${left} <> ${param(value)})`;
    case 'in':
      return sql<SqlBool>`(${left} IN (${sql.join(asArray(value).map(param))}))`;
    case 'nin':
      return sql<SqlBool>`(${left} NOT IN (${sql.join(asArray(value).map(param))}))`;
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte': {
      const op = sql.raw(COMPARISONS[operator]!);
      // Code-point order, as compareScalars; uuids already order like their lowercase text.
      return kind === 'string' ? sql<SqlBool>`(${left} COLLATE "C" ${op} ${param(value)})` : sql<SqlBool>`(${left} ${op} ${param(value)})`;
    }
    default:
      throw new Error(`access: no SQL for operator "${operator}"`);
  }
}

/**
 * A share rule: one semi-join on `resource_shares` (its primary key leads with the
 * resource, an index with the user), whatever the number of shares. The table is read as
 * it is now, not as the grants were loaded; a share's grants are invalidated before it
 * commits, so the two only differ for the length of a request.
 */
function sharedPredicate(field: string, condition: SharedCondition, scope: Scope): Predicate {
  if (scope.subjectType !== 'resource' || field !== 'id') throw new Error('access: a share rule applies to resource ids only');
  const column = sql.ref(`${scope.alias}.${scope.columns.id!}`);
  return sql<SqlBool>`(${column} IN (SELECT resource_shares.resource_id FROM resource_shares WHERE resource_shares.user_id = ${condition.userId}::uuid AND ${condition.action}::text = ANY(resource_shares.actions)))`;
}

/**
 * A `metadata.a.b` condition. `->` with a text key yields SQL NULL for a missing key and for
 * any array or scalar on the way: exactly what `lookup` treats as missing. Every predicate
 * is wrapped so NULL (missing) becomes the boolean `ability.ts` gives.
 */
function jsonPredicate(operator: string, field: string, value: unknown, scope: Scope): Predicate {
  const keys = metadataPath(field);
  if (!keys) throw new Error(`access: invalid metadata path "${field}"`);
  let target: RawBuilder<unknown> = sql`${sql.ref(`${scope.alias}.${scope.columns[METADATA_FIELD]!}`)}`;
  for (const key of keys) target = sql`(${target} -> ${key}::text)`;
  const json = (v: unknown) => sql`${JSON.stringify(v)}::jsonb`;
  const equal = sql<SqlBool>`coalesce(${target} = ${json(value)}, false)`;
  const member = () => sql<SqlBool>`coalesce(${target} IN (${sql.join(asArray(value).map(json))}), false)`;
  switch (operator) {
    case 'exists':
      return value === true ? sql<SqlBool>`(${target} IS NOT NULL)` : sql<SqlBool>`(${target} IS NULL)`;
    case 'eq':
      return equal;
    case 'ne':
      return sql<SqlBool>`(NOT ${equal})`;
    case 'in':
      return member();
    case 'nin':
      return sql<SqlBool>`(NOT ${member()})`;
    case 'lt':
    case 'lte':
    case 'gt':
    case 'gte': {
      const op = sql.raw(COMPARISONS[operator]!);
      // Ordered only against the same JSON type, as compareScalars; jsonb orders numbers
      // numerically, strings go through text so they can be compared in code-point order.
      if (typeof value === 'number') {
        return sql<SqlBool>`coalesce(jsonb_typeof(${target}) = 'number' AND ${target} ${op} ${json(value)}, false)`;
      }
      if (typeof value === 'string') {
        return sql<SqlBool>`coalesce(jsonb_typeof(${target}) = 'string' AND (${target} #>> '{}') COLLATE "C" ${op} ${value}::text, false)`;
      }
      return false;
    }
    default:
      throw new Error(`access: no SQL for operator "${operator}"`);
  }
}

function asArray(value: unknown): readonly unknown[] {
  if (!Array.isArray(value) || value.length === 0) throw new Error('access: $in/$nin expects a non-empty array');
  return value;
}
