import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import type { FastifyRequest } from 'fastify';
import { GraphQLError, NoSchemaIntrospectionCustomRule, type ValidationContext, type ValidationRule } from 'graphql';
import type { Config } from '../../core/config/index.js';
import { appError } from '../../core/errors.js';

/**
 * Limits that reject expensive GraphQL documents during validation, before any resolver
 * runs (DESIGN §5: depth and aliases; batch size and document size below; the token count
 * while parsing; complexity just before execution, where the variables are known, in
 * budget.ts).
 *
 * The depth rule and the cost model skip the `__schema` introspection *field* (the standard
 * introspection query GraphiQL sends is 21 deep), and only that field: an operation or a
 * fragment named `__schema` is measured like any other. Introspection itself is guarded by
 * graphql-js's MaxIntrospectionDepthRule (in its specified rules since 16.9), which refuses
 * the nested `fields`/`interfaces`/`possibleTypes` lists that make it explode; `__type` is
 * measured in full. In production introspection is off altogether.
 */
export function validationRules(limits: Config['graphql']): ValidationRule[] {
  // The rules throw by default, which graphql-js does not catch (the request would fail as
  // a 500); reporting keeps the rejection a normal validation error.
  const report = (context: ValidationContext | null, error: GraphQLError) => {
    context?.reportError(new GraphQLError(error.message.replace(/^Syntax Error: /, ''), { extensions: { code: 'INVALID_INPUT' } }));
  };
  const common = { propagateOnRejection: false, onReject: [report], exposeLimits: true };
  const rules: ValidationRule[] = [
    maxDepthRule({ ...common, n: limits.maxDepth, ignoreIntrospection: true }) as unknown as ValidationRule,
    // An empty allow-list: by default aliases of __typename are free, so a document could
    // ask for it a million times.
    maxAliasesRule({ ...common, n: limits.maxAliases, allowList: [] }) as unknown as ValidationRule,
  ];
  if (!limits.introspection) rules.push(NoSchemaIntrospectionCustomRule);
  return rules;
}

interface GraphqlBody {
  query?: unknown;
}

function documentOf(request: FastifyRequest): unknown[] {
  if (request.method === 'GET') return [(request.query as GraphqlBody | undefined)?.query];
  const body = request.body as GraphqlBody | GraphqlBody[] | string | undefined;
  if (typeof body === 'string') return [body]; // application/graphql
  return Array.isArray(body) ? body.map((b) => b?.query) : [body?.query];
}

/**
 * A query that is a JSON value rather than GraphQL. mercurius treats a query it cannot
 * parse as a JSON-encoded AST and hands it to validation unchecked, where it crashes; a
 * GraphQL document never starts like JSON (`{ "` is not GraphQL), so these are refused.
 */
const JSON_VALUE = /^\s*(?:[[\]"\d-]|\{\s*"|(?:true|false|null)\s*$)/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The GraphQL-over-HTTP request shape; mercurius would fail with a 500 on anything else. */
function checkShape(operation: unknown, where: string): void {
  if (!isObject(operation)) throw appError('INVALID_INPUT', `${where} must be a JSON object.`);
  const { query, operationName, variables, extensions } = operation;
  const problems: { field: string; message: string }[] = [];
  if (query !== undefined && typeof query !== 'string') problems.push({ field: 'query', message: 'must be a string' });
  if (operationName != null && typeof operationName !== 'string') problems.push({ field: 'operationName', message: 'must be a string or null' });
  if (variables != null && !isObject(variables)) problems.push({ field: 'variables', message: 'must be an object or null' });
  if (extensions != null && !isObject(extensions)) problems.push({ field: 'extensions', message: 'must be an object or null' });
  if (problems.length > 0) throw appError('INVALID_INPUT', `${where} is not a valid GraphQL request.`, { errors: problems });
}

/**
 * Route hook for /graphql: refuses a malformed request, a batch of more operations than
 * allowed, or a document larger than allowed, before anything is parsed.
 */
export function requestLimits(limits: Config['graphql']) {
  return async function checkGraphqlRequest(request: FastifyRequest): Promise<void> {
    if (request.method === 'POST' && typeof request.body !== 'string') {
      if (Array.isArray(request.body)) {
        if (request.body.length > limits.maxBatch) {
          throw appError('INVALID_INPUT', `A batch may hold at most ${limits.maxBatch} operations; this one holds ${request.body.length}.`);
        }
        request.body.forEach((operation, i) => checkShape(operation, `Operation ${i + 1} of the batch`));
      } else {
        checkShape(request.body, 'The request body');
      }
    }
    for (const query of documentOf(request)) {
      if (typeof query !== 'string') continue;
      if (Buffer.byteLength(query) > limits.maxDocumentBytes) {
        throw appError('INVALID_INPUT', `A GraphQL document may be at most ${limits.maxDocumentBytes} bytes.`);
      }
      if (JSON_VALUE.test(query)) {
        throw appError('INVALID_INPUT', 'The request is not a valid GraphQL request.', { errors: [{ field: 'query', message: 'must be a GraphQL document' }] });
      }
    }
  };
}
