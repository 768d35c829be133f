import type { WebSocket } from '@fastify/websocket';
import type { FastifyRequest } from 'fastify';
import { GraphQLError, type ExecutionResult } from 'graphql';
import { CloseCode, makeServer, type Context } from 'graphql-ws';
import type { Config } from '../../core/config/index.js';
import { appError, isAppError } from '../../core/errors.js';
import { traceFromHeader } from '../../core/trace.js';
import { requireSignedIn, type Principal } from '../../services/auth/principals.js';
import type { SessionFreshness, TrackedSession } from '../../services/auth/session-freshness.js';
import type { ClientInfo } from '../../services/auth/sessions.js';
import { bearerToken } from '../../services/auth/tokens.js';
import type { Caller, FeedGroup } from '../../services/realtime/index.js';
import { clientInfo } from '../authentication.js';
import { ConnectionSlots } from '../gateway/connection-slots.js';
import { callerKey } from '../gateway/rate-limit.js';
import type { GraphqlContext, OperationContextFactory } from '../graphql/context.js';
import { formatErrors, refusal, type ErrorScope } from '../graphql/errors.js';
import { checkVariablesSize } from '../graphql/limits.js';
import { WEBSOCKET, type GraphqlPipeline } from '../graphql/pipeline.js';
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
  readonly feeds: FeedGroup;
  /** The caller, kept fresh by the session-freshness service. */
  readonly session: TrackedSession;
  /** The context of each running operation, by id (for formatting its errors with its trace). */
  readonly operations: Map<string, GraphqlContext>;
}

type Extra = { socket: WebSocket; request: FastifyRequest; connection?: Connection };
type WsContext = Context<Record<string, unknown> | undefined, Extra>;

export interface GraphqlWsDeps {
  config: Config;
  pipeline: GraphqlPipeline;
  operationContext: OperationContextFactory;
  /** Re-checks each connection's session, and says which ones ended. */
  freshness: SessionFreshness;
}

/** The messages a client may send (graphql-transport-ws); any other is a protocol error. */
const CLIENT_MESSAGES = new Set(['connection_init', 'ping', 'pong', 'subscribe', 'complete']);

/**
 * The graphql-transport-ws protocol at /graphql, served by the graphql-ws library (its close
 * codes, one operation per id, the connection_init timeout), for queries, mutations and
 * subscriptions. The socket glue is ours rather than graphql-ws's own Fastify adapter, so
 * that errors go to the request's logger and a client sending a server's message gets 4400.
 *
 * - `connection_init` carries `{ "authorization": "Bearer <token>" }`; a bad token is 4403,
 *   none is an anonymous connection. Each takes one of its user's connection slots (4429),
 *   given back when the socket closes, whatever the moment.
 * - Every operation goes through the pipeline HTTP requests take (graphql/pipeline.ts): the
 *   same limits, validation, budgets and error formatting; at most
 *   `websocket.maxSubscriptionsPerConnection` run at once on a connection.
 * - The connection's session is tracked by the session-freshness service: one that ends
 *   (logout, revocation, a password or email change, the user deleted, expiry) closes with
 *   4403, one that cannot be checked for long with 1013, and changed grants make its
 *   subscriptions re-check their access.
 * - Ping frames every `websocket.keepAliveMs`; a peer that does not answer in as long is dropped.
 */
