import { buildMongoQueryMatcher, createMongoAbility, type MongoAbility, type MongoQuery, type RawRuleOf } from '@casl/ability';
import { checkConditions, isPlainObject } from './conditions.js';
import { SHARE_ACTIONS, SHARED_OPERATOR, type SharedCondition, type SharedResources } from './shares.js';
import {
  ANY_RESOURCE_TYPE,
  isSystemType,
  isValidResourceType,
  subjectTypeOf,
  USER_ID_PLACEHOLDER,
  type Action,
  type Conditions,
  type PermissionRule,
  type SubjectType,
} from './subjects.js';

/**
 * A principal's permissions as a CASL ability, plus the checks services make with it.
 *
 * The conditions are matched by our own interpreters rather than CASL's defaults, because
 * the same conditions also become SQL (`sql.ts`) and the two must agree on every record.
 * The rules, in one place (`sql.ts` implements exactly these):
 * - a field path is looked up through plain objects only, by own property; anything else
 *   (an array on the way, a missing key) is *missing*;
 * - `$eq`/`$in` are strict equality of scalars, so a missing field equals nothing, not even
 *   null, and `$ne`/`$nin` (their negations) are true for it;
 * - `$lt $lte $gt $gte` hold only between two numbers or two strings; strings order by
 *   Unicode code point (SQL's `COLLATE "C"`); every other pairing is false;
 * - `$exists` is "the path is not missing"; a JSON null exists;
 * - timestamps are ISO strings of `Date#toISOString()`, which sort like the instants.
 */
export type AppAbility = MongoAbility<[Action, SubjectType], MongoQuery>;

/** The record a check is made on; see `can`. */
export type SubjectRecord = Record<string, unknown>;

interface FieldNode {
  operator: string;
  field: string;
  value: unknown;
}
interface CompoundNode {
  operator: string;
  value: readonly unknown[];
}
interface Context {
  interpret(node: unknown, record: unknown): boolean;
}

/** The value at a dotted path, or undefined when missing (see the rules above). */
export function lookup(record: unknown, path: string): unknown {
  let current = record;
  for (const key of path.split('.')) {
    if (!isPlainObject(current) || !Object.hasOwn(current, key)) return undefined;
    current = current[key];
  }
  return current;
}

const SURROGATE = /[\uD800-\uDFFF]/;

/** -1, 0 or 1 between two numbers or two strings; undefined when they do not order. */
export function compareScalars(a: unknown, b: unknown): -1 | 0 | 1 | undefined {
  if (typeof a === 'number' && typeof b === 'number') return a === b ? 0 : a < b ? -1 : 1;
  if (typeof a !== 'string' || typeof b !== 'string') return undefined;
  if (a === b) return 0;
  // `<` on strings compares UTF-16 code units, which misorders astral characters against
  // U+E000..U+FFFF relative to code points (and so to PostgreSQL's C collation).
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return a < b ? -1 : 1;
  const left = [...a];
  const right = [...b];
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const diff = left[i]!.codePointAt(0)! - right[i]!.codePointAt(0)!;
    if (diff !== 0) return diff < 0 ? -1 : 1;
  }
  return left.length < right.length ? -1 : 1;
}

const equals = (node: FieldNode, record: unknown) => {
  const value = lookup(record, node.field);
  return value !== undefined && value === node.value;
};
const within = (node: FieldNode, record: unknown) => {
  const value = lookup(record, node.field);
  return value !== undefined && (node.value as readonly unknown[]).includes(value);
};
const ordered = (test: (order: -1 | 0 | 1) => boolean) => (node: FieldNode, record: unknown) => {
  const order = compareScalars(lookup(record, node.field), node.value);
  return order !== undefined && test(order);
};
const never = () => false;

const interpreters = {
  eq: equals,
  ne: (node: FieldNode, record: unknown) => !equals(node, record),
  in: within,
  nin: (node: FieldNode, record: unknown) => !within(node, record),
  lt: ordered((order) => order < 0),
  lte: ordered((order) => order <= 0),
  gt: ordered((order) => order > 0),
  gte: ordered((order) => order >= 0),
  exists: (node: FieldNode, record: unknown) => (lookup(record, node.field) !== undefined) === node.value,
  // A share rule (shares.ts): never produced by validated conditions, only by buildAbility.
  shared: (node: FieldNode, record: unknown) => {
    const value = lookup(record, node.field);
    return typeof value === 'string' && (node.value as SharedCondition).ids.has(value);
  },
  and: (node: CompoundNode, record: unknown, context: Context) => node.value.every((child) => context.interpret(child, record)),
  or: (node: CompoundNode, record: unknown, context: Context) => node.value.some((child) => context.interpret(child, record)),
  // CASL's other operators are never produced by validated conditions; should one slip
  // through, it grants nothing (and `sql.ts` refuses it).
  all: never,
  size: never,
  regex: never,
  elemMatch: never,
};

