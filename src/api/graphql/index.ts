import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../../core/config/index.js';
import type { ServerInfo } from '../../core/package.js';
import type { Metrics } from '../../infra/telemetry/metrics.js';
import { SessionFreshness } from '../../services/auth/session-freshness.js';
import type { Identity } from '../../services/identity.js';
import type { NotificationsService } from '../../services/notifications/index.js';
import type { Realtime } from '../../services/realtime/index.js';
import type { ResourcesService } from '../../services/resources/index.js';
import type { App } from '../app.js';
import type { RateLimits } from '../gateway/rate-limit.js';
import { chooseGraphqlWsProtocol, graphqlWsHandler } from '../ws/graphql-ws.js';
import { operationBudget } from './budget.js';
import { contextFactory } from './context.js';
import { registerGraphiql } from './graphiql.js';
import { graphqlRoutes } from './http-route.js';
import { GraphqlPipeline } from './pipeline.js';
import { registerSdlRoute } from './sdl-route.js';
import { executableSchema, resolvers, typeDefs } from './schema.js';

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

/**
 * GraphQL at /graphql: POST and GET over HTTP, and the graphql-transport-ws protocol over
 * WebSocket on the same path (graphql-ws): queries, mutations, subscriptions. One schema
 * and one operation pipeline (pipeline.ts) serve both.
 */
export async function registerGraphql(app: App, deps: GraphqlDeps): Promise<void> {
  const limits = deps.config.graphql;
  const schema = executableSchema(typeDefs, resolvers(deps.server, deps.identity, deps.resources, deps.notifications, deps.realtime) as never);
  const pipeline = new GraphqlPipeline({ schema, limits, metrics: deps.metrics, budget: operationBudget(limits, deps.rateLimits) });
  const operationContext = contextFactory(deps.identity, deps.resources);
  const freshness = new SessionFreshness({
    authenticate: (token, client, options) => deps.identity.auth.authenticate(token, client, options),
    intervalMs: deps.config.websocket.authCheckIntervalMs,
    revocations: [(listener) => deps.identity.sessions.onRevoked(listener), (listener) => deps.realtime.live.onSessionsRevoked(listener)],
  });
  const ws = graphqlWsHandler({ config: deps.config, pipeline, operationContext, freshness });
  app.addHook('onClose', async () => freshness.close());

  // Registered here so a message cannot be much larger than a document, and so shutdown
  // tells clients to reconnect elsewhere.
  await app.register(websocket, {
    options: { maxPayload: limits.maxDocumentBytes + 64 * 1024, handleProtocols: chooseGraphqlWsProtocol },
    preClose: closeSocketsForRestart,
  });
  await app.register(graphqlRoutes, { limits, rateLimits: deps.rateLimits, pipeline, operationContext, wsHandler: ws });
  if (limits.introspection) registerSdlRoute(app, schema);
  if (limits.graphiql) await registerGraphiql(app);
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
