import { GraphQLError } from 'graphql';
import { appError, isAppError, type AppError, type FieldError } from '../../core/errors.js';
import { normalizeError } from '../problem.js';
import { withoutSuggestions } from './suggestions.js';

/** Where errors are formatted: the operation's trace and logger, and whether the schema may be named. */
export interface ErrorScope {
  traceId: string;
  log: { error(details: object, message: string): void };
  /** With introspection off, no "Did you mean …" may enumerate the schema either. */
  hideSuggestions: boolean;
}

export interface FormattedError {
  message: string;
  locations?: readonly { line: number; column: number }[];
  path?: readonly (string | number)[];
  extensions: { code: string; traceId: string; errors?: FieldError[] };
}

/**
 * A failure outside execution (a limit, the budget, a refused operation) as a GraphQL error;
 * the formatter reads its code, status and field list from the AppError it carries.
 */
export function refusal(err: unknown): GraphQLError {
  if (err instanceof GraphQLError) return err;
  return new GraphQLError(err instanceof Error ? err.message : 'The operation was refused.', { originalError: err instanceof Error ? err : undefined });
}

export const invalidOperation = (message: string) => refusal(appError('INVALID_INPUT', message));

/**
 * What a thrown error means to the client: a contract error as it is, anything else
 * INTERNAL_ERROR (and logged). GraphQL has no If-Match, so a stale expected revision is
 * a CONFLICT here rather than REST's 412.
 */
function classify(original: Error, scope: ErrorScope, path: GraphQLError['path']): { error: AppError; internal: boolean } {
  const { error, internal } = normalizeError(original);
  if (internal) scope.log.error({ err: original, path, traceId: scope.traceId }, 'GraphQL operation failed');
  if (error.code === 'PRECONDITION_FAILED') return { error: appError('CONFLICT', error.message, { errors: error.errors }), internal };
  return { error, internal };
}

/** The AppError an error stands for, if it was thrown rather than reported by graphql-js. */
function thrownOf(error: GraphQLError): Error | undefined {
  let original = error.originalError;
  // graphql-js wraps a GraphQLError thrown without a path (a subscription's, a scalar's) in another.
  while (original instanceof GraphQLError) original = original.originalError;
  return original ?? undefined;
}

/**
 * The one GraphQL error formatter, for HTTP and WebSocket alike: every error carries
 * `extensions.code` from the closed set and the operation's `traceId`; unknown errors say
 * only INTERNAL_ERROR and are logged here, with their trace id and path. Errors graphql-js
 * reports itself (syntax, validation, variable coercion) are the caller's: INVALID_INPUT
 * unless a rule set another code.
 */
export function formatError(error: GraphQLError, scope: ErrorScope): FormattedError {
  const thrown = thrownOf(error);
  let formatted: FormattedError;
  if (thrown) {
    const { error: app } = classify(thrown, scope, error.path);
    formatted = { message: app.message, extensions: { code: app.code, traceId: scope.traceId } };
    if (app.errors?.length) formatted.extensions.errors = app.errors;
  } else {
    const code = typeof error.extensions?.code === 'string' ? error.extensions.code : 'INVALID_INPUT';
    formatted = { message: scope.hideSuggestions ? withoutSuggestions(error.message) : error.message, extensions: { code, traceId: scope.traceId } };
  }
  if (error.locations) formatted.locations = error.locations;
  if (error.path) formatted.path = error.path;
  return formatted;
}

export function formatErrors(errors: readonly GraphQLError[], scope: ErrorScope): FormattedError[] {
  return errors.map((error) => formatError(error, scope));
}

/**
 * The HTTP status of an operation refused before it ran: the first error's (413 for
 * variables too large, 429 past a budget, 405 for a mutation over GET), else 400. An
 * operation that ran answers 200 with its partial data, as GraphQL over HTTP asks.
 */
export function refusalStatus(errors: readonly GraphQLError[]): number {
  const first = errors[0] && thrownOf(errors[0]);
  return isAppError(first) ? (first.code === 'PRECONDITION_FAILED' ? 409 : first.status) : first ? normalizeError(first).error.status : 400;
}

/** Headers a refusal asks for (Retry-After and RateLimit past a budget). */
export function refusalHeaders(errors: readonly GraphQLError[]): Record<string, string> | undefined {
  const first = errors[0] && thrownOf(errors[0]);
  return isAppError(first) ? first.headers : undefined;
}
