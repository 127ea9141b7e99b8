import { TriplaneApiError, TriplaneClient } from '@triplane/client';

/** The CSRF cookie the API sets at sign-in (readable by scripts, unlike the session cookie). */
const CSRF_COOKIE = 'triplane_csrf';

/** The CSRF token kept in its cookie, so a reload keeps working without signing in again. */
export function csrfFromCookie(): string | undefined {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === CSRF_COOKIE) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

/**
 * A client for this origin's API with the browser session: cookies are sent (`credentials`),
 * and every call carries the double-submit CSRF token in `x-csrf-token` (the API checks it on
 * mutating calls only; sending it always is harmless).
 */
export function makeClient(csrf: string | undefined): TriplaneClient {
  return new TriplaneClient({
    baseUrl: window.location.origin,
    credentials: 'include',
    headers: csrf ? { 'x-csrf-token': csrf } : {},
  });
}

export interface ShownError {
  code: string;
  message: string;
  status: number;
}

/** Any thrown thing as the API's (code, message); unexpected errors keep their message. */
export function toShownError(e: unknown): ShownError {
  if (e instanceof TriplaneApiError) return { code: e.code, message: e.message, status: e.status };
  const msg = e instanceof Error ? e.message : String(e);
  return { code: 'TRIPLANE_ERR_CLIENT', message: msg, status: 0 };
}

export function isUnauthenticated(e: unknown): boolean {
  return e instanceof TriplaneApiError && e.status === 401;
}

/** A route that does not exist on this API (the feature isn't built yet), as opposed to a missing object. */
export function isMissingRoute(e: unknown): boolean {
  return e instanceof TriplaneApiError && e.status === 404 && /^no route for /.test(e.message);
}
