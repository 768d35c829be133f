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
    return new OperationContext(source, identity, resources);
  };
}

/**
 * One operation's context. A class, so the getters live once on its prototype rather than
 * on every context: one is made per operation, on the hot path of every request.
 */
class OperationContext implements GraphqlContext {
  readonly traceId: string;
  readonly trace: TraceContext;
  readonly log: Logger;
  readonly client: ClientInfo;
  readonly feeds?: FeedGroup;
  readonly signedIn?: Caller;
  readonly reply?: unknown;
  readonly #source: ContextSource;
  readonly #identity: Identity;
  readonly #resources: ResourcesService;
  // Made when a resolver first needs them: most operations never do.
  #loaders: IdentityLoaders | undefined;
  #resourceLoaders: ResourceLoaders | undefined;

  constructor(source: ContextSource, identity: Identity, resources: ResourcesService) {
    this.#source = source;
    this.#identity = identity;
    this.#resources = resources;
    this.traceId = source.trace.traceId;
    this.trace = source.trace;
    this.log = source.log as Logger;
    this.client = source.client;
    if (source.feeds) this.feeds = source.feeds;
    if (source.signedIn) this.signedIn = source.signedIn;
    if (source.reply) this.reply = source.reply;
  }

  get principal(): Principal | undefined {
    return this.#source.principal();
  }

  get loaders(): IdentityLoaders {
    return (this.#loaders ??= identityLoaders(this.#identity));
  }

  get resourceLoaders(): ResourceLoaders {
    return (this.#resourceLoaders ??= resourceLoaders(this.#identity, this.#resources, this));
  }
}

export type OperationContextFactory = ReturnType<typeof contextFactory>;
