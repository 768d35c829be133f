import type { FastifyBaseLogger } from 'fastify';
import type { TraceContext } from '../../core/trace.js';
import type { Logger } from '../../infra/telemetry/logger.js';
import type { Principal } from '../../services/auth/principals.js';
import type { ClientInfo } from '../../services/auth/sessions.js';
import type { ServiceContext } from '../../services/context.js';
import type { Identity } from '../../services/identity.js';
import type { Caller, FeedGroup } from '../../services/realtime/index.js';
import type { ResourcesService } from '../../services/resources/index.js';
import { identityLoaders, type IdentityLoaders } from './identity.js';
import { resourceLoaders, type ResourceLoaders } from './resources.js';

/**
 * What every resolver gets, over HTTP and WebSocket alike: a `ServiceContext` (the caller,
 * the trace id, the logger), so a resolver hands it straight to a service, plus the
 * request's client, trace and batch loaders.
 */
export interface GraphqlContext extends ServiceContext {
  readonly trace: TraceContext;
  readonly client: ClientInfo;
  readonly loaders: IdentityLoaders;
  readonly resourceLoaders: ResourceLoaders;
  /** Over WebSocket: the connection's live feeds, which re-check access when grants change. */
  readonly feeds?: FeedGroup;
  /** Over WebSocket: the subscriber, signed in (or UNAUTHORIZED, which closes the socket with 4403). */
  readonly signedIn?: Caller;
  /** Over HTTP: the response, whose request the gateway already charged to the request budget. */
  readonly reply?: unknown;
}

export interface ContextSource {
  trace: TraceContext;
  /** The request's logger (a pino child bound to the trace id). */
  log: FastifyBaseLogger;
  client: ClientInfo;
  /**
   * The caller: a value over HTTP (authenticated with the request); over WebSocket a getter,
   * so a subscription sees the connection's caller as last checked at every event.
   */
  principal: () => Principal | undefined;
  feeds?: FeedGroup;
  signedIn?: Caller;
  reply?: unknown;
}

/**
 * Builds operation contexts, one per operation. The loaders batch but do not memoise, so
 * they never serve stale rows.
 */
export function contextFactory(identity: Identity, resources: ResourcesService) {
  return function operationContext(source: ContextSource): GraphqlContext {
    // Made when a resolver first needs them: most operations never do.
    let loaders: IdentityLoaders | undefined;
    let forResources: ResourceLoaders | undefined;
    const context: GraphqlContext = {
      get principal() {
        return source.principal();
      },
      traceId: source.trace.traceId,
      trace: source.trace,
      log: source.log as Logger,
      client: source.client,
      get loaders() {
        return (loaders ??= identityLoaders(identity));
      },
      get resourceLoaders() {
        return (forResources ??= resourceLoaders(identity, resources, context));
      },
      ...(source.feeds ? { feeds: source.feeds } : {}),
      ...(source.signedIn ? { signedIn: source.signedIn } : {}),
      ...(source.reply ? { reply: source.reply } : {}),
    };
    return context;
  };
}

export type OperationContextFactory = ReturnType<typeof contextFactory>;
