import { BREAK, execute, GraphQLError, visit, type DocumentNode, type ExecutionArgs, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { LRUCache } from 'lru-cache';

/**
 * Runs of one operation of a document after which it is compiled with graphql-jit. A
 * compilation costs 0.1–0.7 ms and saves a few µs a run (graphql-js's execute walks the
 * document, coerces the variables again and checks every type at every field), so a
 * document sent a handful of times is not worth it and one sent thousands of times is.
 */
export const COMPILE_AFTER_RUNS = 20;
/**
 * Documents whose runs are counted and whose compiled operations are kept, the most recently
 * run first: generated code is larger than the document, and a client sending many distinct
 * documents often enough must not make the server keep a function for each.
 */
const TRACKED_DOCUMENTS = 200;

interface Operation {
  runs: number;
  /** Compiled, or null when graphql-jit could not compile it (graphql-js runs it then). */
  compiled?: CompiledQuery | null;
}

/**
 * Queries and mutations as graphql-jit compiles them, once a document has run often enough,
 * otherwise graphql-js's execute. Both take the same arguments and give the same result:
 * data, and errors that carry the resolver's thrown error as `originalError` for the one
 * formatter (errors.ts); the custom scalars are the schema's own (schema.ts sets their
 * functions before anything compiles). Kept by document: the document cache (documents.ts)
 * hands back the same DocumentNode for the same text.
 */
export class CompiledOperations {
  readonly #byDocument = new LRUCache<DocumentNode, Map<string | undefined, Operation>>({ max: TRACKED_DOCUMENTS });

  constructor(private readonly schema: GraphQLSchema) {}

  execute(args: ExecutionArgs): ExecutionResult | Promise<ExecutionResult> {
    const compiled = args.schema === this.schema ? this.#compiled(args.document, args.operationName ?? undefined) : undefined;
    if (!compiled) return execute(args);
    const result = compiled.query(args.rootValue, args.contextValue, args.variableValues ?? {}) as ExecutionResult | Promise<ExecutionResult>;
    return 'then' in result ? result.then(asGraphqlJs) : asGraphqlJs(result);
  }

  /** Whether graphql-jit runs this operation now. */
  isCompiled(document: DocumentNode, operationName?: string): boolean {
    return Boolean(this.#byDocument.get(document)?.get(operationName)?.compiled);
  }

  #compiled(document: DocumentNode, operationName: string | undefined): CompiledQuery | undefined {
    let byName = this.#byDocument.get(document);
    if (!byName) this.#byDocument.set(document, (byName = new Map()));
    let operation = byName.get(operationName);
    if (!operation) byName.set(operationName, (operation = { runs: 0 }));
    if (operation.compiled !== undefined) return operation.compiled ?? undefined;
    if (++operation.runs < COMPILE_AFTER_RUNS) return undefined;
    if (holdsObjectLiteral(document)) {
      operation.compiled = null;
      return undefined;
    }
    // Leaf values keep the schema's serialisers; the response is serialised by the route.
    const result = compileQuery(this.schema, document, operationName, { disablingCapturingStackErrors: true });
    operation.compiled = isCompiledQuery(result) ? result : null;
    return operation.compiled ?? undefined;
  }
}

/**
 * graphql-jit reports a value the server got wrong (null in a non-null field, a list that is
 * not one) as an error of its own; graphql-js reports it as a thrown Error, which the
 * formatter (errors.ts) hides as INTERNAL_ERROR and logs. Such errors are given a thrown
 * Error here, so both executions format alike; resolvers' errors already carry theirs.
 */
function asGraphqlJs(result: ExecutionResult): ExecutionResult {
  if (!result.errors?.some((error) => !error.originalError)) return result;
  const errors = result.errors.map((error) => {
    if (error.originalError) return error;
    const thrown = new GraphQLError(error.message, { path: error.path, originalError: new Error(error.message) });
    (thrown as { locations?: GraphQLError['locations'] }).locations = error.locations;
    return thrown;
  });
  return { ...result, errors };
}

/**
 * Whether a document writes an object in its text (`input: { … }`, `data: { … }`).
 * graphql-jit turns such literals into JavaScript object literals in the code it generates,
 * where a `__proto__` key would set the object's prototype instead of reaching the service
 * as a key it refuses (graphql-js builds them with json-scalars.ts, without a prototype);
 * those documents stay on graphql-js. Objects passed as variables are not affected.
 */
function holdsObjectLiteral(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    ObjectValue: () => {
      found = true;
      return BREAK;
    },
  });
  return found;
}
