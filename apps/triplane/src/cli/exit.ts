import { TriplaneApiError } from '@triplane/client';

/**
 * Exit codes scripts can trust (documented in docs/cli.md). One meaning per code; a new
 * failure kind gets a new code rather than reusing one.
 */
export const EXIT = {
  ok: 0,
  /** the API refused the request or an operation failed (the code is on stderr) */
  error: 1,
  /** bad command line: unknown verb or option, missing argument, bad value */
  usage: 2,
  /** not authenticated (no, wrong, expired or revoked token) or forbidden */
  auth: 3,
  notFound: 4,
  /** conflict: already exists, or the resource's state forbids the change */
  conflict: 5,
  /** a job the command waited for ended failed or cancelled */
  jobFailed: 6,
  /** the API could not be reached */
  unreachable: 7,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports as one line on stderr and turns into an exit code. */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  readonly code: string | undefined;
  constructor(exitCode: ExitCode, message: string, code?: string) {
    super(message);
    this.name = 'CliError';
    this.exitCode = exitCode;
    this.code = code;
  }
}

export function usageError(message: string): CliError {
  return new CliError(EXIT.usage, message, 'TRIPLANE_ERR_USAGE');
}

export function notFoundError(message: string): CliError {
  return new CliError(EXIT.notFound, message, 'TRIPLANE_ERR_NOT_FOUND');
}

export function exitCodeForStatus(status: number, code: string): ExitCode {
  if (code === 'TRIPLANE_ERR_UNREACHABLE') return EXIT.unreachable;
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 404) return EXIT.notFound;
  if (status === 409) return EXIT.conflict;
  return EXIT.error;
}

/** The exit code and the stderr line for anything thrown by a command. */
export function describeFailure(e: unknown): { exitCode: ExitCode; line: string } {
  if (e instanceof CliError) {
    return { exitCode: e.exitCode, line: e.code ? `${e.message} (${e.code})` : e.message };
  }
  if (e instanceof TriplaneApiError) {
    return { exitCode: exitCodeForStatus(e.status, e.code), line: `${e.message} (${e.code})` };
  }
  const te = e as { code?: unknown; message?: unknown };
  if (e instanceof Error && typeof te.code === 'string' && te.code.startsWith('TRIPLANE_ERR_')) {
    return { exitCode: te.code === 'TRIPLANE_ERR_CONFIG' ? EXIT.usage : EXIT.error, line: `${e.message} (${te.code})` };
  }
  return { exitCode: EXIT.error, line: e instanceof Error ? e.message : String(e) };
}