type MatcherInterpreters = NonNullable<Parameters<typeof buildMongoQueryMatcher>[1]>;

/** Parses conditions into CASL's AST and matches records with the interpreters above. */
const conditionsMatcher = buildMongoQueryMatcher(
  // CASL's Mongo matcher does not parse $and/$or by default; the default compound parser
  // turns them into `and`/`or` nodes.
  { $and: { type: 'compound' }, $or: { type: 'compound' }, [SHARED_OPERATOR]: { type: 'field' } },
  interpreters as unknown as MatcherInterpreters,
);

/**
 * The ability of a user with these permissions. `${user.id}` is replaced by `userId`
 * wherever it is a whole string value; `shared` are the resources shared with the user
 * (one rule per action, see shares.ts). A rule whose stored form is invalid is skipped (it
 * grants nothing) rather than interpreted: rules come from the database, which the
 * permission API writes only after `validatePermissionInput`, so this is a safety net.
 *
 * The result is cached per principal by callers: treat it as immutable.
 */
export function buildAbility(rules: readonly PermissionRule[], userId: string, shared?: SharedResources): AppAbility {
  const id = userId.toLowerCase();
  const raw: RawRuleOf<AppAbility>[] = [];
  for (const rule of rules) {
    const converted = toCaslRule(rule, id);
    if (converted) raw.push(converted);
  }
  // However many resources are shared with the user: one rule per action.
  for (const action of SHARE_ACTIONS) {
    const ids = shared?.[action] ?? [];
    if (ids.length === 0) continue;
    const condition: SharedCondition = { userId: id, action, ids: new Set(ids) };
    raw.push({ action, subject: 'resource', conditions: { id: { [SHARED_OPERATOR]: condition } } as MongoQuery });
  }
  return createMongoAbility<AppAbility>(raw, { conditionsMatcher });
}

function toCaslRule(rule: PermissionRule, userId: string): RawRuleOf<AppAbility> | undefined {
  const { resourceType, action } = rule;
  if (resourceType !== ANY_RESOURCE_TYPE && !isSystemType(resourceType) && !isValidResourceType(resourceType)) return undefined;
  const subject = subjectTypeOf(resourceType);
  const checked = checkConditions(subject, rule.conditions);
  if (checked.errors.length > 0) return undefined;
  const own = checked.conditions === null ? null : (substitute(checked.conditions, userId) as Conditions);
  // Every resource type shares the one `resource` subject, told apart by `type`.
  const typed = subject === 'resource' && resourceType !== ANY_RESOURCE_TYPE;
  const conditions = typed ? (own ? { $and: [{ type: resourceType }, own] } : { type: resourceType }) : own;
  return conditions ? { action, subject, conditions: conditions as MongoQuery } : { action, subject };
}

function substitute(value: unknown, userId: string): unknown {
  if (value === USER_ID_PLACEHOLDER) return userId;
  if (Array.isArray(value)) return value.map((item) => substitute(item, userId));
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, substitute(item, userId)]));
  return value;
}

/**
 * May the principal do `action` on this record of `subjectType`? Without a record: on at
 * least one record of that type (CASL's semantics: conditions are ignored), e.g. whether
 * to offer "create" at all.
 *
 * Records are plain objects: a resource `{ id, ownerId, name, type, createdAt, metadata }`,
 * a user `{ id, email, name, createdAt }`, a role `{ id, name }`; ids lowercase, createdAt
 * an ISO string (a Date is converted). The record is not modified and may be frozen.
 */
export function can(ability: AppAbility, action: Action, subjectType: SubjectType, record?: SubjectRecord): boolean {
  const subject = record && record.createdAt instanceof Date ? { ...record, createdAt: record.createdAt.toISOString() } : record;
  // The same walk as Ability#can, minus tagging the record with its subject type (which
  // would mutate it, and fail on a frozen cached record).
  // AppAbility types its subjects as type names only, so plain records cannot be passed to
  // `ability.can` by mistake (CASL could not tell their type); the matcher takes any object.
  const matchable = subject as SubjectType | undefined;
  for (const rule of ability.rulesFor(action, subjectType)) {
    if (rule.matchesConditions(matchable)) return !rule.inverted;
  }
  return false;
}

/**
 * True only when a rule without conditions grants `action` on every record of the type
 * (for resources: a `*` rule, since a rule for one type carries a `type` condition).
 */
export function canUnconditionally(ability: AppAbility, action: Action, subjectType: SubjectType): boolean {
  for (const rule of ability.rulesFor(action, subjectType)) {
    if (!rule.conditions) return !rule.inverted;
  }
  return false;
}
