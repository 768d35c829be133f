import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { getOperationAST, Kind, type DocumentNode } from 'graphql';
import mercurius, { type MercuriusContext } from 'mercurius';
import type { Config } from '../../core/config/index.js';
import type { Metrics } from '../../infra/telemetry/metrics.js';
import { operationBudget, reportCost, type BudgetContext } from './budget.js';
import { formatGraphqlErrors } from './errors.js';
import { checkSelections, requestLimits, validationRules } from './limits.js';
import { suggestionFree } from './suggestions.js';
import { withClientErrors } from './resolvers.js';
import type { ServerInfo } from '../../core/package.js';
import { resolvers, typeDefs } from './schema.js';
import type { App } from '../app.js';
import type { Identity } from '../../services/identity.js';
import type { Principal } from '../../services/auth/principals.js';
import { clientInfo } from '../authentication.js';
import { identityLoaders, type IdentityContext } from './identity.js';
import { resourceLoaders } from './resources.js';
import type { ResourcesService } from '../../services/resources/index.js';
import type { RateLimits } from '../gateway/rate-limit.js';
import type { NotificationsService } from '../../services/notifications/index.js';
import type { Realtime } from '../../services/realtime/index.js';
import { chooseGraphqlWsProtocol, graphqlWsHandler } from '../ws/graphql-ws.js';
import { attachSubscriptions, subscriptionResolvers } from './subscriptions.js';
import { appError } from '../../core/errors.js';

export interface GraphqlDeps {
  config: Config;
  metrics: Metrics;
  server: ServerInfo;
  identity: Identity;
  resources: ResourcesService;
  notifications: NotificationsService;
  realtime: Realtime;
  rateLimits: RateLimits | undefined;
}

const started = Symbol('graphqlStarted');
type TimedContext = MercuriusContext & { [started]?: { at: number; type: string; name: string | undefined }; operationId?: number };

/** Requests per second matter more than the first run: compile a document after 10 uses. */
const JIT_AFTER_RUNS = 10;

/**
 * GraphQL at /graphql: POST and GET over HTTP (mercurius), and the graphql-transport-ws
 * protocol over WebSocket on the same path (graphql-ws): queries, mutations, subscriptions.
 */
