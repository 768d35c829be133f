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
    },
    // Synchronous writes: a fatal line logged just before exit must not be lost in a buffer.
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** A logger for one module: every line it writes names the module. */
export function moduleLogger(root: Logger, module: string): Logger {
  return root.child({ module });
}
