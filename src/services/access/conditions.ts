import { appError, type FieldError } from '../../core/errors.js';
import {
  ANY_RESOURCE_TYPE,
  fieldKind,
  isAction,
  isSystemType,
  isValidResourceType,
  subjectTypeOf,
  USER_ID_PLACEHOLDER,
  type Action,
  type Conditions,
  type FieldKind,
  type SubjectType,
} from './subjects.js';

/**
 * Validation of permission input (DESIGN §5 "Permissions"). The condition language is kept
 * deliberately small: every accepted condition has one meaning that the in-memory matcher
 * (`ability.ts`) and the SQL translation (`sql.ts`) implement identically, so anything
 * outside it is rejected here rather than interpreted loosely later.
 */

export const FIELD_OPERATORS = ['$eq', '$ne', '$in', '$nin', '$lt', '$lte', '$gt', '$gte', '$exists'] as const;
export type FieldOperator = (typeof FIELD_OPERATORS)[number];
export const LOGICAL_OPERATORS = ['$and', '$or'] as const;

export const MAX_LOGICAL_DEPTH = 4;
export const MAX_LEAF_CONDITIONS = 50;
export const MAX_IN_VALUES = 100;
/** Enough to show every real mistake without echoing an abusive document back. */
const MAX_REPORTED_ERRORS = 50;

const ORDERING = new Set<string>(['$lt', '$lte', '$gt', '$gte']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Offsets are required on date-times: without one JavaScript reads local time.
const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2})))?$/;
// PostgreSQL text and jsonb cannot hold NUL or unpaired surrogates; such a value would make
// the SQL fail where the in-memory check succeeds.
// eslint-disable-next-line no-control-regex -- NUL is exactly what is being looked for
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export interface PermissionInput {
  resourceType: unknown;
  action: unknown;
  conditions: unknown;
}

export interface ValidPermission {
  resourceType: string;
  action: Action;
  conditions: Conditions | null;
}

/**
 * Validates and normalises a permission; throws `INVALID_INPUT` listing every problem.
 * `{}` becomes null, UUIDs become lowercase and timestamps `Date#toISOString()`.
 */
export function validatePermissionInput(input: PermissionInput): ValidPermission {
  const errors: FieldError[] = [];
  const { resourceType, action } = input;
  const typeValid = typeof resourceType === 'string' && (resourceType === ANY_RESOURCE_TYPE || isSystemType(resourceType) || isValidResourceType(resourceType));
  if (!typeValid) errors.push({ field: 'resourceType', message: 'Expected a resource type, "*", "user" or "role".' });
  if (!isAction(action)) errors.push({ field: 'action', message: 'Expected one of create, read, update, delete, manage.' });
  // With an invalid resourceType the conditions are still checked, as resource conditions,
  // so one round trip reports everything.
  const checked = checkConditions(typeValid ? subjectTypeOf(resourceType) : 'resource', input.conditions);
  errors.push(...checked.errors);
  if (errors.length > 0) {
    throw appError('INVALID_INPUT', 'The permission is invalid.', { errors: errors.slice(0, MAX_REPORTED_ERRORS) });
  }
  return { resourceType: resourceType as string, action: action as Action, conditions: checked.conditions };
}

/**
 * Checks conditions for a subject type without throwing: the normalised conditions (null
 * when unconditional or invalid) and the problems found, with paths under `conditions`.
 */
export function checkConditions(subjectType: SubjectType, value: unknown): { conditions: Conditions | null; errors: FieldError[] } {
  const checker = new Checker(subjectType);
  if (value === null || value === undefined) return { conditions: null, errors: [] };
  if (!isPlainObject(value)) {
    checker.fail(['conditions'], 'Expected an object or null.');
    return { conditions: null, errors: checker.errors };
  }
  if (Object.keys(value).length === 0) return { conditions: null, errors: [] };
  const conditions = checker.query(value, ['conditions'], 0);
  if (checker.leaves > MAX_LEAF_CONDITIONS) checker.fail(['conditions'], `At most ${MAX_LEAF_CONDITIONS} conditions are allowed.`);
  return checker.errors.length > 0 ? { conditions: null, errors: checker.errors } : { conditions, errors: [] };
}

type Path = readonly (string | number)[];

class Checker {
  readonly errors: FieldError[] = [];
  leaves = 0;

  constructor(private readonly subjectType: SubjectType) {}

  fail(path: Path, message: string): undefined {
    if (this.errors.length < MAX_REPORTED_ERRORS) this.errors.push({ field: path.map(pointerSegment).join('/'), message });
    return undefined;
  }

  /** A document: field conditions and `$and`/`$or`, implicitly ANDed. */
  query(query: Record<string, unknown>, path: Path, depth: number): Conditions {
    const out: Conditions = {};
    for (const [key, value] of Object.entries(query)) {
      const at = [...path, key];
      if (key === '$and' || key === '$or') {
        out[key] = this.logical(value, at, depth);
      } else if (key.startsWith('$')) {
        this.fail(at, 'Unknown operator.');
      } else {
        const kind = fieldKind(this.subjectType, key);
        if (kind === undefined) this.fail(at, `Unknown field for ${this.subjectType} conditions.`);
        else out[key] = this.field(kind, value, at);
      }
    }
    return out;
  }

