import type { PGlite } from '@electric-sql/pglite';
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';

/**
 * Kysely over PGlite. PGlite is one PostgreSQL backend in this process, so it is one
 * connection: a transaction must own it until it ends, or another request's statements would
 * run inside it. The driver therefore hands the connection out under a mutex.
 *
 * PGlite is created on the driver's init (Kysely calls it on first use), so the server can
 * listen and report "starting" while a fresh data directory is being initialised.
 *
 * (The published PGlite dialects do not support PGlite 0.5; this one is ~100 lines.)
 */
export class PGliteDialect implements Dialect {
  readonly #driver: PGliteDriver;
  constructor(open: () => Promise<PGlite>) {
    this.#driver = new PGliteDriver(open);
  }
  /** The PGlite instance, once the driver is initialised. */
  get pglite(): PGlite | undefined {
    return this.#driver.pglite;
  }
  /** The one connection's state, for the pool gauges. */
  stats(): { busy: boolean; waiting: number } {
    return this.#driver.stats();
  }
  createAdapter(): DialectAdapter {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return this.#driver;
  }
  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }
}

class PGliteDriver implements Driver {
  readonly #open: () => Promise<PGlite>;
  #connection: PGliteConnection | undefined;
  #tail: Promise<void> = Promise.resolve();
  #release: (() => void) | undefined;
  #waiting = 0;

  constructor(open: () => Promise<PGlite>) {
    this.#open = open;
  }

  get pglite(): PGlite | undefined {
    return this.#connection?.pglite;
  }

  async init(): Promise<void> {
    this.#connection = new PGliteConnection(await this.#open());
  }

  stats(): { busy: boolean; waiting: number } {
    return { busy: this.#release !== undefined, waiting: this.#waiting };
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((resolve) => (release = resolve));
    this.#waiting++;
    await previous;
    this.#waiting--;
    this.#release = release;
    return this.#connection!;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const mode = [settings.isolationLevel ? `isolation level ${settings.isolationLevel}` : '', settings.accessMode ?? ''].filter(Boolean).join(' ');
    await connection.executeQuery(CompiledQuery.raw(`begin ${mode}`.trim()));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async savepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint ${quoteIdent(name)}`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to savepoint ${quoteIdent(name)}`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release savepoint ${quoteIdent(name)}`));
  }

  async releaseConnection(): Promise<void> {
    const release = this.#release;
    this.#release = undefined;
    release?.();
  }

  async destroy(): Promise<void> {
    await this.#connection?.pglite.close();
  }
}

class PGliteConnection implements DatabaseConnection {
  readonly pglite: PGlite;
  constructor(pglite: PGlite) {
    this.pglite = pglite;
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    // Without parameters node-postgres uses the simple query protocol, which allows several
    // statements in one string (migrations rely on it); PGlite's exec() is the same protocol.
    if (compiled.parameters.length === 0) {
      const results = await this.pglite.exec(compiled.sql);
      const last = results[results.length - 1];
      return toKyselyResult<R>(last?.rows ?? [], last?.affectedRows);
    }
    const result = await this.pglite.query<R>(compiled.sql, compiled.parameters as unknown[]);
    return toKyselyResult<R>(result.rows, result.affectedRows);
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('Streaming queries are not supported on PGlite');
  }
}

function toKyselyResult<R>(rows: unknown[], affectedRows: number | undefined): QueryResult<R> {
  return affectedRows === undefined ? { rows: rows as R[] } : { rows: rows as R[], numAffectedRows: BigInt(affectedRows) };
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;
