import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../core/config/index.js';
import { appError } from '../../core/errors.js';
import { logFailure } from '../errors.js';
import { clientInfo } from '../authentication.js';
import type { RateLimits } from '../gateway/rate-limit.js';
import { normalizeError } from '../problem.js';
import type { OperationContextFactory } from './context.js';
import { formatErrors, refusal } from './errors.js';
import { checkShape, requestLimits } from './limits.js';
import { HTTP_GET, HTTP_POST, type GraphqlPipeline, type HttpAnswer, type OperationRequest, type Transport } from './pipeline.js';

export interface GraphqlRouteDeps {
  limits: Config['graphql'];
  rateLimits: RateLimits | undefined;
  pipeline: GraphqlPipeline;
  operationContext: OperationContextFactory;
  /** The WebSocket upgrade of GET /graphql (graphql-transport-ws). */
  wsHandler: (...args: never[]) => void;
}

interface GetQuery {
  query?: unknown;
  operationName?: unknown;
  variables?: unknown;
}

/**
 * GraphQL over HTTP at /graphql: POST (a JSON object, a batch of them, or an
 * application/graphql document) and GET (a query string, queries only). Every refusal,
 * before or during an operation, is answered as a GraphQL response (`data: null` and
 * coded `errors`) with its HTTP status; run as a plugin so its error handler is this route's.
 */
export async function graphqlRoutes(app: FastifyInstance, deps: GraphqlRouteDeps): Promise<void> {
  const { pipeline, operationContext } = deps;
  const hideSuggestions = !deps.limits.introspection;

  app.addContentTypeParser('application/graphql', { parseAs: 'string' }, (_request, body, done) => done(null, { query: body }));

  app.setErrorHandler((err, request, reply) => {
    const { error, internal } = normalizeError(err);
    logFailure(request, err, error, internal);
    if (error.headers) reply.headers(error.headers);
    const errors = formatErrors([refusal(error)], { traceId: request.trace.traceId, log: request.log, hideSuggestions });
    return reply.code(error.status).send({ data: null, errors });
  });

  const answer = (request: FastifyRequest, reply: FastifyReply, operation: OperationRequest, transport: Transport): Promise<HttpAnswer> =>
    pipeline.run(
      operation,
      transport,
      operationContext({ trace: request.trace, log: request.log, client: clientInfo(request), principal: () => request.principal, reply }),
    );

  const send = (reply: FastifyReply, result: HttpAnswer) => {
    if (result.headers) reply.headers(result.headers);
    return reply.code(result.status).send(result.body);
  };

  const preHandler = requestLimits(deps.limits, deps.rateLimits);

  app.route({
    method: 'GET',
    url: '/graphql',
    preHandler,
    wsHandler: deps.wsHandler as never,
    handler: async (request, reply) => send(reply, await answer(request, reply, getOperation(request.query as GetQuery | undefined), HTTP_GET)),
  });

  app.post('/graphql', { preHandler }, async (request, reply) => {
    const body = request.body as OperationRequest | OperationRequest[];
    if (!Array.isArray(body)) return send(reply, await answer(request, reply, body ?? {}, HTTP_POST));
    // Each operation of a batch answers for itself; the response is 200 once the batch was taken.
    const results = await Promise.all(body.map((operation) => answer(request, reply, operation, HTTP_POST)));
    for (const result of results) if (result.headers) reply.headers(result.headers);
    return reply.code(200).send(results.map((result) => result.body));
  });
}

/** The operation of a GET query string; its variables are a JSON text. */
function getOperation(query: GetQuery | undefined): OperationRequest {
  const operation: Record<string, unknown> = { query: query?.query, operationName: query?.operationName };
  if (typeof query?.variables === 'string' && query.variables !== '') {
    try {
      operation.variables = JSON.parse(query.variables);
    } catch {
      throw appError('INVALID_INPUT', 'The request is not a valid GraphQL request.', { errors: [{ field: 'variables', message: 'must be a JSON object' }] });
    }
  }
  checkShape(operation, 'The request');
  return operation as OperationRequest;
}
