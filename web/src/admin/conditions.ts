import type { FieldError } from '@pcf/sdk';

/**
 * The condition editor's model, apart from the DOM: what the text parses to, which of the
 * server's field errors belong to the conditions, and the operators to remind people of.
 */

export type ParsedConditions = { ok: true; conditions: Record<string, unknown> | null } | { ok: false; message: string; line?: number; column?: number };

/**
 * The text as the server's `conditions`: empty means unconditional (null); otherwise it must
 * be a JSON object. Whatever is inside the object is for the server to judge.
 */
export function parseConditions(text: string): ParsedConditions {
  if (text.trim() === '') return { ok: true, conditions: null };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, message: jsonMessage(error), ...positionOf(error, text) };
  }
  if (value === null) return { ok: true, conditions: null };
  if (typeof value !== 'object' || Array.isArray(value)) return { ok: false, message: 'Conditions must be a JSON object, like {"ownerId": "${user.id}"}.' };
  return { ok: true, conditions: value as Record<string, unknown> };
}

function jsonMessage(error: unknown): string {
  const raw = error instanceof Error ? error.message : String(error);
  // V8 quotes the whole text after the token (`Unexpected token ',', "{…" is not valid JSON`):
  // the editor shows the text already, so keep the part that says what is wrong.
  const reason = raw.replace(/^JSON\.parse: /, '').replace(/, ".*$/s, '');
  return `Not valid JSON: ${reason}.`;
}

/** Line and column (1-based) of a JSON.parse error, where the engine says `position N` (not every engine does). */
function positionOf(error: unknown, text: string): { line?: number; column?: number } {
  const position = /position (\d+)/.exec(error instanceof Error ? error.message : '')?.[1];
  if (position === undefined) return {};
  const before = text.slice(0, Number(position));
  const lines = before.split('\n');
  return { line: lines.length, column: lines[lines.length - 1]!.length + 1 };
}

/** A server field error of the conditions, its path made readable (`$or/1/createdAt/$gt`). */
export interface ConditionProblem {
  /** The path inside the conditions; empty for the conditions as a whole. */
  path: string;
  message: string;
}

/** The server's field errors that concern the conditions (`conditions/...`), and the others. */
export function splitProblems(errors: readonly FieldError[]): { conditions: ConditionProblem[]; other: FieldError[] } {
  const conditions: ConditionProblem[] = [];
  const other: FieldError[] = [];
  for (const error of errors) {
    if (error.field === 'conditions' || error.field.startsWith('conditions/'))
      conditions.push({ path: error.field.slice('conditions'.length).replace(/^\//, ''), message: error.message });
    else other.push(error);
  }
  return { conditions, other };
}

/** The message of the field error naming `field`, if the server sent one. */
export function messageFor(errors: readonly FieldError[], field: string): string | undefined {
  return errors.find((e) => e.field === field || e.field === `/${field}`)?.message;
}

/** The conditions as the editor shows them: pretty JSON, or nothing for unconditional. */
export function formatConditions(conditions: Record<string, unknown> | null | undefined): string {
  return conditions && Object.keys(conditions).length > 0 ? JSON.stringify(conditions, null, 2) : '';
}

/** The operators the server accepts (docs/identity.md "Permissions"). */
export const OPERATORS: readonly [string, string][] = [
  ['$eq, $ne', 'equal, not equal: {"type": {"$ne": "draft"}}'],
  ['$in, $nin', 'one of, none of (at most 100 values): {"metadata.team": {"$in": ["blue", "red"]}}'],
  ['$lt, $lte, $gt, $gte', 'before or after, less or more: {"createdAt": {"$gte": "2025-01-01T00:00:00Z"}}'],
  ['$exists', 'the field is there or not: {"metadata.archived": {"$exists": false}}'],
  ['$and, $or', 'all of, any of (4 levels, 50 conditions): {"$or": [{"ownerId": "${user.id}"}, {"metadata.public": true}]}'],
  ['"${user.id}"', 'the id of whoever holds the permission'],
];

/** The fields conditions may name, by resource type (docs/identity.md "Permissions"). */
export function fieldsFor(resourceType: string): string {
  if (resourceType === 'user') return 'id, email, name, createdAt';
  if (resourceType === 'role') return 'id, name';
  return 'id, ownerId, name, type, createdAt, metadata.<key>';
}