  private logical(value: unknown, path: Path, depth: number): Conditions[] | undefined {
    if (depth >= MAX_LOGICAL_DEPTH) return this.fail(path, `$and and $or may be nested at most ${MAX_LOGICAL_DEPTH} levels deep.`);
    if (!Array.isArray(value) || value.length === 0) return this.fail(path, 'Expected a non-empty array of conditions.');
    return value.map((item: unknown, index) => {
      if (!isPlainObject(item) || Object.keys(item).length === 0) {
        this.fail([...path, index], 'Expected a non-empty object of conditions.');
        return {};
      }
      return this.query(item, [...path, index], depth + 1);
    });
  }

  /** A field's condition: a scalar (implicit `$eq`) or an object of operators. */
  private field(kind: FieldKind, value: unknown, path: Path): unknown {
    if (Array.isArray(value)) return this.fail(path, 'Expected a value or an object of operators.');
    if (!isPlainObject(value)) {
      this.leaves += 1;
      return this.scalar(kind, '$eq', value, path);
    }
    if (Object.keys(value).length === 0) return this.fail(path, 'Expected at least one operator.');
    const out: Record<string, unknown> = {};
    for (const [op, operand] of Object.entries(value)) {
      const at = [...path, op];
      if (!(FIELD_OPERATORS as readonly string[]).includes(op)) {
        this.fail(at, 'Unknown operator.');
        continue;
      }
      this.leaves += 1;
      out[op] = this.operand(kind, op as FieldOperator, operand, at);
    }
    return out;
  }

  private operand(kind: FieldKind, op: FieldOperator, operand: unknown, path: Path): unknown {
    if (op === '$exists') return typeof operand === 'boolean' ? operand : this.fail(path, 'Expected true or false.');
    if (op === '$in' || op === '$nin') {
      if (!Array.isArray(operand) || operand.length === 0 || operand.length > MAX_IN_VALUES) {
        return this.fail(path, `Expected an array of 1 to ${MAX_IN_VALUES} values.`);
      }
      return operand.map((item: unknown, index) => this.scalar(kind, op, item, [...path, index]));
    }
    return this.scalar(kind, op, operand, path);
  }

  /** One comparison value, normalised; reports and returns undefined when invalid. */
  private scalar(kind: FieldKind, op: FieldOperator, value: unknown, path: Path): unknown {
    if (value !== null && typeof value === 'object') return this.fail(path, 'Expected a single value, not an object or array.');
    if (typeof value === 'string' && UNSTORABLE.test(value)) return this.fail(path, 'The string contains a NUL character or an unpaired surrogate.');
    const placeholder = value === USER_ID_PLACEHOLDER;
    switch (kind) {
      case 'uuid':
        if (placeholder) return value;
        return typeof value === 'string' && UUID.test(value) ? value.toLowerCase() : this.fail(path, `Expected a UUID or "${USER_ID_PLACEHOLDER}".`);
      case 'string':
        if (placeholder) return this.fail(path, `"${USER_ID_PLACEHOLDER}" may be used only in id fields and metadata.`);
        return typeof value === 'string' ? value : this.fail(path, 'Expected a string.');
      case 'timestamp': {
        if (placeholder) return this.fail(path, `"${USER_ID_PLACEHOLDER}" may be used only in id fields and metadata.`);
        const normalised = typeof value === 'string' ? normaliseTimestamp(value) : undefined;
        return normalised ?? this.fail(path, 'Expected an ISO 8601 date or date-time with an offset, in years 0001 to 9999.');
      }
      case 'json':
        if (ORDERING.has(op)) {
          // Order is only defined between two numbers or two strings (see ability.ts).
          return typeof value === 'string' || isFiniteNumber(value) ? value : this.fail(path, 'Expected a number or a string.');
        }
        return value === null || typeof value === 'string' || typeof value === 'boolean' || isFiniteNumber(value)
          ? value
          : this.fail(path, 'Expected a string, a finite number, a boolean or null.');
    }
  }
}

/** `Date#toISOString()` of an ISO 8601 string, or undefined when it is not a real instant. */
export function normaliseTimestamp(value: string): string | undefined {
  const match = ISO_8601.exec(value);
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second, offsetHour, offsetMinute] = match.map((part) => (part === undefined ? 0 : Number(part)));
  // Date would roll 2023-02-29 over into March instead of refusing it.
  const daysInMonth = new Date(Date.UTC(2000, month!, 0)).getUTCDate() - (month === 2 && !isLeapYear(year!) ? 1 : 0);
  if (year! < 1 || month! < 1 || month! > 12 || day! < 1 || day! > daysInMonth) return undefined;
  if (hour! > 23 || minute! > 59 || second! > 59 || offsetHour! > 23 || offsetMinute! > 59) return undefined;
  const time = new Date(value).getTime();
  if (Number.isNaN(time)) return undefined;
  const iso = new Date(time).toISOString();
  // An offset can push 0001-01-01 or 9999-12-31 out of the four-digit years, where the
  // ISO string no longer sorts chronologically.
  return /^\d{4}-/.test(iso) && !iso.startsWith('0000') ? iso : undefined;
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** JSON Pointer escaping, so a key containing `/` cannot forge another path. */
function pointerSegment(segment: string | number): string {
  return String(segment).replaceAll('~', '~0').replaceAll('/', '~1');
}
