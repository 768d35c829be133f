import { appError, isAppError, type AppError } from '../../core/errors.js';

/**
 * PostgreSQL SQLSTATE codes (https://www.postgresql.org/docs/current/errcodes-appendix.html)
 * turned into contract errors where the driver is called, so no service ever inspects a
 * driver error and no client ever sees SQL. The original error travels as `cause` for the log.
 */
const BY_SQLSTATE: Record<string, (err: unknown) => AppError> = {
  '23505': (cause) => appError('CONFLICT', 'A record with the same unique value already exists.', { cause }),
  '23503': (cause) => appError('CONFLICT', 'The change conflicts with a related record.', { cause }),
  '23001': (cause) => appError('CONFLICT', 'The record is still referenced by other records.', { cause }),
  '23514': (cause) => appError('INVALID_INPUT', 'A value is outside what the field allows.', { cause }),
  '23502': (cause) => appError('INVALID_INPUT', 'A required value is missing.', { cause }),
  '22001': (cause) => appError('INVALID_INPUT', 'A value is too long.', { cause }),
  '22003': (cause) => appError('INVALID_INPUT', 'A number is out of range.', { cause }),
  '22P05': (cause) => appError('INVALID_INPUT', 'A value holds a character that cannot be stored (U+0000).', { cause }),
  '22021': (cause) => appError('INVALID_INPUT', 'A value holds a character that cannot be stored (U+0000).', { cause }),
  '22P02': (cause) => appError('INVALID_INPUT', 'A value has the wrong format.', { cause }),
  '22007': (cause) => appError('INVALID_INPUT', 'A date or time has the wrong format.', { cause }),
  '22008': (cause) => appError('INVALID_INPUT', 'A date or time is out of range.', { cause }),
  '40001': (cause) => appError('CONFLICT', 'A concurrent change got there first; retry the request.', { cause }),
  '40P01': (cause) => appError('CONFLICT', 'A concurrent change got there first; retry the request.', { cause }),
  '57014': (cause) => appError('TIMEOUT', 'The database took too long to answer.', { cause }),
};

// Classes 08 (connection), 53 (insufficient resources) and 57P0x (server shutting down).
const UNAVAILABLE_SQLSTATE = /^(08|53|57P0)/;
// EAI_AGAIN: the database's DNS name does not resolve yet, as when a cluster is starting.
const UNAVAILABLE_NODE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH']);
const UNAVAILABLE_MESSAGE = /(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|PGlite is closed)/i;

/** The contract error for a database failure; unknown failures are returned unchanged. */
export function translateDbError(err: unknown): unknown {
  if (isAppError(err) || typeof err !== 'object' || err === null) return err;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    const translate = BY_SQLSTATE[code];
    if (translate) return translate(err);
    if (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_NODE.has(code)) {
      return appError('SERVICE_UNAVAILABLE', 'The database is unavailable.', { cause: err, headers: { 'retry-after': '5' } });
    }
  }
  if (err instanceof Error && UNAVAILABLE_MESSAGE.test(err.message)) {
    return appError('SERVICE_UNAVAILABLE', 'The database is unavailable.', { cause: err, headers: { 'retry-after': '5' } });
  }
  return withoutParameters(err);
}

/**
 * PGlite attaches the statement and its bind parameters to its errors; an unexpected one is
 * logged in full, and parameters may hold personal data or secrets. Keep only what tells
 * an operator what failed.
 */
function withoutParameters(err: object): unknown {
  if (!('params' in err) && !('query' in err)) return err;
  const { message, code, severity, detail, hint, table, column, constraint } = err as Record<string, unknown>;
  const clean = new Error(String(message));
  Object.assign(clean, { name: 'DatabaseError', code, severity, detail, hint, table, column, constraint });
  return clean;
}

/** The constraint a translated CONFLICT or INVALID_INPUT violated, for callers that word it better. */
export function violatedConstraint(err: unknown): string | undefined {
  const cause = isAppError(err) ? (err.cause as { constraint?: unknown } | undefined) : undefined;
  return typeof cause?.constraint === 'string' ? cause.constraint : undefined;
}
