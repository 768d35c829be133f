import { isPcfError, type FieldError } from '@pcf/sdk';

/** What a person is told about a failed call: a sentence, and the trace id support asks for. */
export interface Explained {
  message: string;
  traceId?: string;
  /** The server's field errors, by field path (`data/title`, `conditions/$or/0`). */
  fields: FieldError[];
  code?: string;
}

/** Where the server's own message is not the best thing to tell a person. */
const BY_CODE: Record<string, string> = {
  NETWORK_ERROR: 'The server could not be reached. Check the connection and try again.',
  RATE_LIMITED: 'Too many requests in a short time. Wait a moment and try again.',
  SERVICE_UNAVAILABLE: 'The server is busy or restarting. Try again shortly.',
};

export function explain(error: unknown): Explained {
  if (isPcfError(error)) {
    const message = BY_CODE[error.code] ?? (error.message || 'Something went wrong.');
    return { message, traceId: error.traceId, fields: error.errors, code: error.code };
  }
  return { message: error instanceof Error ? error.message : 'Something went wrong.', fields: [] };
}
