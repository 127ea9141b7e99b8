/**
 * Errors with stable codes. Engines throw (or return) a TriplaneError for faults the
 * caller can act on; the HTTP status mapping happens at the boundary (control's api),
 * never here (house rule 5).
 *
 * Example:
 *   throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'site not found', { id });
 */
export const ERROR_CODES = [
  'TRIPLANE_ERR_BAD_REQUEST',
  'TRIPLANE_ERR_MALFORMED_JSON',
  'TRIPLANE_ERR_VALIDATION',
  'TRIPLANE_ERR_UNAUTHENTICATED',
  'TRIPLANE_ERR_FORBIDDEN',
  'TRIPLANE_ERR_CSRF',
  'TRIPLANE_ERR_NOT_FOUND',
  'TRIPLANE_ERR_METHOD_NOT_ALLOWED',
  'TRIPLANE_ERR_CONFLICT',
  'TRIPLANE_ERR_ALREADY_EXISTS',
  'TRIPLANE_ERR_PRECONDITION_FAILED',
  'TRIPLANE_ERR_PAYLOAD_TOO_LARGE',
  'TRIPLANE_ERR_UNSUPPORTED_MEDIA_TYPE',
  'TRIPLANE_ERR_UNPROCESSABLE',
  'TRIPLANE_ERR_RATE_LIMITED',
  'TRIPLANE_ERR_JOB_CANCELLED',
  'TRIPLANE_ERR_JOB_FAILED',
  'TRIPLANE_ERR_STORE',
  'TRIPLANE_ERR_CONFIG',
  'TRIPLANE_ERR_PRECONDITION',
  'TRIPLANE_ERR_UNAVAILABLE',
  'TRIPLANE_ERR_TIMEOUT',
  'TRIPLANE_ERR_INTERNAL',
  // Backup store (restic), see packages/agent/src/backup/README.md.
  'TRIPLANE_ERR_BACKUP_REPO_NOT_FOUND',
  'TRIPLANE_ERR_BACKUP_REPO_CORRUPT',
  'TRIPLANE_ERR_BACKUP_REPO_LOCKED',
  'TRIPLANE_ERR_BACKUP_WRONG_PASSWORD',
  'TRIPLANE_ERR_BACKUP_SNAPSHOT_NOT_FOUND',
  'TRIPLANE_ERR_BACKUP_PATH_NOT_FOUND',
  'TRIPLANE_ERR_BACKUP_NO_SPACE',
  'TRIPLANE_ERR_BACKUP_SOURCE_FAILED',
  'TRIPLANE_ERR_BACKUP_FAILED',
  'TRIPLANE_ERR_BACKUP_CANCELLED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number] | `TRIPLANE_ERR_${string}`;

export class TriplaneError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, details?: unknown, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TriplaneError';
    this.code = code;
    this.details = details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: unknown } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export function isTriplaneError(e: unknown): e is TriplaneError {
  return e instanceof TriplaneError;
}

export function notFound(what: string, details?: unknown): TriplaneError {
  return new TriplaneError('TRIPLANE_ERR_NOT_FOUND', `${what} not found`, details);
}

export function conflict(message: string, details?: unknown): TriplaneError {
  return new TriplaneError('TRIPLANE_ERR_CONFLICT', message, details);
}

export function forbidden(message = 'you are not allowed to do this', details?: unknown): TriplaneError {
  return new TriplaneError('TRIPLANE_ERR_FORBIDDEN', message, details);
}

export function validation(message: string, details?: unknown): TriplaneError {
  return new TriplaneError('TRIPLANE_ERR_VALIDATION', message, details);
}
