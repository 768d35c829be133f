import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, { type FastifyBaseLogger, type FastifySchemaCompiler } from 'fastify';
import type { Config, InstanceRole } from '../core/config/index.js';
import { appError } from '../core/errors.js';
import type { ServerInfo } from '../core/package.js';
import type { Logger } from '../infra/telemetry/logger.js';
import type { Metrics } from '../infra/telemetry/metrics.js';
import type { HealthService, LifecyclePhase } from '../services/health/health.service.js';
import type { Identity } from '../services/identity.js';
import type { NotificationsService } from '../services/notifications/index.js';
import type { Realtime } from '../services/realtime/index.js';
import type { ResourcesService } from '../services/resources/index.js';
import type { App } from './app.js';
import { registerAuthentication } from './authentication.js';
import { registerConsole } from './console.js';
import { registerClientAddress } from './gateway/client-address.js';
import { registerSecurityHeaders } from './gateway/headers.js';
import { registerOversizedBodyDrain } from './gateway/oversized-body.js';
import { registerRateLimits, type RateLimits } from './gateway/rate-limit.js';
import { clientErrorHandler, frameworkErrors, registerErrorHandling } from './errors.js';
import { registerGraphql } from './graphql/index.js';
import { servedElsewhere } from './instance-roles.js';
import { registerJsonBody } from './json-body.js';
import { lazySerializers, lazyValidatorCompiler } from './lazy-compile.js';
import { registerOpenApi } from './openapi.js';
import { sendProblem } from './problem.js';
import { registerRequestContext, requestContextOptions, type RequestLoggerFactory } from './request-context.js';
import { registerHealthRoutes } from './rest/health.js';
import { registerRestApi } from './rest/index.js';
import { registerMetricsRoute } from './rest/metrics.js';
import { ProblemSchema } from './schemas.js';

export interface AppDeps {
  config: Config;
  /** The instance's roles: `auth` registers /api/v1/auth/*, `api` the rest of REST and GraphQL (api/instance-roles.ts). */
  roles: ReadonlySet<InstanceRole>;
  /** The `http` module's logger (the composition root makes it; api takes telemetry types only). */
  logger: Logger;
  /** Makes a request's logger from the server's (infra/telemetry's requestLogger, handed in by the composition root). */
  requestLogger: RequestLoggerFactory;
  metrics: Metrics;
  health: HealthService;
  /** Where the instance is in its life; API routes answer 503 until it is running. */
  phase: () => LifecyclePhase;
  server: ServerInfo;
  identity: Identity;
  resources: ResourcesService;
  notifications: NotificationsService;
  realtime: Realtime;
  /** The request budgets; absent when rate limiting is switched off. */
  rateLimits: RateLimits | undefined;
}

// Paths that need the database; health, metrics and docs answer while it is still coming.
const NEEDS_DATABASE = /^\/(api\/|graphql)/;

/**
 * Assembles the HTTP application: the one place that decides what runs, in which order, on
 * every request (request context → readiness gate → body parsing → route → error mapping).
 */
