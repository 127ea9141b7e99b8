/**
 * The error every client call throws for a non-2xx answer, carrying the API's stable code.
 * The API's error shape is `{"error":{"code":"TRIPLANE_ERR_…","message":"…","details":…}}`.
 *
 * `status === 0` means the API could not be reached at all (connection refused, DNS, TLS,
 * aborted); its code is then `TRIPLANE_ERR_UNREACHABLE`.
 *
 * Example:
 *   try { await client.sites.get(id) } catch (e) {
 *     if (e instanceof TriplaneApiError && e.status === 404) …
 *   }
 */
export class TriplaneApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;

  constructor(status: number, code: string, message: string, details?: unknown, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TriplaneApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }

  /** True when the API was not reached (network error, refused connection, aborted request). */
  get unreachable(): boolean {
    return this.code === UNREACHABLE_CODE;
  }
}

export const UNREACHABLE_CODE = 'TRIPLANE_ERR_UNREACHABLE';

export function isTriplaneApiError(e: unknown): e is TriplaneApiError {
  return e instanceof TriplaneApiError;
}

/** Build the error from a response body; tolerates bodies that are not the error shape. */
export function errorFromBody(status: number, body: unknown, fallbackText: string): TriplaneApiError {
  const err = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
  if (err && typeof err.code === 'string') {
    return new TriplaneApiError(status, err.code, typeof err.message === 'string' ? err.message : err.code, err.details);
  }
  const code = status >= 500 ? 'TRIPLANE_ERR_INTERNAL' : 'TRIPLANE_ERR_BAD_REQUEST';
  return new TriplaneApiError(status, code, fallbackText || `HTTP ${status}`);
}
