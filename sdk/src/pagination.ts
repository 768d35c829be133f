import type { Page } from './types.js';

/**
 * A list: `for await (const item of list)` walks every page (the server's keyset cursor, so
 * items added or removed meanwhile never shift a page), and `page(cursor)` fetches one.
 */
export interface Paginated<T> extends AsyncIterable<T> {
  /** One page: the first without a cursor, the next with the previous page's `nextCursor`. */
  page(cursor?: string | null): Promise<Page<T>>;
  /** Every item of every page, in one array (mind the size of what you ask for). */
  all(): Promise<T[]>;
}

export function paginated<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>): Paginated<T> {
  async function* walk(): AsyncGenerator<T> {
    let cursor: string | undefined;
    do {
      const page = await fetchPage(cursor);
      yield* page.items;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }
  return {
    page: (cursor) => fetchPage(cursor ?? undefined),
    all: async () => {
      const items: T[] = [];
      for await (const item of walk()) items.push(item);
      return items;
    },
    [Symbol.asyncIterator]: walk,
  };
}
