import { appError } from '../../core/errors.js';
import { isUuid } from '../../core/ids.js';

/** A page request as services take it; transports map `limit/cursor` or `first/after` onto it. */
export interface PageRequest {
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface Page<T> {
  items: T[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/**
 * Keyset pagination on UUIDv7 ids (creation order): the cursor is the last id seen, opaque
 * to clients (base64url) so its form can change. Pages stay fast however deep they go.
 */
export function pageBounds(page: PageRequest): { limit: number; after: string | undefined } {
  const limit = page.limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw appError('INVALID_INPUT', `limit must be an integer from 1 to ${MAX_PAGE_SIZE}.`, {
      errors: [{ field: 'limit', message: `must be 1 to ${MAX_PAGE_SIZE}` }],
    });
  }
  return { limit, after: page.cursor ? decodeCursor(page.cursor) : undefined };
}

export function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  const id = cursor.length <= 64 ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  if (!isUuid(id)) throw appError('INVALID_INPUT', 'The cursor is invalid.', { errors: [{ field: 'cursor', message: 'is not a cursor this API issued' }] });
  return id;
}

/** Rows fetched with limit + 1 become a page: the extra row only says another page exists. */
export function toPage<R extends { id: string }, T>(rows: R[], limit: number, view: (row: R) => T): Page<T> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  return { items: kept.map(view), nextCursor: more ? encodeCursor(kept[kept.length - 1]!.id) : null };
}

/**
 * Keyset pagination on a version number, newest first (a resource's history): the cursor is
 * the last version seen, opaque to clients like the id cursor.
 */
export function encodeVersionCursor(version: number): string {
  return Buffer.from(`v${version}`).toString('base64url');
}

export function decodeVersionCursor(cursor: string): number {
  const text = cursor.length <= 32 ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const version = /^v([1-9][0-9]{0,9})$/.exec(text)?.[1];
  if (!version) throw appError('INVALID_INPUT', 'The cursor is invalid.', { errors: [{ field: 'cursor', message: 'is not a cursor this API issued' }] });
  return Number(version);
}

/** A page of versions, newest first, from rows fetched with limit + 1. */
export function toVersionPage<R extends { version: number }>(rows: R[], limit: number): Page<R> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  return { items: kept, nextCursor: more ? encodeVersionCursor(kept[kept.length - 1]!.version) : null };
}
