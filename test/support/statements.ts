import { AsyncLocalStorage } from 'node:async_hooks';
import type { TestServer } from './server.js';

/**
 * Counts the statements a server's Kysely instance sends outside transactions, with their
 * SQL. Every query builder of that instance (every service's non-transactional read) goes
 * through one executor object; wrapping its method counts them without any hook in src/.
 * Statements inside transactions run on other executors and are not seen. Only statements
 * sent on behalf of the measured work count: the event pipeline's, which run in the
 * background (relay, consumers, pruning), started outside it, do not.
 */
export function statementCounter(t: TestServer) {
  const executor = t.server.database.db.getExecutor() as unknown as { executeQuery: (query: { sql: string }) => Promise<unknown> };
  const original = executor.executeQuery;
  const measuring = new AsyncLocalStorage<string[]>();
  executor.executeQuery = function (this: unknown, query: { sql: string }) {
    measuring.getStore()?.push(query.sql);
    return original.call(this, query);
  };
  return {
    /** Runs `work` and returns the statements it sent. */
    async during(work: () => Promise<unknown>): Promise<string[]> {
      const seen: string[] = [];
      await measuring.run(seen, work);
      return seen;
    },
    restore: () => {
      executor.executeQuery = original;
    },
  };
}
