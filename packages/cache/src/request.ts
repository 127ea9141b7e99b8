import type { HeaderMap } from './headers.ts';

/**
 * A client request as the engine sees it. The adapter has already parsed absolute-form targets
 * (RFC 9112 §3.2.2), normalised and routed the Host, and removed client-supplied forwarding
 * headers (spec §5.7); `scheme` comes from the listener, never from a client header.
 */
export interface CacheRequest {
  /** Upper-case method. */
  method: string;
  /** Origin-form target: path and query exactly as received. */
  url: string;
  /** Normalised host: lower-case, no port, no trailing dot; a configured site host. */
  host: string;
  scheme: 'http' | 'https';
  headers: HeaderMap;
  /** The client address is in the site's purge ACL. */
  purgeAllowed: boolean;
}

/** The request the adapter sends to the origin (hop-by-hop and forwarding headers are the adapter's). */
export interface OriginRequest {
  method: string;
  url: string;
  headers: HeaderMap;
  /** Forward the client's request body (passes only). */
  forwardBody: boolean;
}

/** What the adapter writes to the client. `body: null` = no body (HEAD, 304). */
export interface ClientResponse {
  status: number;
  headers: HeaderMap;
  body: Buffer | null;
  cacheStatus: CacheStatus;
  /** The body carries ESI markup: the adapter must resolve includes and fix Content-Length. */
  esi?: boolean;
}

export type CacheStatus = 'HIT' | 'STALE' | 'MISS' | 'PASS' | 'HFM' | 'SYNTH' | 'PURGE' | 'ERROR';

export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

export function queryOf(url: string): URLSearchParams {
  const q = url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
}
