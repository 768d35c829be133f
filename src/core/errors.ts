/**
 * The closed set of error codes of the public contract (DESIGN §5 "Errors").
 *
 * Every failure a client can see is one of these codes. Transports map them once:
 * REST in `api/errors.ts` (RFC 9457 problem+json), GraphQL in `api/graphql/errors.ts`
 * (`extensions.code`). `docs/errors.md` documents each code and a test keeps it in step.
 */
export const ERROR_CODES = {
  INVALID_INPUT: { status: 400, title: 'Invalid input' },
  UNAUTHORIZED: { status: 401, title: 'Unauthorized' },
  FORBIDDEN: { status: 403, title: 'Forbidden' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  CONFLICT: { status: 409, title: 'Conflict' },
  PRECONDITION_FAILED: { status: 412, title: 'Precondition failed' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'Payload too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  UNPROCESSABLE_ENTITY: { status: 422, title: 'Unprocessable entity' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  INTERNAL_ERROR: { status: 500, title: 'Internal error' },
  SERVICE_UNAVAILABLE: { status: 503, title: 'Service unavailable' },
  TIMEOUT: { status: 504, title: 'Timeout' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** A problem with one input field, reported in `errors` of a validation failure. */
export interface FieldError {
  /** Path of the field in the input, slash-separated when nested, e.g. `email` or `conditions/ownerId`. */
  field: string;
  message: string;
}

export interface AppErrorOptions {
  /** Field problems, for `INVALID_INPUT`. */
  errors?: FieldError[];
  /** Extra response headers the transport should send (e.g. `Retry-After`, `Allow`). */
  headers?: Record<string, string>;
  /** The underlying failure; logged on the server, never sent to a client. */
  cause?: unknown;
}

/**
 * An error whose code and detail are safe to show a client. Anything thrown that is not an
 * AppError is treated as a bug: the client sees `INTERNAL_ERROR`, the log sees everything.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, detail: string, options: AppErrorOptions = {}) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.errors = options.errors;
    this.headers = options.headers;
  }
}

/** The one factory for client-visible errors. */
export function appError(code: ErrorCode, detail: string, options?: AppErrorOptions): AppError {
  return new AppError(code, detail, options);
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}
