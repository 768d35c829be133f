import type { FastifyBaseLogger } from 'fastify';
import { GraphQLError } from 'graphql';
import { normalizeError } from '../problem.js';

interface ResolverContext {
  trace?: { traceId: string };
  log?: FastifyBaseLogger;
}

type Resolver = (parent: unknown, args: unknown, context: ResolverContext, info: unknown) => unknown;
type ResolverMap = Record<string, Record<string, unknown>>;

/**
 * Turns whatever a resolver throws into a GraphQL error that is safe to send: a contract
 * error keeps its code and detail, anything else says only INTERNAL_ERROR and is logged.
 *
 * It sits on the resolvers so an error is classified, and an internal one logged with its
 * trace id, where it happens, whichever transport ran the operation; the formatter then
 * only copies the code and field list that this put in `extensions`.
 */
export function toClientError(err: unknown, context: ResolverContext): GraphQLError {
  if (err instanceof GraphQLError) return err;
  const { error, internal } = normalizeError(err);
  const traceId = context.trace?.traceId ?? '';
  if (internal) context.log?.error({ err, traceId }, 'GraphQL resolver failed');
  return new GraphQLError(error.message, {
    originalError: error,
    extensions: { code: error.code, traceId, ...(error.errors?.length ? { errors: error.errors } : {}) },
  });
}

/** Wraps every resolver function of a resolver map with `toClientError`. */
export function withClientErrors<T extends ResolverMap>(resolvers: T): T {
  const wrapped: ResolverMap = {};
  for (const [typeName, fields] of Object.entries(resolvers)) {
    // Scalars (GraphQLScalarType instances) are not resolver maps: kept as they are.
    if (Object.getPrototypeOf(fields) !== Object.prototype) {
      wrapped[typeName] = fields;
      continue;
    }
    wrapped[typeName] = Object.fromEntries(
      Object.entries(fields).map(([field, resolve]) => {
        if (typeof resolve !== 'function') return [field, resolve];
        const fn = resolve as Resolver;
        // Synchronous results stay synchronous: no promise per field on hot list paths.
        const safe: Resolver = (parent, args, context, info) => {
          try {
            const result = fn(parent, args, context, info);
            return result instanceof Promise ? result.catch((err: unknown) => Promise.reject(toClientError(err, context))) : result;
          } catch (err) {
            throw toClientError(err, context);
          }
        };
        return [field, safe];
      }),
    );
  }
  return wrapped as T;
}