export function graphqlWsHandler(deps: GraphqlWsDeps): (socket: WebSocket, request: FastifyRequest) => void {
  const { config, pipeline, freshness } = deps;
  const limits = config.graphql;
  const slots = new ConnectionSlots(config.websocket.maxConnectionsPerUser);

  function connectionOf(ctx: WsContext): Connection {
    const connection = ctx.extra.connection;
    // graphql-ws refuses operations before connection_ack, and acknowledges only after onConnect.
    if (!connection) throw new Error('operation on a connection that was not admitted');
    return connection;
  }

  /** The caller an operation runs as, looked up as a request would be; errors are the operation's. */
  async function callerFor(connection: Connection, subscription: boolean): Promise<{ principal: () => Principal | undefined } | { error: unknown }> {
    const { session } = connection;
    try {
      // A subscription uses the connection's caller as last checked, at every event and for
      // every field, looked up as a request would when it starts (a grant taken away since
      // the last check must not let it in); a query or mutation looks its caller up now.
      if (subscription) {
        await session.lookUp();
        return { principal: () => session.principal };
      }
      const principal = await session.current();
      return { principal: () => principal };
    } catch (error) {
      return { error };
    }
  }

  const server = makeServer<Record<string, unknown> | undefined, Extra>({
    schema: pipeline.schema,
    connectionInitWaitTimeout: config.websocket.initTimeoutMs,
    execute: (args) => pipeline.execute(args),
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
          principal = await freshness.authenticate(token, client);
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
      const feeds: FeedGroup = new Set();
      const session = freshness.track(token, client, principal, {
        ended: () => socket.close(CLOSE.sessionEnded, 'Forbidden: the session has ended'),
        unverifiable: () => socket.close(TRY_AGAIN_LATER, 'Try again later: the session cannot be checked'),
        grantsChanged: () => {
          for (const feed of feeds) feed.push({ signal: 'recheck' });
        },
      });
      const connection: Connection = { socket, client, log: request.log, feeds, session, operations: new Map() };
      ctx.extra.connection = connection;
      socket.once('close', () => {
        freshness.untrack(session);
        release();
        for (const feed of feeds) feed.close();
        feeds.clear();
      });
      return true;
    },

    async onSubscribe(ctx: WsContext, id, payload) {
      const connection = connectionOf(ctx);
      const trace = traceFromHeader(undefined);
      const scope = pipeline.scope({ traceId: trace.traceId, log: connection.log });
      const refuse = (errors: readonly GraphQLError[]) => formatted(errors, scope);
      if (Object.keys(ctx.subscriptions).length > config.websocket.maxSubscriptionsPerConnection) {
        return refuse([
          refusal(appError('RATE_LIMITED', `At most ${config.websocket.maxSubscriptionsPerConnection} operations may run at once on one connection.`)),
        ]);
      }
      try {
        checkVariablesSize(payload.variables ? Buffer.byteLength(JSON.stringify(payload.variables)) : 0, limits);
      } catch (err) {
        return refuse([refusal(err)]);
      }
      const prepared = pipeline.prepare(payload, WEBSOCKET);
      if ('errors' in prepared) return refuse(prepared.errors);
      const subscription = prepared.operation.operation === 'subscription';
      const caller = await callerFor(connection, subscription);
      if ('error' in caller) return refuse([refusal(caller.error)]);
      const { session } = connection;
      // Refreshed when an event concerns the subscriber's own access (a share, a role or a
      // permission taken away), before any later event is checked.
      const signedIn: Caller = async (fresh) => {
        if (fresh) await session.refresh(fresh.after);
        return requireSignedIn(session.principal);
      };
      const context = deps.operationContext({
        trace,
        log: connection.log,
        client: connection.client,
        principal: caller.principal,
        feeds: connection.feeds,
        signedIn,
      });
      const admission = await pipeline.admit(payload, prepared, context);
      if ('errors' in admission) return refuse(admission.errors);
      connection.operations.set(id, context);
      finishers.set(context, admission.admitted.finish);
      return admission.admitted.args;
    },

    onOperation(_ctx, _id, _payload, args, result) {
      if (!isAsyncIterable(result)) finishers.get(args.contextValue as GraphqlContext)?.(result as ExecutionResult);
      return undefined;
    },

    onNext(_ctx, _id, _payload, args, result) {
      if (!result.errors?.length) return undefined;
      const context = args.contextValue as GraphqlContext;
      const errors = formatErrors(result.errors, pipeline.scope(context));
      return { ...result, errors } as unknown as ExecutionResult;
    },

    onError(ctx: WsContext, id, _payload, errors) {
      // Errors thrown by a running subscription (its access went, its session ended); those
      // onSubscribe returned are formatted already.
      if (errors.every((error) => error instanceof FormattedGraphqlError)) return errors;
      const context = ctx.extra.connection?.operations.get(id);
      const scope = pipeline.scope(context ?? { traceId: traceFromHeader(undefined).traceId, log: ctx.extra.request.log });
      return formatted(errors, scope);
    },

    onComplete(ctx: WsContext, id) {
      ctx.extra.connection?.operations.delete(id);
    },
  });

  /** What finishes each query or mutation (its cost in extensions, its duration in the metrics), by context. */
  const finishers = new WeakMap<GraphqlContext, (result: ExecutionResult) => ExecutionResult>();

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

  return handler;
}

/** An error already in the contract's shape, as graphql-ws sends it. */
class FormattedGraphqlError extends GraphQLError {}

function formatted(errors: readonly GraphQLError[], scope: ErrorScope): GraphQLError[] {
  return formatErrors(errors, scope).map(
    (error) => new FormattedGraphqlError(error.message, { extensions: error.extensions as unknown as Record<string, unknown>, path: error.path }),
  );
}

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
