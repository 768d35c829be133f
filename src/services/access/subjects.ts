/**
 * The vocabulary of permissions (DESIGN §5 "Permissions"): actions, the three CASL subject
 * types a permission's `resourceType` maps to, and the fields conditions may name.
 */

export const ACTIONS = ['create', 'read', 'update', 'delete', 'manage'] as const;
export type Action = (typeof ACTIONS)[number];

/** `manage` is CASL's "any action": a rule for it answers every other action too. */
export const ANY_ACTION = 'manage' satisfies Action;

/** Reserved: permissions on users and roles, never the type of a resource. */
export const SYSTEM_TYPES = ['user', 'role'] as const;
export type SystemType = (typeof SYSTEM_TYPES)[number];

/** `resourceType` of a permission that covers every resource type (not the system types). */
export const ANY_RESOURCE_TYPE = '*';

/**
 * Exactly three CASL subject types. Every resource type maps onto `resource` with a
 * `type` condition, so one rule set serves both in-memory checks and SQL on one table.
 */
export type SubjectType = 'resource' | SystemType;

/** MongoDB-style conditions over a record's fields, as validated by `conditions.ts`. */
export type Conditions = Record<string, unknown>;

/** A permission as stored: `conditions` null means unconditional. */
export interface PermissionRule {
  id: string;
  resourceType: string;
  action: Action;
  conditions: Conditions | null;
}

/**
 * How a field's values are typed and compared:
 * - uuid: a canonical lowercase UUID (or the `${user.id}` placeholder);
 * - string: exact, code-point ordered;
 * - timestamp: an ISO 8601 instant, normalised to `Date#toISOString()`;
 * - json: a `metadata.<path>` value, any JSON scalar.
 */
export type FieldKind = 'uuid' | 'string' | 'timestamp' | 'json';

export const SUBJECT_FIELDS: Readonly<Record<SubjectType, Readonly<Record<string, Exclude<FieldKind, 'json'>>>>> = {
  resource: { id: 'uuid', ownerId: 'uuid', name: 'string', type: 'string', createdAt: 'timestamp' },
  user: { id: 'uuid', email: 'string', name: 'string', createdAt: 'timestamp' },
  role: { id: 'uuid', name: 'string' },
};

/** Only resources carry metadata; conditions reach into it as `metadata.a.b`. */
export const METADATA_FIELD = 'metadata';
export const METADATA_KEY = /^[A-Za-z0-9_-]{1,64}$/;
export const MAX_METADATA_DEPTH = 4;

/** The placeholder a condition value may use for the calling user's id. */
export const USER_ID_PLACEHOLDER = '${user.id}';

/** Same pattern as the `resources.type` CHECK constraint. */
const RESOURCE_TYPE = /^[a-z][a-z0-9_.-]{0,63}$/;

/** True for a string that may be the `type` of a resource (so never a system type). */
export function isValidResourceType(value: unknown): value is string {
  return typeof value === 'string' && RESOURCE_TYPE.test(value) && !(SYSTEM_TYPES as readonly string[]).includes(value);
}

export function isSystemType(value: string): value is SystemType {
  return (SYSTEM_TYPES as readonly string[]).includes(value);
}

export function isAction(value: unknown): value is Action {
  return typeof value === 'string' && (ACTIONS as readonly string[]).includes(value);
}

/** The CASL subject type a permission's `resourceType` (a type, `*`, `user` or `role`) maps to. */
export function subjectTypeOf(resourceType: string): SubjectType {
  return isSystemType(resourceType) ? resourceType : 'resource';
}

/**
 * The kind of a condition field of a subject, or undefined when the subject has no such
 * field. `metadata.<k1>[.<k2>…]` resolves to `json` for resources.
 */
export function fieldKind(subjectType: SubjectType, field: string): FieldKind | undefined {
  const fields = SUBJECT_FIELDS[subjectType];
  if (Object.hasOwn(fields, field)) return fields[field];
  return subjectType === 'resource' && metadataPath(field) ? 'json' : undefined;
}

/** The keys of a `metadata.a.b` field, or undefined when it is not a valid metadata path. */
export function metadataPath(field: string): string[] | undefined {
  const [head, ...keys] = field.split('.');
  if (head !== METADATA_FIELD || keys.length === 0 || keys.length > MAX_METADATA_DEPTH) return undefined;
  return keys.every((key) => METADATA_KEY.test(key)) ? keys : undefined;
}
