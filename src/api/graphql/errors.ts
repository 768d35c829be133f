import type { FastifyBaseLogger } from 'fastify';
import { GraphQLError, type ExecutionResult } from 'graphql';
import { normalizeError } from '../problem.js';

/** What the formatter needs from a mercurius context, HTTP or WebSocket. */
interface FormatContext {
  reply?: { request: { trace: { traceId: string }; log: FastifyBaseLogger } };
  app: { log: FastifyBaseLogger };
  trace?: { traceId: string };
}

interface FormattedError {
  message: string;
  locations?: readonly { line: number; column: number }[];
  path?: readonly (string | number)[];
  extensions: { code: string; traceId: string; errors?: { field: string; message: string }[] };
}

/**
 * Mercurius wraps request failures in one error holding the real ones. Inner GraphQL errors
 * stand for themselves; a plain inner error takes the wrapper's status (e.g. 405 for a
 * mutation sent with GET).
 */
function flatten(errors: readonly GraphQLError[]): GraphQLError[] {
  return errors.flatMap((error) => {
    const wrapper = error.originalError as (Error & { errors?: unknown }) | undefined;
    if (!wrapper || !Array.isArray(wrapper.errors)) return [error];
    return wrapper.errors.map((inner: unknown) => (inner instanceof GraphQLError ? inner : new GraphQLError(wrapper.message, { originalError: wrapper })));
  });
}

/**
 * The one GraphQL error formatter: every error carries `extensions.code` from the closed set
 * and the request's `traceId`; unknown errors say only INTERNAL_ERROR and are logged here.
 * A request refused before execution (parse, validation, limits) answers with its HTTP
 * status; errors during execution answer 200 with partial data, as GraphQL over HTTP asks.
 */
export function formatGraphqlErrors(execution: ExecutionResult & { statusCode?: number }, context: FormatContext) {
  const traceId = context.trace?.traceId ?? context.reply?.request.trace.traceId ?? '';
  const log = context.reply?.request.log ?? context.app.log;
  let status = 200;
  const errors: FormattedError[] = flatten(execution.errors ?? []).map((error, index) => {
    const original = error.originalError;
    // A GraphQLError of its own (parse, validation, variable coercion) is the caller's doing.
    const isRequestError = !original || original instanceof GraphQLError;
    const { error: appErr, internal } = isRequestError ? { error: null, internal: false } : normalizeError(original);
    if (internal) log.error({ err: original, path: error.path }, 'GraphQL resolver failed');
    const code = appErr?.code ?? (error.extensions?.code as string | undefined) ?? 'INVALID_INPUT';
    if (index === 0) status = appErr?.status ?? 400;
    const formatted: FormattedError = {
      message: appErr ? appErr.message : error.message,
      extensions: { code, traceId },
    };
    if (error.locations) formatted.locations = error.locations;
    if (error.path) formatted.path = error.path;
    // A resolver's contract error reaches here re-wrapped by graphql-js, its field list
    // already in extensions (see resolvers.ts); a transport-level one still has it on appErr.
    const fields = appErr?.errors ?? (error.extensions?.errors as FormattedError['extensions']['errors']);
    if (fields?.length) formatted.extensions.errors = fields;
    return formatted;
  });
  const executed = 'data' in execution;
  return {
    statusCode: executed ? 200 : status,
    response: { data: execution.data ?? null, errors },
  };
}