export async function registerGraphql(app: App, deps: GraphqlDeps): Promise<void> {
  const limits = deps.config.graphql;
  const budget = operationBudget(limits, deps.rateLimits);
  const ws = graphqlWsHandler({
    config: deps.config,
    metrics: deps.metrics,
    identity: deps.identity,
    live: deps.realtime.live,
    schema: () => app.graphql.schema,
    operationContext: (request, caller) => operationContext(deps, request, caller),
    budget,
  });
  // mercurius declares the GET /graphql route; the WebSocket upgrade of that route goes to
  // graphql-ws. Added before @fastify/websocket's own onRoute hook, which reads wsHandler.
  app.addHook('onRoute', (route) => {
    if (route.url === '/graphql' && route.method === 'GET') route.wsHandler = ws.handler as never;
  });
  app.addHook('onClose', async () => ws.close());
  // Registered here, not by mercurius, so a message cannot be much larger than a document,
  // and so shutdown tells clients to reconnect elsewhere.
  await app.register(websocket, {
    options: { maxPayload: limits.maxDocumentBytes + 64 * 1024, handleProtocols: chooseGraphqlWsProtocol },
    preClose: closeSocketsForRestart,
  });

  await app.register(mercurius, {
    schema: typeDefs,
    resolvers: withClientErrors(resolvers(deps.server, deps.identity, deps.resources, deps.notifications, deps.realtime) as never),
    path: '/graphql',
    graphiql: limits.graphiql,
    jit: JIT_AFTER_RUNS,
    graphql: { parseOptions: { maxTokens: limits.maxTokens } },
    allowBatchedQueries: true,
    validationRules: validationRules(limits),
    // Without introspection, no "Did you mean …" may enumerate the schema either.
    errorFormatter: (limits.introspection ? formatGraphqlErrors : suggestionFree(formatGraphqlErrors)) as never,
    context: (request) => {
      const principal = Promise.resolve(request.principal);
      return operationContext(deps, request, () => principal);
    },
    additionalRouteOptions: { preHandler: requestLimits(limits, deps.rateLimits) },
  });
  attachSubscriptions(app.graphql.schema, subscriptionResolvers(deps.realtime.subscriptions, deps.resources).Subscription as never);

  // Before graphql-js validates (its cost grows with the square of repeated fields); a valid
  // document is cached by its text, so this runs once per new document.
  app.graphql.addHook('preValidation', async (_schema, document: DocumentNode) => checkSelections(document, limits));
  app.graphql.addHook('preExecution', async (schema, document: DocumentNode, context: TimedContext & BudgetContext, variables) => {
    const operationName = operationNameOf(context.reply, context.operationId);
    const operation = getOperationAST(document, operationName);
    // This hook runs for HTTP only; WebSocket operations go through graphql-ws.
    if (operation?.operation === 'subscription') {
      throw appError('INVALID_INPUT', 'Subscriptions are served over WebSocket (graphql-transport-ws) at /graphql, not over HTTP.');
    }
    await budget(schema, document, context, variables, operationName);
    context[started] = { at: performance.now(), type: operation?.operation ?? 'unknown', name: operation?.name?.value };
    // mercurius compiles a document with graphql-jit for the operation name of the request
    // that happens to compile it, then runs that compiled operation for every later request
    // with the same text, whatever operation they name. A document of several operations is
    // handed back as a copy, which mercurius executes without the JIT, by its name.
    if (document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION).length > 1) return { document: { ...document } };
    return undefined;
  });
  app.graphql.addHook('onResolution', async (execution, context: TimedContext & BudgetContext) => {
    reportCost(execution, context);
    const op = context[started];
    if (op) deps.metrics.observeGraphql(op.type, op.name, (performance.now() - op.at) / 1000);
  });
}

/**
 * What resolvers get in their context, over HTTP and WebSocket alike. Over WebSocket the
 * caller is resolved again for each operation from the connection's token (a cache hit when
 * warm), so a session revoked while the socket is open stops working at once; the loaders
 * do not memoise, so they never serve stale rows.
 */
function operationContext(deps: GraphqlDeps, request: FastifyRequest, caller: () => Promise<Principal | undefined>): IdentityContext & Record<string, unknown> {
  return {
    trace: request.trace,
    log: request.log,
    caller,
    client: clientInfo(request),
    loaders: identityLoaders(deps.identity),
    resourceLoaders: resourceLoaders(deps.identity, deps.resources, caller),
  };
}

/** The operation a request names; in a batch, the item's own (mercurius numbers them). */
function operationNameOf(reply: FastifyReply | undefined, batchIndex: number | undefined): string | undefined {
  const request = reply?.request;
  if (!request) return undefined;
  const body = request.method === 'GET' ? request.query : request.body;
  const source = (Array.isArray(body) ? body[batchIndex ?? -1] : body) as { operationName?: unknown } | undefined;
  return typeof source?.operationName === 'string' ? source.operationName : undefined;
}

/** Close code 1012 "Service Restart": the server is going away; reconnect (to another instance). */
const SERVICE_RESTART = 1012;
const CLOSE_HANDSHAKE_MS = 2000;

/**
 * On shutdown every WebSocket is closed with 1012, the standard reconnect hint; a client
 * that does not finish the closing handshake in time is cut off.
 */
function closeSocketsForRestart(this: FastifyInstance, done: () => void): void {
  const server = this.websocketServer;
  for (const client of server.clients) client.close(SERVICE_RESTART, 'server restarting');
  const timer = setTimeout(() => {
    for (const client of server.clients) client.terminate();
  }, CLOSE_HANDSHAKE_MS);
  timer.unref();
  server.close(() => {
    clearTimeout(timer);
    done();
  });
}
