import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import type { FastifyRequest } from 'fastify';
import { GraphQLError, NoSchemaIntrospectionCustomRule, type ValidationContext, type ValidationRule } from 'graphql';
import type { Config } from '../../core/config/index.js';
import { appError } from '../../core/errors.js';

/**
 * Limits that reject expensive GraphQL documents during validation, before any resolver
 * runs (DESIGN §5: depth, complexity, aliases; batch size and document size below).
 *
 * The depth and cost rules skip the `__schema` introspection *field* (the standard
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
    costLimitRule({ ...common, maxCost: limits.maxComplexity, ignoreIntrospection: true }) as unknown as ValidationRule,
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
 * Route hook for /graphql: refuses a batch of more operations than allowed, or a document
 * larger than allowed, before it is parsed.
 */
export function requestLimits(limits: Config['graphql']) {
  return async function checkGraphqlRequest(request: FastifyRequest): Promise<void> {
    if (Array.isArray(request.body) && request.body.length > limits.maxBatch) {
      throw appError('INVALID_INPUT', `A batch may hold at most ${limits.maxBatch} operations; this one holds ${request.body.length}.`);
    }
    for (const query of documentOf(request)) {
      if (typeof query === 'string' && Buffer.byteLength(query) > limits.maxDocumentBytes) {
        throw appError('INVALID_INPUT', `A GraphQL document may be at most ${limits.maxDocumentBytes} bytes.`);
      }
    }
  };
}
