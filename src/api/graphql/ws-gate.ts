import type { FastifyInstance } from 'fastify';
import type { Principal } from '../../services/auth/principals.js';
import { bearerToken } from '../../services/auth/tokens.js';
import type { Identity } from '../../services/identity.js';
import { ConnectionSlots } from '../gateway/connection-slots.js';
import { callerKey } from '../gateway/rate-limit.js';

/**
 * Close codes of the graphql-transport-ws protocol (and of the cap on connections per user,
 * which graphql-ws clients, like the protocol's own 44xx codes, do not retry).
 */
export const CLOSE = {
  initTimeout: 4408,
  tooManyInits: 4429,
  tooManyConnections: 4429,
} as const;

type Socket = { close(code: number, reason: string): void; once(event: 'close', listener: () => void): unknown };

/** What mercurius's connection object offers onConnect, which it calls as a method. */
interface Connection {
  context?: { client?: { ip?: string } };
  socket?: Socket;
}

export interface ConnectionGateOptions {
  identity: Identity;
  maxConnectionsPerUser: number;
  initTimeoutMs: number;
}

/**
 * The gate of a WebSocket connection: `connection_init` must come within the init timeout
 * (else 4408), once (a second one is 4429, as graphql-transport-ws says), with a token that
 * authenticates (else the connection is refused), and the caller must have a connection slot
 * free (else 4429). The slot is held until the socket closes.
 */
export function connectionGate(app: FastifyInstance, options: ConnectionGateOptions) {
  const slots = new ConnectionSlots(options.maxConnectionsPerUser);
  const admitted = new WeakSet<object>();

  app.websocketServer.on('connection', (socket: Socket) => {
    const timer = setTimeout(() => {
      if (!admitted.has(socket)) socket.close(CLOSE.initTimeout, 'Connection initialisation timeout');
    }, options.initTimeoutMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  });

  return async function onConnect(this: Connection, { payload }: { payload?: Record<string, unknown> }) {
    const socket = this.socket;
    // mercurius also calls onConnect for a repeated connection_init and for a
    // `connectionInit` extension on an operation: neither may take another slot.
    if (socket && admitted.has(socket)) {
      socket.close(CLOSE.tooManyInits, 'Too many initialisation requests');
      return false;
    }
    const header = payload?.authorization ?? payload?.Authorization;
    let principal: Principal | undefined;
    let token: string | undefined;
    if (header !== undefined) {
      token = typeof header === 'string' ? (bearerToken(header) ?? '') : '';
      try {
        principal = await options.identity.auth.authenticate(token);
      } catch {
        return false;
      }
    }
    const release = slots.acquire(callerKey(principal, this.context?.client?.ip ?? ''));
    if (!release) {
      socket?.close(CLOSE.tooManyConnections, `at most ${slots.max} connections per user`);
      return false;
    }
    if (socket) {
      admitted.add(socket);
      socket.once('close', release);
    }
    // releaseSlot also goes to onDisconnect, should mercurius ever not expose the socket.
    return { wsToken: token, releaseSlot: release };
  };
}
