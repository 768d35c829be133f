import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths pino censors wherever they appear in a log record. Secrets must never reach a log
 * line, so anything that might carry one is listed, at the depths it is logged.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'password',
  'newPassword',
  'currentPassword',
  'token',
  'passwordHash',
  'password_hash',
  '*.password',
  '*.newPassword',
  '*.currentPassword',
  '*.token',
  '*.passwordHash',
  '*.password_hash',
  '*.authorization',
  'config.database.url',
  'config.redis.url',
];

/**
 * The fields a request's logger adds to each of its lines (the request id and trace id),
 * kept on the logger instance and merged in by the root's `mixin` when a line is written.
 * Bound with `child()`, they would be serialised once per request through the redaction of
 * the wildcard paths above, about 5 µs, a tenth of a small request's CPU, whether the
 * request logs anything or not (at the production level, a successful request logs nothing).
 */
const REQUEST_FIELDS = Symbol('pcf.requestFields');

type WithRequestFields = { [REQUEST_FIELDS]?: Readonly<Record<string, string>> };

/**
 * A logger for one request: every line it writes, and every line of loggers made from it
 * with `child()`, carries `fields` (request id, trace id) as if they were bindings.
 */
export function requestLogger(parent: Logger, fields: Readonly<Record<string, string>>, options: Parameters<Logger['child']>[1] = {}): Logger {
  const child = parent.child<never>({}, options);
  (child as unknown as WithRequestFields)[REQUEST_FIELDS] = fields;
  return child;
}

// A new object each time: pino merges the line's own fields into it.
const requestFieldsOf = (logger: Logger): Record<string, string> => {
  const fields = (logger as unknown as WithRequestFields)[REQUEST_FIELDS];
  return fields ? { ...fields } : {};
};

export interface LoggerOptions {
  level: string;
  /** Where lines go; stdout when absent. Tests pass a stream to read the output. */
  destination?: DestinationStream;
}

/**
 * The root logger: one JSON object per line (through `moduleLogger`) with `timestamp`, `level` (as a word),
 * `module`, `traceId` where a request is involved, and `msg`.
 */
export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      // No `module` here: pino would repeat a key a child binds again, so every module
      // (the server itself too) logs through moduleLogger().
      base: undefined,
      messageKey: 'msg',
      timestamp: () => `,"timestamp":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      mixin: (_fields, _level, logger) => requestFieldsOf(logger),
    },
    // Synchronous writes: a fatal line logged just before exit must not be lost in a buffer.
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A logger for one module: every line it writes names the module. */
export function moduleLogger(root: Logger, module: string): Logger {
  return root.child({ module });
}
