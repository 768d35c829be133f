/**
 * The documents list's filters as the route's query keeps them (`#/resources?type=doc&owner=mine&q=plan`),
 * so back, forward and reload show the same list.
 */
export interface ListFilters {
  type: string;
  /** A user id, `mine` for the signed-in person, or empty for anyone. */
  owner: string;
  /** Name contains, case-insensitively. */
  q: string;
}

export const MINE = 'mine';

export function filtersFromQuery(query: URLSearchParams): ListFilters {
  return { type: query.get('type')?.trim() ?? '', owner: query.get('owner')?.trim() ?? '', q: query.get('q')?.trim() ?? '' };
}

/** The route query of the filters; empty ones are left out. */
export function filtersToQuery(filters: ListFilters): Record<string, string | undefined> {
  return { type: filters.type.trim() || undefined, owner: filters.owner.trim() || undefined, q: filters.q.trim() || undefined };
}

/** What the API is asked: `mine` becomes the person's id; empty filters are not sent. */
export function apiFilters(filters: ListFilters, myId: string): { type?: string; ownerId?: string; q?: string } {
  const owner = filters.owner === MINE ? myId : filters.owner;
  return {
    ...(filters.type ? { type: filters.type } : {}),
    ...(owner ? { ownerId: owner } : {}),
    ...(filters.q ? { q: filters.q } : {}),
  };
}

/** Whether any filter is set (the empty state then says "no match", not "no documents yet"). */
export function isFiltered(filters: ListFilters): boolean {
  return !!(filters.type || filters.owner || filters.q);
}
