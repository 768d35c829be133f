import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ERROR_CODES, appError, isAppError, type ErrorCode } from '../core/errors.js';

/**
 * What any failure becomes for a client: a contract error (normalizeError), and for REST its
 * RFC 9457 problem+json body (DESIGN §5). GraphQL uses normalizeError too.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  code: ErrorCode;
  traceId: string;
  errors?: { field: string; message: string }[];
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

const CODE_BY_STATUS = new Map<number, ErrorCode>(
  (Object.entries(ERROR_CODES) as [ErrorCode, { status: number }][]).map(([code, { status }]) => [status, code]),
);

// Framework errors whose detail we phrase ourselves: their own messages can quote the body
// (V8's JSON errors include a snippet of the input, which may hold a password).
const FRAMEWORK_DETAILS: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'The request body must be application/json.',
  FST_ERR_CTP_BODY_TOO_LARGE: 'The request body is larger than this server accepts.',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'The request declares a JSON body but sends none.',
  FST_ERR_CTP_INVALID_JSON_BODY: 'The request body is not valid JSON.',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'The Content-Length header does not match the body.',
  FST_ERR_BAD_URL: 'The request URL is malformed.',
  FST_ERR_ASYNC_CONSTRAINT: 'The request could not be routed.',
  FST_ERR_MAX_PARAM_LENGTH: 'A path segment is too long.',
};

/**
 * The contract code for a framework error's status: its own where the closed set has one,
 * INVALID_INPUT for any other client error (414, 431, …), none for other server errors.
 */
function frameworkCode(status: number): ErrorCode | undefined {
  if (status >= 400 && status < 500) return CODE_BY_STATUS.get(status) ?? 'INVALID_INPUT';
  if (status === 503 || status === 504) return CODE_BY_STATUS.get(status);
  return undefined;
}

interface ValidationIssue {
  instancePath: string;
  message?: string;
  params?: Record<string, unknown>;
}

function fieldErrors(err: FastifyError): { field: string; message: string }[] {
  const context = (err as FastifyError & { validationContext?: string }).validationContext ?? 'body';
  return ((err.validation ?? []) as ValidationIssue[]).map((issue) => {
    const extra = issue.params?.additionalProperty ?? issue.params?.missingProperty;
    // Named as services name fields (`email`, `conditions/ownerId`), wherever they came
    // from; only a problem with the whole body, query or path names that part.
    const path = (issue.instancePath + (extra ? `/${String(extra)}` : '')).replace(/^\//, '');
    const message = issue.params?.additionalProperty ? 'is not an allowed field' : (issue.message ?? 'is invalid');
    return { field: path || context, message };
  });
}

/**
 * Turns anything thrown into a client-safe AppError. `internal` is true when the original
 * error was not meant for clients (a bug, a driver failure): callers log it in full.
 */
export function normalizeError(err: unknown): { error: AppError; internal: boolean } {
  // A contract error was raised on purpose, 5xx included (an unreachable database, a rate
  // limit store down): the handler logs it as a warning, without a stack; only INTERNAL_ERROR
  // is a bug.
  if (isAppError(err)) return { error: err, internal: err.code === 'INTERNAL_ERROR' };
  const e = err as FastifyError & { statusCode?: number };
  if (e && Array.isArray(e.validation)) {
    return { error: appError('INVALID_INPUT', 'The request is invalid.', { errors: fieldErrors(e) }), internal: false };
  }
  if (e && e instanceof SyntaxError && e.statusCode === 400) {
    return { error: appError('INVALID_INPUT', FRAMEWORK_DETAILS.FST_ERR_CTP_INVALID_JSON_BODY!), internal: false };
  }
  const status = typeof e?.statusCode === 'number' ? e.statusCode : 500;
  const code = frameworkCode(status);
  if (code) {
    const detail = (e.code && FRAMEWORK_DETAILS[e.code]) ?? (e.code?.startsWith('MER_ERR_') ? e.message : ERROR_CODES[code].title + '.');
    return { error: appError(code, detail), internal: false };
  }
  return { error: appError('INTERNAL_ERROR', 'An internal error occurred; quote the trace id when reporting it.'), internal: true };
}

export function problemBody(error: AppError, request: FastifyRequest): Problem {
  const body: Problem = {
    type: `urn:pcf:problem:${error.code.toLowerCase().replaceAll('_', '-')}`,
    title: ERROR_CODES[error.code].title,
    status: error.status,
    detail: error.message,
    // The path only: a query string can carry tokens.
    instance: request.url.split('?', 1)[0]!,
    code: error.code,
    traceId: request.trace.traceId,
  };
  if (error.errors?.length) body.errors = error.errors;
  return body;
}

export function sendProblem(reply: FastifyReply, error: AppError): FastifyReply {
  if (error.headers) reply.headers(error.headers);
  return reply
    .code(error.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(problemBody(error, reply.request)));
}
