import { type Logger, type LoggerOptions, pino } from 'pino';

export type { Logger };

/**
 * Paths that must never reach a log line. pino's redaction runs on every log call,
 * so secrets passed by mistake are replaced, not written.
 */
export const REDACT_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
];

export function createLogger(name: string, options: LoggerOptions = {}): Logger {
  return pino({
    name,
    level: process.env.TRIPLANE_LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    ...options,
  });
}

/** A logger that writes nothing: for tests and library defaults. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
