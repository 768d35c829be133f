import { v7 as uuidv7, validate as uuidValidate } from 'uuid';

/**
 * A new UUIDv7: time-ordered, so primary-key indexes grow at the right edge and keyset
 * pagination by id follows creation order (DESIGN §4).
 */
export function newId(): string {
  return uuidv7();
}

/** True for any canonical UUID string; used to reject malformed ids before they reach SQL. */
export function isUuid(value: string): boolean {
  return uuidValidate(value);
}

/**
 * The canonical (lowercase) form of a UUID, or undefined when it is not one. PostgreSQL
 * matches a uuid whatever its case, but strings compared in code and cache keys do not:
 * ids from clients are made canonical before anything else sees them.
 */
export function canonicalId(value: string): string | undefined {
  return uuidValidate(value) ? value.toLowerCase() : undefined;
}
