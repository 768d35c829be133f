import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import type { FastifyRequest } from 'fastify';
import { BREAK, GraphQLError, NoSchemaIntrospectionCustomRule, visit, type DocumentNode, type ValidationContext, type ValidationRule } from 'graphql';
import type { Config } from '../../core/config/index.js';
import { appError } from '../../core/errors.js';
import { addressKey } from '../../core/net.js';
import { userKey, type RateLimits } from '../gateway/rate-limit.js';

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

/**
 * Refuses a document of more field selections and fragment spreads than
 * `graphql.maxSelections`, counted as written, before validation. graphql-js's
 * OverlappingFieldsCanBeMerged rule compares the fields of a selection set pairwise, through
 * fragments: 1,200 repeated `server { name }` (20 KB, well under the token limit) took
 * 290-340 ms to validate, for a document the cost limit then refused. This pass is linear in
 * the document, which the token limit already bounds; at 250 selections validation stays
 * under ~10 ms (bench/graphql-refusal.ts).
 */
export function checkSelections(document: DocumentNode, limits: Config['graphql']): void {
  let selections = 0;
  const count = () => {
    selections++;
    return selections > limits.maxSelections ? BREAK : undefined;
  };
  visit(document, { Field: count, FragmentSpread: count });
  if (selections > limits.maxSelections) {
    throw appError('INVALID_INPUT', `A GraphQL document may hold at most ${limits.maxSelections} field selections and fragment spreads.`);
  }
}

interface GraphqlBody {
  query?: unknown;
  variables?: unknown;
}

function documentOf(request: FastifyRequest): unknown[] {
  if (request.method === 'GET') return [(request.query as GraphqlBody | undefined)?.query];
  const body = request.body as GraphqlBody | GraphqlBody[] | string | undefined;
  if (typeof body === 'string') return [body]; // application/graphql
  return Array.isArray(body) ? body.map((b) => b?.query) : [body?.query];
}

/**
 * A query that is a JSON value rather than GraphQL: some servers take it for a JSON-encoded
 * AST, so a client sending one is told plainly that it is not a GraphQL request rather than
 * given a syntax error. A GraphQL document never starts like JSON (`{ "` is not GraphQL).
 */
const JSON_VALUE = /^\s*(?:[[\]"\d-]|\{\s*"|(?:true|false|null)\s*$)/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The GraphQL-over-HTTP request shape. */
export function checkShape(operation: unknown, where: string): void {
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
 * The variables of a request in bytes of JSON, all operations of a batch together (GET
 * carries them as a JSON string). A body no larger than the limit needs no counting.
 */
function variablesBytes(request: FastifyRequest, max: number): number {
  if (request.method === 'GET') {
    const variables = (request.query as GraphqlBody | undefined)?.variables;
    return typeof variables === 'string' ? Buffer.byteLength(variables) : 0;
  }
  const length = Number(request.headers['content-length']);
  if (Number.isFinite(length) && length <= max) return length;
  const body = request.body as GraphqlBody | GraphqlBody[] | string | undefined;
  if (typeof body !== 'object' || body === null) return 0;
  let total = 0;
  for (const operation of Array.isArray(body) ? body : [body]) {
    if (operation?.variables != null) total += Buffer.byteLength(JSON.stringify(operation.variables));
    if (total > max) break;
  }
  return total;
}

/** Refuses variables larger than `graphql.maxVariablesBytes`: 413, as a body over its limit. */
export function checkVariablesSize(bytes: number, limits: Config['graphql']): void {
  if (bytes > limits.maxVariablesBytes) {
    throw appError('PAYLOAD_TOO_LARGE', `The variables of a GraphQL request may be at most ${limits.maxVariablesBytes} bytes of JSON.`);
  }
}

/**
 * Route hook for /graphql: refuses a malformed request, a batch of more operations than
 * allowed, a document or variables larger than allowed, before anything is parsed. Each
 * operation of a batch beyond the first is charged to the request budget (user, or
 * anonymous per address), as if sent alone: the gateway charged the request itself once,
 * and a batch of ten must not cost what one request does (429 past the budget, before any
 * operation runs).
 */
export function requestLimits(limits: Config['graphql'], rateLimits: RateLimits | undefined) {
  return async function checkGraphqlRequest(request: FastifyRequest): Promise<void> {
    if (request.method === 'POST' && typeof request.body !== 'string') {
      if (Array.isArray(request.body)) {
        if (request.body.length > limits.maxBatch) {
          throw appError('INVALID_INPUT', `A batch may hold at most ${limits.maxBatch} operations; this one holds ${request.body.length}.`);
        }
        request.body.forEach((operation, i) => checkShape(operation, `Operation ${i + 1} of the batch`));
        if (rateLimits && request.body.length > 1) {
          const principal = request.principal;
          const budget = principal
            ? { limiter: rateLimits.user, key: userKey(principal) }
            : { limiter: rateLimits.anonymous, key: addressKey(request.clientAddress) };
          // Past the budget: 429 with Retry-After and RateLimit (the route's error handler sends the error's headers).
          await rateLimits.charge(request, { ...budget, points: request.body.length - 1 });
        }
      } else {
        checkShape(request.body, 'The request body');
      }
    }
    checkVariablesSize(variablesBytes(request, limits.maxVariablesBytes), limits);
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
