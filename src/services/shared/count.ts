import { sql } from 'kysely';
import type { Database } from '../../infra/database/index.js';
import type { AccessFilter } from '../access/index.js';

/** Rows of a table the caller may read, counted in SQL with the same filter as its pages. */
export async function countWhere(database: Database, filter: AccessFilter, table: 'users' | 'roles' = 'users'): Promise<number> {
  if (filter.kind === 'none') return 0;
  let query = database.db.selectFrom(table).select(sql<string>`count(*)`.as('n'));
  if (filter.kind === 'where') query = query.where(filter.expression);
  const row = await query.executeTakeFirstOrThrow();
  return Number(row.n);
}
