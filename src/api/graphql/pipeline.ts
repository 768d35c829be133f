import {
  getOperationAST,
  getVariableValues,
  GraphQLError,
  OperationTypeNode,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLSchema,
  type OperationDefinitionNode,
} from 'graphql';
import type { Config } from '../../core/config/index.js';
import { appError } from '../../core/errors.js';
import type { Metrics } from '../../infra/telemetry/metrics.js';
import { reportCost, type ChargeOperation, type Spent } from './budget.js';
import { CompiledOperations } from './compiled.js';
import type { GraphqlContext } from './context.js';
import { DocumentCache } from './documents.js';
import { formatErrors, invalidOperation, refusal, refusalHeaders, refusalStatus, type ErrorScope, type FormattedError } from './errors.js';

/** One operation as a client sends it (a POST body, a GET query string, a WebSocket `subscribe`). */
export interface OperationRequest {
  query?: unknown;
  variables?: Record<string, unknown> | null;
  operationName?: string | null;
}

/** What a transport lets run: GET only queries, HTTP no subscriptions. */
export interface Transport {
  /** The operation types it serves. */
  serves: ReadonlySet<OperationDefinitionNode['operation']>;
  /** Why another type is refused. */
  refuse(type: OperationDefinitionNode['operation']): GraphQLError;
}

/** An operation ready to run: checked, charged, with what finishing it needs. */
export interface Admitted {
  args: ExecutionArgs & { contextValue: GraphqlContext };
  operation: OperationDefinitionNode;
  /** Reports its cost in the result's extensions and its duration in the metrics. */
  finish(result: ExecutionResult): ExecutionResult;
}

export type Admission = { admitted: Admitted } | { errors: readonly GraphQLError[] };

/** What an HTTP response carries for one operation. */
export interface HttpAnswer {
  status: number;
  headers?: Record<string, string>;
  body: { data: unknown; errors?: FormattedError[]; extensions?: Record<string, unknown> };
}

export interface PipelineDeps {
  schema: GraphQLSchema;
  limits: Config['graphql'];
  metrics: Metrics;
  budget: ChargeOperation;
}

/**
 * The one path of a GraphQL operation, whichever transport brought it (DESIGN §5):
 * parse with the token and size limits → refuse past `maxSelections` → validate with the
 * depth and alias limits (cached by query text) → pick the operation the transport serves →
 * coerce the variables → check the cost and charge the budgets → execute (compiled.ts) → format errors
 * (errors.ts). HTTP runs it whole (`run`); WebSocket admits through it and lets graphql-ws
 * execute the arguments it returns, by `execute` for queries and mutations.
 */
export class GraphqlPipeline {
  readonly schema: GraphQLSchema;
  readonly #documents: DocumentCache;
  readonly #compiled: CompiledOperations;
  readonly #deps: PipelineDeps;

  constructor(deps: PipelineDeps) {
    this.schema = deps.schema;
    this.#deps = deps;
    this.#documents = new DocumentCache(deps.schema, deps.limits);
    this.#compiled = new CompiledOperations(deps.schema);
  }

  /** Where errors of an operation with this context are formatted. */
  scope(context: { traceId: string | undefined; log: ErrorScope['log'] }): ErrorScope {
    return { traceId: context.traceId ?? '', log: context.log, hideSuggestions: !this.#deps.limits.introspection };
  }

  /** The document and operation a request names, or why it is refused; no caller needed yet. */
  prepare(
    request: OperationRequest,
    transport: Transport,
  ): { document: DocumentNode; operation: OperationDefinitionNode } | { errors: readonly GraphQLError[] } {
    const prepared = this.#documents.prepare(request.query);
    if ('errors' in prepared) return prepared;
    const operation = getOperationAST(prepared.document, request.operationName ?? undefined);
    if (!operation) return { errors: [invalidOperation('The document holds no such operation, or several and no operationName.')] };
    if (!transport.serves.has(operation.operation)) return { errors: [transport.refuse(operation.operation)] };
    return { document: prepared.document, operation };
  }

  /** Coerces the variables, then checks the cost and charges the caller's budgets. */
  async admit(
    request: OperationRequest,
    prepared: { document: DocumentNode; operation: OperationDefinitionNode },
    context: GraphqlContext,
  ): Promise<Admission> {
    const { document, operation } = prepared;
    const variables = request.variables ?? undefined;
    const coerced = getVariableValues(this.schema, operation.variableDefinitions ?? [], variables ?? {}, { maxErrors: 50 });
    if (coerced.errors) return { errors: coerced.errors };
    const operationName = request.operationName ?? undefined;
    let spent: Spent | undefined;
    try {
      spent = await this.#deps.budget(this.schema, document, context, variables, operationName);
    } catch (err) {
      return { errors: [refusal(err)] };
    }
    const started = performance.now();
    const type = operation.operation;
    const name = operation.name?.value;
    return {
      admitted: {
        args: { schema: this.schema, document, operationName, variableValues: variables, contextValue: context },
        operation,
        finish: (result) => {
          reportCost(result, spent);
          this.#deps.metrics.observeGraphql(type, name, (performance.now() - started) / 1000);
          return result;
        },
      },
    };
  }

  /** Runs admitted queries and mutations (compiled.ts; resolvers' errors are formatted by the transport). */
  execute(args: ExecutionArgs): ExecutionResult | Promise<ExecutionResult> {
    return this.#compiled.execute(args);
  }

  /** An HTTP operation, from request to response. */
  async run(request: OperationRequest, transport: Transport, context: GraphqlContext): Promise<HttpAnswer> {
    const prepared = this.prepare(request, transport);
    if ('errors' in prepared) return refused(prepared.errors, this.scope(context));
    const admission = await this.admit(request, prepared, context);
    if ('errors' in admission) return refused(admission.errors, this.scope(context));
    const { admitted } = admission;
    const result = admitted.finish(await this.execute(admitted.args));
    const body: HttpAnswer['body'] = { data: result.data ?? null };
    if (result.errors?.length) body.errors = formatErrors(result.errors, this.scope(context));
    if (result.extensions) body.extensions = result.extensions;
    return { status: 200, body };
  }
}

function refused(errors: readonly GraphQLError[], scope: ErrorScope): HttpAnswer {
  const headers = refusalHeaders(errors);
  return { status: refusalStatus(errors), ...(headers ? { headers } : {}), body: { data: null, errors: formatErrors(errors, scope) } };
}

/** POST /graphql: queries and mutations; subscriptions are served over WebSocket. */
export const HTTP_POST: Transport = {
  serves: new Set([OperationTypeNode.QUERY, OperationTypeNode.MUTATION]),
  refuse: () => refusal(appError('INVALID_INPUT', 'Subscriptions are served over WebSocket (graphql-transport-ws) at /graphql, not over HTTP.')),
};

/** GET /graphql: queries only, so a link cannot change anything. */
export const HTTP_GET: Transport = {
  serves: new Set([OperationTypeNode.QUERY]),
  refuse: (type) =>
    type === OperationTypeNode.SUBSCRIPTION
      ? HTTP_POST.refuse(type)
      : refusal(appError('METHOD_NOT_ALLOWED', 'Operation cannot be performed via a GET request; send mutations with POST.', { headers: { allow: 'POST' } })),
};

/** WebSocket (graphql-transport-ws): every operation type. */
export const WEBSOCKET: Transport = {
  serves: new Set([OperationTypeNode.QUERY, OperationTypeNode.MUTATION, OperationTypeNode.SUBSCRIPTION]),
  refuse: () => invalidOperation('This operation type is not served here.'),
};
