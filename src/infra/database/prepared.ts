import { createHash } from 'node:crypto';
import type { Compilable, CompiledQuery, PostgresPool, PostgresPoolClient } from 'kysely';

/**
 * Named prepared statements for the hot paths, on PostgreSQL.
 *
 * Kysely sends every statement unnamed, so PostgreSQL parses and plans it on every call. For
 * a short read that is a small share; for the create statement (four writes in one CTE)
 * planning took about as long as executing. A statement marked with `prepared(name, query)`
 * is parsed once per connection and its plan cached by the server.
 *
 * Only marked statements are prepared: their texts are fixed by the code, so the statements a
 * connection keeps are bounded (texts that vary with the input, such as `IN` lists, are never
 * marked). A marked text still carries its marker comment, so it is also named in
 * `pg_stat_activity` and the server's logs. Poolers that cannot carry named statements
 * (PgBouncer in transaction mode before 1.21) need `database.preparedStatements` off, which
 * sends marked statements unnamed like the rest.
 */

const MARKER = '/* pcf:';

/** The query with its marker: on PostgreSQL it runs as a named prepared statement. */
export function prepared<R>(name: string, query: Compilable<R> | CompiledQuery<R>): CompiledQuery<R> {
  const compiled = 'compile' in query ? query.compile() : query;
  return { ...compiled, sql: `${MARKER}${name} */ ${compiled.sql}` };
}

/** Statement names by text, shared by every connection; bounded as a guard against misuse. */
const MAX_NAMES = 512;

class StatementNames {
  readonly #byText = new Map<string, string>();

  /** The name the marked `text` is prepared under, or undefined: unmarked, or past the bound. */
  of(text: string): string | undefined {
    if (!text.startsWith(MARKER)) return undefined;
    let name = this.#byText.get(text);
    if (name === undefined && this.#byText.size < MAX_NAMES) {
      // The text's hash is part of the name: one marker on a query whose text varies gets a
      // statement per text instead of PostgreSQL's "prepared statement already exists".
      const label = text.slice(MARKER.length, text.indexOf(' */'));
      name = `pcf_${label}_${createHash('sha1').update(text).digest('base64url').slice(0, 12)}`;
      this.#byText.set(text, name);
    }
    return name;
  }
}

type PgClient = PostgresPoolClient & { query(config: { name: string; text: string; values: unknown[] }): Promise<unknown> };

/** A pool whose clients run marked statements as named prepared statements. */
export function preparingPool(pool: PostgresPool): PostgresPool {
  const names = new StatementNames();
  // Kysely keys its connection state by client object, so each client keeps one wrapper.
  const wrappers = new WeakMap<PostgresPoolClient, PostgresPoolClient>();
  const wrap = (client: PgClient): PostgresPoolClient => {
    const query = ((textOrCursor: unknown, values?: readonly unknown[]) => {
      const name = typeof textOrCursor === 'string' ? names.of(textOrCursor) : undefined;
      if (name === undefined) return (client.query as (a: unknown, b?: unknown) => unknown)(textOrCursor, values);
      return client.query({ name, text: textOrCursor as string, values: values as unknown[] });
    }) as PostgresPoolClient['query'];
    return { query, release: () => client.release() };
  };
  return {
    connect: async () => {
      const client = (await pool.connect()) as PgClient;
      let wrapper = wrappers.get(client);
      if (!wrapper) {
        wrapper = wrap(client);
        wrappers.set(client, wrapper);
      }
      return wrapper;
    },
    end: () => pool.end(),
  };
}
