import type { WebSocket } from '@fastify/websocket';
import type { FastifyRequest } from 'fastify';
import { execute, getOperationAST, GraphQLError, parse, specifiedRules, validate, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { CloseCode, makeServer, type Context } from 'graphql-ws';
import { LRUCache } from 'lru-cache';
import type { Config } from '../../core/config/index.js';
import { isAppError } from '../../core/errors.js';
import { traceFromHeader } from '../../core/trace.js';
import type { Metrics } from '../../infra/telemetry/metrics.js';
import { requireSignedIn, type Principal } from '../../services/auth/principals.js';
import type { ClientInfo } from '../../services/auth/sessions.js';
import { bearerToken } from '../../services/auth/tokens.js';
import type { Identity } from '../../services/identity.js';
import type { SessionsRevokedPayload } from '../../services/events/catalog.js';
import type { Caller, FeedGroup, LiveEvents } from '../../services/realtime/index.js';
import { clientInfo } from '../authentication.js';
import { ConnectionSlots } from '../gateway/connection-slots.js';
import { callerKey } from '../gateway/rate-limit.js';
import { reportCost, type BudgetContext } from '../graphql/budget.js';
import { formatGraphqlErrors } from '../graphql/errors.js';
import { suggestionFree, withoutSuggestions } from '../graphql/suggestions.js';
import { checkSelections, checkVariablesSize, validationRules } from '../graphql/limits.js';
import { toClientError } from '../graphql/resolvers.js';
import { markInexactNumbers } from '../json-numbers.js';
import { subscribeSharing } from './shared-execution.js';

/** 1013 "Try Again Later": the instance cannot check the token now. */
const TRY_AGAIN_LATER = 1013;

/**
 * Close codes beyond those graphql-ws sends itself (4400 bad message, 4401 subscribe before
 * acknowledgement, 4403 refused connection_init, 4406 wrong subprotocol, 4408 no
 * connection_init in time, 4409 duplicate operation id, 4429 second connection_init).
 */
const CLOSE = {
  /** The session ended (logout, revocation, expiry, deleted user) while the socket was open. */
  sessionEnded: 4403,
  /** More connections than a user may hold on one instance; graphql-ws clients do not retry 44xx. */
  tooManyConnections: 4429,
} as const;

interface Connection {
  readonly socket: WebSocket;
  readonly client: ClientInfo;
  readonly log: FastifyRequest['log'];
  readonly token: string | undefined;
  readonly feeds: FeedGroup;
  readonly release: () => void;
  /** The context of each running operation, by id (for logging its errors with its trace). */
  readonly operations: Map<string, OperationContext>;
  /**
   * The caller as last checked (at connection_init, then by the sweep): what subscriptions
   * check each event against, so an event costs no session lookup per subscriber. Changed
   * grants make its subscriptions re-check their access.
   */
  principal: Principal | undefined;
  /** When `principal` was last confirmed; a connection that cannot be checked for long is closed. */
  checkedAt: number;
  /** Lookups started, and the newest applied: an older lookup finishing late changes nothing. */
  lookups: number;
  applied: number;
  /** A session check under way: the sweep does not pile up another. */
  checking: boolean;
  /** The newest lookup with grants from the database, and when it started (performance.now()). */
  fresh?: { startedAt: number; lookup: Promise<Principal | undefined> };
}

/**
 * How long after a lookup with grants from the database a lookup served by the cache is not
 * believed over it: without a shared cache, an instance may hold grants up to a second old
 * (services/identity.ts), and the periodic check must not put back what the database denied.
 */
const DATABASE_PRECEDENCE_MS = 2000;

type Extra = { socket: WebSocket; request: FastifyRequest; connection?: Connection };
type WsContext = Context<Record<string, unknown> | undefined, Extra>;

export interface GraphqlWsDeps {
  config: Config;
  metrics: Metrics;
  identity: Identity;
  /** Tells of sessions revoked on any instance (the `session.revoked` event). */
  live: LiveEvents;
  schema: () => GraphQLSchema;
  /** The per-operation context the resolvers expect (loaders and all), for this caller. */
  operationContext: (request: FastifyRequest, caller: () => Promise<Principal | undefined>) => Record<string, unknown>;
  /** Charges an operation to the caller's budgets (throws RATE_LIMITED, INVALID_INPUT). */
  budget: (
    schema: GraphQLSchema,
    document: DocumentNode,
    context: BudgetContext,
    variables: Record<string, unknown> | undefined,
    operationName: string | undefined,
  ) => Promise<void>;
}

/** Valid documents by text, up to this many characters in all: a repeated operation is not re-parsed. */
const CACHED_DOCUMENT_CHARS = 4_000_000;
/** The messages a client may send (graphql-transport-ws); any other is a protocol error. */
const CLIENT_MESSAGES = new Set(['connection_init', 'ping', 'pong', 'subscribe', 'complete']);

export interface GraphqlWsHandler {
  /** The @fastify/websocket handler of the /graphql upgrade. */
  handler: (socket: WebSocket, request: FastifyRequest) => void;
  /** Stops the periodic session check and the revocation listeners (on shutdown). */
  close(): void;
}

/**
 * The graphql-transport-ws protocol at /graphql, served by the graphql-ws library (its close
 * codes, one operation per id, the connection_init timeout), for queries, mutations and
 * subscriptions. The socket glue is ours rather than graphql-ws's own Fastify adapter, so
 * that errors go to the request's logger and a client sending a server's message gets 4400.
 *
 * - `connection_init` carries `{ "authorization": "Bearer <token>" }`; a bad token is 4403,
 *   none is an anonymous connection. Each takes one of its user's connection slots (4429),
 *   given back when the socket closes, whatever the moment.
 * - Every operation is parsed with the token limit, validated with the same limits as over
 *   HTTP, and charged to the same budgets; at most `websocket.maxSubscriptionsPerConnection`
 *   run at once on a connection.
 * - A session revoked (logout, revocation, a password or email change, the user deleted) closes
 *   its connections with 4403 at once: on this instance when the revocation commits, on the
 *   others when its `session.revoked` event arrives, before any later event is delivered.
 * - Every few seconds each signed-in connection's session is checked again: one that ended
 *   otherwise (expiry) is closed with 4403, and changed grants make its subscriptions
 *   re-check their access.
 * - Ping frames every `websocket.keepAliveMs`; a peer that does not answer in as long is dropped.
 */
export function graphqlWsHandler(deps: GraphqlWsDeps): GraphqlWsHandler {
  const { config, identity } = deps;
  const limits = config.graphql;
  // As over HTTP: without introspection, no "Did you mean …" (graphql/suggestions.ts).
  const hide = limits.introspection ? (message: string) => message : withoutSuggestions;
  const slots = new ConnectionSlots(config.websocket.maxConnectionsPerUser);
  const connections = new Set<Connection>();
  // Only valid documents are kept: a rejected one holds its whole token list in its errors.
  const documents = new LRUCache<string, DocumentNode>({ maxSize: CACHED_DOCUMENT_CHARS, sizeCalculation: (_doc, query) => Math.max(1, query.length) });
  let rules: ReturnType<typeof validationRules> | undefined;

  const authenticate = (connection: Connection, freshGrants = false): Promise<Principal | undefined> =>
    connection.token === undefined ? Promise.resolve(undefined) : identity.auth.authenticate(connection.token, connection.client, { freshGrants });

  const endSession = (connection: Connection) => connection.socket.close(CLOSE.sessionEnded, 'Forbidden: the session has ended');

  /**
   * Keeps the result of lookup number `seq` of the connection's caller, unless a newer lookup
   * came back first, or it came from the cache shortly after one from the database started;
   * says whether the grants changed.
   */
  function apply(connection: Connection, seq: number, principal: Principal | undefined, fromCache: boolean, startedAt: number): boolean {
    if (seq <= connection.applied) return false;
    if (fromCache && connection.fresh && startedAt - connection.fresh.startedAt < DATABASE_PRECEDENCE_MS) {
      connection.checkedAt = Date.now();
      return false;
    }
    const before = connection.principal;
    connection.applied = seq;
    connection.principal = principal;
    connection.checkedAt = Date.now();
    return principal !== undefined && principal.ability !== before?.ability;
  }

  /**
   * Looks the connection's caller up again, its grants read from the database. With `after`
   * (a `revoked` signal's dispatch time), a lookup started since then serves too: every feed
   * of the connection gets the signal, and one lookup answers them all.
   */
  function refresh(connection: Connection, after?: number): Promise<Principal | undefined> {
    const shared = connection.fresh;
    // Strictly after: a lookup that started in the same instant may have started before.
    if (after !== undefined && shared && shared.startedAt > after) return shared.lookup;
    const seq = ++connection.lookups;
    const startedAt = performance.now();
    const lookup = authenticate(connection, true).then((principal) => {
      apply(connection, seq, principal, false, startedAt);
      return connection.principal;
    });
    connection.fresh = { startedAt, lookup };
    return lookup;
  }

  /**
   * Looks the connection's caller up as a request would (the cache when warm), now; changed
   * grants make its running subscriptions re-check their access, as the periodic check does.
   */
  async function lookUp(connection: Connection): Promise<void> {
    const seq = ++connection.lookups;
    const startedAt = performance.now();
    if (apply(connection, seq, await authenticate(connection), true, startedAt)) recheck(connection);
  }

  const recheck = (connection: Connection) => {
    for (const feed of connection.feeds) feed.push({ signal: 'recheck' });
  };

  // A connection whose session cannot be checked for this long (its lookups fail or hang)
  // could go on receiving what its user may no longer read: it is closed, to reconnect.
  const staleAfterMs = 3 * config.websocket.authCheckIntervalMs + 5000;

  // One timer for every connection: sessions are looked up (a cache hit when warm) and
  // subscriptions nudged to re-check their access when the user's grants changed.
  const sweep = setInterval(() => {
    // One lookup per session, however many sockets share it.
    const lookups = new Map<string, Promise<Principal | undefined>>();
    const now = Date.now();
    for (const connection of connections) {
      const token = connection.token;
      if (token === undefined) continue;
      if (now - connection.checkedAt > staleAfterMs) {
        connection.socket.close(TRY_AGAIN_LATER, 'Try again later: the session cannot be checked');
        continue;
      }
      if (connection.checking) continue;
      connection.checking = true;
      let lookup = lookups.get(token);
      if (!lookup) lookups.set(token, (lookup = authenticate(connection)));
      const seq = ++connection.lookups;
      const startedAt = performance.now();
      lookup
        .then(
          (principal) => {
            if (apply(connection, seq, principal, true, startedAt)) recheck(connection);
          },
          (err: unknown) => {
            // Only a dead session closes the socket; a database hiccup does not.
            if (isAppError(err) && err.code === 'UNAUTHORIZED') endSession(connection);
          },
        )
        .finally(() => (connection.checking = false));
    }
  }, config.websocket.authCheckIntervalMs);
  sweep.unref();

  /** Closes the connections opened with sessions that were revoked. */
  const sessionsRevoked = (revoked: SessionsRevokedPayload): void => {
    const ended = new Set(revoked.sessionIds);
    for (const connection of connections) {
      const principal = connection.principal;
      if (principal?.user.id === revoked.userId && ended.has(principal.sessionId)) endSession(connection);
    }
  };
  const stopListening = [identity.sessions.onRevoked(sessionsRevoked), deps.live.onSessionsRevoked(sessionsRevoked)];

  function parseAndValidate(query: unknown): { document: DocumentNode } | { errors: readonly GraphQLError[] } {
    if (typeof query !== 'string' || query.length === 0) return { errors: [invalid('The operation needs a query.')] };
    if (Buffer.byteLength(query) > limits.maxDocumentBytes) return { errors: [invalid(`A GraphQL document may be at most ${limits.maxDocumentBytes} bytes.`)] };
    const cached = documents.get(query);
    if (cached) return { document: cached };
    let document: DocumentNode;
    try {
      document = parse(query, { maxTokens: limits.maxTokens });
    } catch (err) {
      return { errors: [invalid(err instanceof GraphQLError ? err.message : 'The document cannot be parsed.')] };
    }
    try {
      checkSelections(document, limits);
    } catch (err) {
      return { errors: [invalid(err instanceof Error ? err.message : 'The document is too large.')] };
    }
    const errors = validate(deps.schema(), document, [...specifiedRules, ...(rules ??= validationRules(limits))]);
    if (errors.length > 0) return { errors: errors.map((e) => coded(e.message, (e.extensions?.code as string | undefined) ?? 'INVALID_INPUT')) };
    documents.set(query, document);
    return { document };
  }

  function connectionOf(ctx: WsContext): Connection {
    const connection = ctx.extra.connection;
    // graphql-ws refuses operations before connection_ack, and acknowledges only after onConnect.
    if (!connection) throw new Error('operation on a connection that was not admitted');
    return connection;
  }

  const server = makeServer<Record<string, unknown> | undefined, Extra>({
    schema: () => deps.schema(),
    connectionInitWaitTimeout: config.websocket.initTimeoutMs,
    execute: (args) => execute(args),
    subscribe: subscribeSharing,

    async onConnect(ctx: WsContext) {
      const { socket, request } = ctx.extra;
      const params = ctx.connectionParams;
      const header = params?.authorization ?? params?.Authorization;
      const client = clientInfo(request);
      let principal: Principal | undefined;
      let token: string | undefined;
      if (header !== undefined) {
        token = typeof header === 'string' ? (bearerToken(header) ?? '') : '';
        try {
          principal = await identity.auth.authenticate(token, client);
        } catch (err) {
          // A dead token is refused (4403, which clients do not retry); a store that cannot
          // answer now is not the client's fault: 1013, try again later.
          if (isAppError(err) && err.code === 'UNAUTHORIZED') return false;
          if (socket.readyState === socket.OPEN) socket.close(TRY_AGAIN_LATER, 'Try again later');
          return false;
        }
      }
      // The client may have gone while its token was looked up: it takes nothing then.
      if (socket.readyState !== socket.OPEN) return false;
      const release = slots.acquire(callerKey(principal, client.ip ?? ''));
      if (!release) {
        socket.close(CLOSE.tooManyConnections, `at most ${slots.max} connections per user`);
        return false;
      }
      const connection: Connection = {
        socket,
        client,
        log: request.log,
        token,
        feeds: new Set(),
        release,
        operations: new Map(),
        principal,
        checkedAt: Date.now(),
        lookups: 0,
        applied: 0,
        checking: false,
      };
      ctx.extra.connection = connection;
      connections.add(connection);
      socket.once('close', () => {
        connections.delete(connection);
        release();
        for (const feed of connection.feeds) feed.close();
        connection.feeds.clear();
      });
      return true;
    },

    async onSubscribe(ctx: WsContext, id, payload) {
      const connection = connectionOf(ctx);
      if (Object.keys(ctx.subscriptions).length > config.websocket.maxSubscriptionsPerConnection) {
        return [coded(`At most ${config.websocket.maxSubscriptionsPerConnection} operations may run at once on one connection.`, 'RATE_LIMITED')];
      }
      try {
        checkVariablesSize(payload.variables ? Buffer.byteLength(JSON.stringify(payload.variables)) : 0, limits);
      } catch (err) {
        return [coded(err instanceof Error ? err.message : 'The variables are too large.', 'PAYLOAD_TOO_LARGE')];
      }
      const parsed = parseAndValidate(payload.query);
      if ('errors' in parsed) return [...parsed.errors];
      const { document } = parsed;
      const operationName = payload.operationName ?? undefined;
      const operation = getOperationAST(document, operationName);
      if (!operation) return [invalid('The document holds no such operation, or several and no operationName.')];
      // A query or mutation looks its caller up, as an HTTP request does; a subscription
      // uses the connection's caller as last checked, at every event and for every field,
      // looked up as a request would when it starts (a grant taken away since the last check
      // must not let it in).
      const subscription = operation.operation === 'subscription';
      if (subscription && connection.token !== undefined) {
        try {
          await lookUp(connection);
        } catch (err) {
          if (isAppError(err) && err.code === 'UNAUTHORIZED') endSession(connection);
          const error = toClientError(err, { trace: traceFromHeader(undefined), log: connection.log });
          return [coded(error.message, (error.extensions.code as string | undefined) ?? 'INTERNAL_ERROR')];
        }
      }
      const caller = subscription ? () => Promise.resolve(connection.principal) : () => authenticate(connection);
      // Refreshed when an event concerns the subscriber's own access (a share, a role or a
      // permission taken away), before any later event is checked.
      const signedIn: Caller = async (fresh) => {
        if (fresh) {
          try {
            await refresh(connection, fresh.after);
          } catch (err) {
            if (isAppError(err) && err.code === 'UNAUTHORIZED') endSession(connection);
            throw err;
          }
        }
        return requireSignedIn(connection.principal);
      };
      const context: OperationContext = {
        ...deps.operationContext(ctx.extra.request, caller),
        trace: traceFromHeader(undefined),
        log: connection.log,
        client: connection.client,
        feeds: connection.feeds,
        signedIn,
        [started]: { at: performance.now(), type: operation.operation, name: operation.name?.value },
      };
      try {
        await deps.budget(deps.schema(), document, context as unknown as BudgetContext, payload.variables ?? undefined, operationName);
      } catch (err) {
        const error = toClientError(err, context);
        return [coded(error.message, (error.extensions.code as string | undefined) ?? 'INTERNAL_ERROR')];
      }
      connection.operations.set(id, context);
      return { schema: deps.schema(), document, operationName, variableValues: payload.variables, contextValue: context };
    },

    onOperation(_ctx, _id, _payload, args, result) {
      const context = args.contextValue as OperationContext;
      if (!isAsyncIterable(result)) {
        reportCost(result as ExecutionResult, context as unknown as BudgetContext);
        const op = context[started];
        deps.metrics.observeGraphql(op.type, op.name, (performance.now() - op.at) / 1000);
      }
      return undefined;
    },

    onNext(_ctx, _id, _payload, args, result) {
      if (!result.errors?.length) return undefined;
      const context = args.contextValue as OperationContext;
      const { response } = (limits.introspection ? formatGraphqlErrors : suggestionFree(formatGraphqlErrors))(result, {
        trace: context.trace,
        app: { log: context.log },
      });
      return { ...response, ...(result.extensions ? { extensions: result.extensions } : {}) } as unknown as ExecutionResult;
    },

    onError(ctx: WsContext, id, _payload, errors) {
      // Errors thrown by a running subscription (its access went, its session ended), and
      // those onSubscribe returned (already in the contract's shape).
      const context = ctx.extra.connection?.operations.get(id) ?? {};
      return errors.map((error) => {
        const original = error.originalError;
        if (original && !(original instanceof GraphQLError)) {
          const converted = toClientError(original, context);
          return coded(
            converted.message,
            (converted.extensions.code as string | undefined) ?? 'INTERNAL_ERROR',
            converted.extensions.traceId as string | undefined,
          );
        }
        return coded(hide(error.message), (error.extensions?.code as string | undefined) ?? 'INVALID_INPUT');
      });
    },

    onComplete(ctx: WsContext, id) {
      ctx.extra.connection?.operations.delete(id);
    },
  });

  function handler(socket: WebSocket, request: FastifyRequest): void {
    const fail = (err: unknown) => {
      request.log.error({ err }, 'WebSocket connection failed');
      socket.close(CloseCode.InternalServerError, 'Internal server error');
    };
    socket.once('error', fail);
    let pongWait: NodeJS.Timeout | undefined;
    const keepAlive = setInterval(() => {
      if (socket.readyState !== socket.OPEN) return;
      pongWait ??= setTimeout(() => socket.terminate(), config.websocket.keepAliveMs);
      socket.ping();
    }, config.websocket.keepAliveMs);
    socket.on('pong', () => {
      clearTimeout(pongWait);
      pongWait = undefined;
    });
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise((resolve, reject) => {
            if (socket.readyState !== socket.OPEN) return resolve();
            socket.send(data, (err) => (err ? reject(err) : resolve()));
          }),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (receive) =>
          socket.on('message', (data: Buffer) => {
            // Marked as HTTP bodies are (json-body.ts), before graphql-ws parses it: a number
            // in variables that would not read back as written is refused with its path by
            // the service, not stored as another number.
            const text = markInexactNumbers(data.toString());
            // A message a server sends (connection_ack, next, …) is the client's mistake: 4400,
            // not the internal error graphql-ws would make of it.
            if (!isClientMessage(text)) {
              socket.close(CloseCode.BadRequest, 'Invalid message received');
              return;
            }
            receive(text).catch(fail);
          }),
      },
      { socket, request },
    );
    socket.once('close', (code: number, reason: Buffer) => {
      clearInterval(keepAlive);
      clearTimeout(pongWait);
      closed(code, reason.toString()).catch((err: unknown) => request.log.warn({ err }, 'WebSocket close handling failed'));
    });
  }

  return {
    handler,
    close: () => {
      clearInterval(sweep);
      for (const stop of stopListening) stop();
    },
  };
}

const started = Symbol('wsOperationStarted');
type OperationContext = Record<string, unknown> & {
  trace: { traceId: string };
  log: FastifyRequest['log'];
  [started]: { at: number; type: string; name: string | undefined };
};

function coded(message: string, code: string, traceId?: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code, ...(traceId ? { traceId } : {}) } });
}

const invalid = (message: string) => coded(message, 'INVALID_INPUT');

/** False for a well-formed message of a type only a server sends; anything else is graphql-ws's to judge. */
function isClientMessage(text: string): boolean {
  try {
    const message: unknown = JSON.parse(text);
    const type = typeof message === 'object' && message !== null ? (message as { type?: unknown }).type : undefined;
    return typeof type !== 'string' || CLIENT_MESSAGES.has(type);
  } catch {
    return true;
  }
}

const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> => typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

/** The subprotocol graphql-ws speaks; a socket offering no other is refused (4406). */
export function chooseGraphqlWsProtocol(protocols: Set<string>): string | false {
  return protocols.has('graphql-transport-ws') ? 'graphql-transport-ws' : false;
}
