import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { getOperationAST, type DocumentNode } from 'graphql';
import mercurius, { type MercuriusContext } from 'mercurius';
import type { Config } from '../../core/config/index.js';
import type { Metrics } from '../../infra/telemetry/metrics.js';
import { formatGraphqlErrors } from './errors.js';
import { requestLimits, validationRules } from './limits.js';
import { withClientErrors } from './resolvers.js';
import type { ServerInfo } from '../../core/package.js';
import { resolvers, typeDefs } from './schema.js';
import type { App } from '../app.js';

export interface GraphqlDeps {
  config: Config;
  metrics: Metrics;
  server: ServerInfo;
}

const started = Symbol('graphqlStarted');
type TimedContext = MercuriusContext & { [started]?: { at: number; type: string; name: string | undefined } };

/** Requests per second matter more than the first run: compile a document after 10 uses. */
const JIT_AFTER_RUNS = 10;

/**
 * GraphQL at /graphql: POST and GET over HTTP, and the graphql-transport-ws protocol over
 * WebSocket on the same path (queries and mutations too, not only subscriptions).
 */
export async function registerGraphql(app: App, deps: GraphqlDeps): Promise<void> {
  const limits = deps.config.graphql;
  // Registered here, not by mercurius, so a message cannot be much larger than a document,
  // and so shutdown tells clients to reconnect elsewhere.
  await app.register(websocket, { options: { maxPayload: limits.maxDocumentBytes + 64 * 1024 }, preClose: closeSocketsForRestart });

  await app.register(mercurius, {
    schema: typeDefs,
    resolvers: withClientErrors(resolvers(deps.server)),
    path: '/graphql',
    graphiql: limits.graphiql,
    jit: JIT_AFTER_RUNS,
    allowBatchedQueries: true,
    validationRules: validationRules(limits),
    errorFormatter: formatGraphqlErrors as never,
    context: (request) => ({ trace: request.trace, log: request.log }),
    additionalRouteOptions: { preHandler: requestLimits(limits) },
    subscription: {
      fullWsTransport: true,
      // Pings keep idle sockets alive through proxies and find dead peers.
      keepAlive: 15_000,
      context: (_socket, request) => ({ trace: request.trace, log: request.log }),
    },
  });

  app.graphql.addHook('preExecution', async (_schema, document: DocumentNode, context: TimedContext) => {
    const operation = getOperationAST(document, operationNameOf(context.reply));
    context[started] = { at: performance.now(), type: operation?.operation ?? 'unknown', name: operation?.name?.value };
  });
  app.graphql.addHook('onResolution', async (_execution, context: TimedContext) => {
    const op = context[started];
    if (op) deps.metrics.observeGraphql(op.type, op.name, (performance.now() - op.at) / 1000);
  });
}

function operationNameOf(reply: FastifyReply | undefined): string | undefined {
  const request = reply?.request;
  if (!request) return undefined;
  const source = (request.method === 'GET' ? request.query : request.body) as { operationName?: unknown } | undefined;
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
