import { isValidResourceType } from '../access/index.js';
import { jsonValueProblem } from '../shared/json-values.js';
import { nameCharacterProblem } from '../shared/text.js';
import { FieldProblems } from '../shared/input.js';

/** Limits of DESIGN §5 "Resources" and the resources issue. */
export const NAME_MAX = 255;
export const METADATA_MAX_BYTES = 64 * 1024;
export const JSON_MAX_DEPTH = 64;
/**
 * A list's filters, the same for REST, GraphQL and WebSocket: `q` is matched with ILIKE
 * over every readable name, so its cost grows with its length (a 1.5 MB `q` once took 12 s);
 * a type is at most as long as a type may be.
 */
export const SEARCH_MAX = 255;
export const TYPE_FILTER_MAX = 64;

export interface ResourceFields {
  name?: string;
  type?: string;
  metadata?: Record<string, unknown>;
  data?: unknown;
}

/** Bytes of JSON of the fields given, measured once by validation for the storage quota. */
export interface FieldBytes {
  metadataBytes: number;
  dataBytes: number;
}

/** Nesting depth of a JSON value, stopping as soon as it passes `limit` (no recursion). */
export function exceedsDepth(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth > limit) return true;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return false;
}

export const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value) ?? '');

function checkName(value: unknown, problems: FieldProblems): string | undefined {
  if (typeof value !== 'string') return void problems.add('name', 'must be a string');
  const name = value.trim();
  // Characters as the database counts them (code points), not UTF-16 units.
  const length = [...name].length;
  if (length < 1 || length > NAME_MAX) problems.add('name', `must be 1 to ${NAME_MAX} characters`);
  else {
    const refused = nameCharacterProblem(name);
    if (refused) problems.add('name', refused);
  }
  return name;
}

function addJsonValueProblem(value: unknown, field: string, problems: FieldProblems): void {
  const problem = jsonValueProblem(value, field);
  if (problem) problems.add(problem.field, problem.message);
}

/** The bytes of `value`'s JSON (0 when refused: validation then throws before they count). */
function checkMetadata(value: unknown, problems: FieldProblems): number {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return (void problems.add('metadata', 'must be a JSON object'), 0);
  if (exceedsDepth(value, JSON_MAX_DEPTH)) return (void problems.add('metadata', `must not nest deeper than ${JSON_MAX_DEPTH} levels`), 0);
  const bytes = jsonBytes(value);
  if (bytes > METADATA_MAX_BYTES) problems.add('metadata', `must be at most ${METADATA_MAX_BYTES} bytes of JSON`);
  else addJsonValueProblem(value, 'metadata', problems);
  return bytes;
}

/** The bytes of `value`'s JSON (0 when refused: validation then throws before they count). */
function checkData(value: unknown, maxBytes: number, problems: FieldProblems): number {
  if (value === undefined) return (void problems.add('data', 'is required'), 0);
  if (exceedsDepth(value, JSON_MAX_DEPTH)) return (void problems.add('data', `must not nest deeper than ${JSON_MAX_DEPTH} levels`), 0);
  const bytes = jsonBytes(value);
  if (bytes > maxBytes) problems.add('data', `must be at most ${maxBytes} bytes of JSON`);
  else addJsonValueProblem(value, 'data', problems);
  return bytes;
}

function onlyKnown(input: Record<string, unknown>, allowed: readonly string[], problems: FieldProblems): void {
  for (const key of Object.keys(input)) if (!allowed.includes(key)) problems.add(key, 'is not an allowed field');
}

/** A new resource's fields, every problem reported at once. */
export function validateNewResource(
  input: Record<string, unknown>,
  maxDataBytes: number,
): Required<Pick<ResourceFields, 'name' | 'type' | 'metadata'>> & { data: unknown } & FieldBytes {
  const problems = new FieldProblems();
  onlyKnown(input, ['name', 'type', 'metadata', 'data'], problems);
  const name = checkName(input.name, problems);
  if (!isValidResourceType(input.type)) problems.add('type', 'must match ^[a-z][a-z0-9_.-]{0,63}$ and not be user or role');
  const metadata = (input.metadata ?? {}) as Record<string, unknown>;
  const metadataBytes = input.metadata === undefined ? jsonBytes(metadata) : checkMetadata(input.metadata, problems);
  const dataBytes = checkData(input.data, maxDataBytes, problems);
  problems.throwIfAny();
  return { name: name!, type: input.type as string, metadata, data: input.data, metadataBytes, dataBytes };
}

/**
 * A change: name, metadata and data, each optional; type and anything else refused. The
 * bytes are those of the fields given (0 for one not given).
 */
export function validateResourcePatch(input: Record<string, unknown>, maxDataBytes: number): ResourceFields & FieldBytes {
  const problems = new FieldProblems();
  onlyKnown(input, ['name', 'metadata', 'data'], problems);
  const patch: ResourceFields & FieldBytes = { metadataBytes: 0, dataBytes: 0 };
  if ('name' in input) patch.name = checkName(input.name, problems);
  if ('metadata' in input) {
    patch.metadataBytes = checkMetadata(input.metadata, problems);
    patch.metadata = input.metadata as Record<string, unknown>;
  }
  if ('data' in input) {
    patch.dataBytes = checkData(input.data, maxDataBytes, problems);
    patch.data = input.data;
  }
  problems.throwIfAny();
  return patch;
}

/** Whether a string holds more than `max` code points, without copying a long one. */
function longerThan(value: string, max: number): boolean {
  if (value.length <= max) return false;
  if (value.length > 2 * max) return true;
  return [...value].length > max;
}

export interface ListFilterFields {
  type?: string | undefined;
  ownerId?: string | undefined;
  q?: string | undefined;
}

/** A list's filters, every problem reported at once; an empty `q` means no search. */
export function validateListFilters(filters: ListFilterFields): ListFilterFields {
  const problems = new FieldProblems();
  const { type, q } = filters;
  if (type !== undefined && (typeof type !== 'string' || longerThan(type, TYPE_FILTER_MAX)))
    problems.add('type', `must be a string of at most ${TYPE_FILTER_MAX} characters`);
  if (q !== undefined) {
    // Characters as the database counts them (code points); a NUL would fail in PostgreSQL.
    if (typeof q !== 'string' || longerThan(q, SEARCH_MAX)) problems.add('q', `must be a string of at most ${SEARCH_MAX} characters`);
    else if (q.includes('\u0000')) problems.add('q', 'must not contain U+0000');
  }
  if (filters.ownerId !== undefined && typeof filters.ownerId !== 'string') problems.add('ownerId', 'must be a user id');
  problems.throwIfAny('The filters are invalid.');
  return filters;
}