export async function buildApp(deps: AppDeps): Promise<App> {
  const { config } = deps;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    ...requestContextOptions(deps.requestLogger),
    bodyLimit: config.http.bodyLimitBytes,
    // Behind a load balancer the socket's address is the balancer's; the client's comes
    // from X-Forwarded-For, believed only from the proxies configured here.
    trustProxy: trustProxyOption(config.http.trustProxy),
    requestTimeout: config.http.requestTimeoutMs,
    http: {
      // Node refuses a headers timeout longer than the request timeout.
      headersTimeout: Math.min(config.http.headersTimeoutMs, config.http.requestTimeoutMs),
      // How often Node looks for requests past those timeouts (30 s by default).
      connectionsCheckingInterval: Math.min(1000, config.http.headersTimeoutMs),
    },
    // Requests arriving while draining are answered below, as problem+json.
    return503OnClosing: false,
    frameworkErrors,
    clientErrorHandler,
    schemaController: lazySerializers(),
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(lazyValidatorCompiler(requestValidators()));
  // CORS first: a browser's preflight is answered before anything else runs.
  await registerSecurityHeaders(app, config.http);
  registerClientAddress(app, config.http.trustProxy, config.http.proxyHeader);

  // JSON is the only body format of the REST API; text/plain would otherwise be accepted.
  app.removeContentTypeParser('text/plain');
  registerJsonBody(app);
  registerOversizedBodyDrain(app, config.http.bodyLimitBytes);
  app.addSchema(ProblemSchema);
  registerRequestContext(app, deps.metrics);
  registerErrorHandling(app, (path) => servedElsewhere(path, deps.roles));

  // Connections that have carried a request: while draining, another request on one of them is
  // a client reusing a kept-alive connection, which another instance should take; the first
  // request of a connection accepted before the listener closed is in flight, and is served.
  const usedConnections = new WeakSet<object>();
  // A callback hook: it runs on every request and, once the instance is running, does nothing
  // but note the connection.
  app.addHook('onRequest', (request, reply, done) => {
    const phase = deps.phase();
    const connection = request.raw.socket;
    const reused = usedConnections.has(connection);
    usedConnections.add(connection);
    if (phase === 'starting' && NEEDS_DATABASE.test(request.url)) {
      return void sendProblem(reply, appError('SERVICE_UNAVAILABLE', 'The server is starting; retry shortly.', { headers: { 'retry-after': '5' } }));
    }
    if (phase === 'stopping' && reused && !request.url.startsWith('/health')) {
      return void sendProblem(
        reply,
        appError('SERVICE_UNAVAILABLE', 'The server is shutting down; retry on another instance.', { headers: { 'retry-after': '1' } }),
      );
    }
    done();
  });

  // After the gates: a starting or draining instance does not look up sessions. Anonymous
  // requests are charged before authentication, signed-in ones right after it.
  const gateway = deps.rateLimits ? registerRateLimits(app, deps.rateLimits) : undefined;
  gateway?.beforeAuthentication();
  registerAuthentication(app, deps.identity.auth, gateway?.onRejectedToken);
  gateway?.afterAuthentication();

  // While draining, a response that finishes also closes its keep-alive connection;
  // otherwise the connection lingers idle and holds the shutdown until the deadline.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (deps.phase() === 'stopping') reply.header('connection', 'close');
    done(null, payload);
  });

  await registerOpenApi(app, deps.server);
  registerHealthRoutes(app, deps.health);
  registerMetricsRoute(app, deps.metrics, { token: config.metrics.token, onRefused: gateway?.onRejectedToken });
  await registerRestApi(app, deps.roles, deps.server, deps.identity, deps.resources, deps.notifications, config.auth.registration);
  if (deps.roles.has('api')) {
    if (config.console.enabled) await registerConsole(app);
    await registerGraphql(app, {
      config,
      metrics: deps.metrics,
      server: deps.server,
      identity: deps.identity,
      resources: deps.resources,
      notifications: deps.notifications,
      realtime: deps.realtime,
      rateLimits: deps.rateLimits,
    });
  }
  return app;
}

/** `http.trustProxy` as Fastify takes it: off, any proxy, or addresses/CIDRs. */
export function trustProxyOption(value: string): boolean | string {
  if (value === '') return false;
  if (value === 'true') return true;
  return value;
}

/**
 * Request validation. Unknown fields are refused, not silently dropped (mass assignment),
 * and every field problem is reported at once. Query strings, path parameters and headers
 * arrive as text and are coerced to their schema types; JSON bodies are not: `"conditions":
 * ""` or `"name": 42` is an error, never quietly turned into `null` or `"42"`.
 */
function requestValidators(): FastifySchemaCompiler<unknown> {
  const options = { removeAdditional: false, allErrors: true, useDefaults: true, strict: false } as const;
  const body = addFormats.default(new Ajv({ ...options, coerceTypes: false }));
  const text = addFormats.default(new Ajv({ ...options, coerceTypes: 'array' }));
  return ({ schema, httpPart }) => (httpPart === 'body' ? body : text).compile(schema as object);
}
