import type { TestServer } from './server.js';

/**
 * Counts the statements a server's Kysely instance sends outside transactions, with their
 * SQL. Every query builder of that instance (every service's non-transactional read) goes
 * through one executor object; wrapping its method counts them without any hook in src/.
 * Statements inside transactions run on other executors and are not seen.
 */
const BACKGROUND = /\b(from|into|update|delete from) "(outbox|notifications)"/i;

export function statementCounter(t: TestServer) {
  const executor = t.server.database.db.getExecutor() as unknown as { executeQuery: (query: { sql: string }) => Promise<unknown> };
  const original = executor.executeQuery;
  let seen: string[] = [];
  executor.executeQuery = function (this: unknown, query: { sql: string }) {
    // The event pipeline works in the background (relay, pruning): not the request's statements.
    if (!BACKGROUND.test(query.sql)) seen.push(query.sql);
    return original.call(this, query);
  };
  return {
    /** Runs `work` and returns the statements it sent. */
    async during(work: () => Promise<unknown>): Promise<string[]> {
      seen = [];
      await work();
      const taken = seen;
      seen = [];
      return taken;
    },
    restore: () => {
      executor.executeQuery = original;
    },
  };
}
