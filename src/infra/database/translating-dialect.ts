import type {
  CompiledQuery,
  DatabaseConnection,
  DatabaseIntrospector,
  Dialect,
  DialectAdapter,
  Driver,
  Kysely,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely';
import { translateDbError } from './errors.js';

/** Wraps any Kysely dialect so every driver error leaves as a contract error. */
export class TranslatingDialect implements Dialect {
  readonly #inner: Dialect;
  constructor(inner: Dialect) {
    this.#inner = inner;
  }
  createAdapter(): DialectAdapter {
    return this.#inner.createAdapter();
  }
  createDriver(): Driver {
    return new TranslatingDriver(this.#inner.createDriver());
  }
  createQueryCompiler(): QueryCompiler {
    return this.#inner.createQueryCompiler();
  }
  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return this.#inner.createIntrospector(db);
  }
}

class TranslatingDriver implements Driver {
  readonly #inner: Driver;
  readonly #wrapped = new WeakMap<DatabaseConnection, TranslatingConnection>();
  constructor(inner: Driver) {
    this.#inner = inner;
    for (const method of ['savepoint', 'rollbackToSavepoint', 'releaseSavepoint'] as const) {
      const forward = inner[method]?.bind(inner);
      if (forward) this[method] = (connection, name, compile) => forward(unwrap(connection), name, compile).catch(rethrow);
    }
  }
  init(): Promise<void> {
    return this.#inner.init();
  }
  async acquireConnection(): Promise<DatabaseConnection> {
    let raw: DatabaseConnection;
    try {
      raw = await this.#inner.acquireConnection();
    } catch (err) {
      throw translateDbError(err);
    }
    let wrapped = this.#wrapped.get(raw);
    if (!wrapped) {
      wrapped = new TranslatingConnection(raw);
      this.#wrapped.set(raw, wrapped);
    }
    return wrapped;
  }
  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.#inner.beginTransaction(unwrap(connection), settings).catch(rethrow);
  }
  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.commitTransaction(unwrap(connection)).catch(rethrow);
  }
  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.rollbackTransaction(unwrap(connection)).catch(rethrow);
  }
  // Savepoints are optional in Kysely's driver interface; they are passed on when the
  // wrapped driver has them, or Kysely would report them unsupported.
  savepoint?: Driver['savepoint'];
  rollbackToSavepoint?: Driver['rollbackToSavepoint'];
  releaseSavepoint?: Driver['releaseSavepoint'];

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.#inner.releaseConnection(unwrap(connection));
  }
  destroy(): Promise<void> {
    return this.#inner.destroy();
  }
}

class TranslatingConnection implements DatabaseConnection {
  readonly inner: DatabaseConnection;
  constructor(inner: DatabaseConnection) {
    this.inner = inner;
  }
  executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    return this.inner.executeQuery<R>(compiled).catch(rethrow);
  }
  streamQuery<R>(compiled: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(compiled, chunkSize);
  }
}

const unwrap = (c: DatabaseConnection) => (c instanceof TranslatingConnection ? c.inner : c);
const rethrow = (err: unknown): never => {
  throw translateDbError(err);
};
