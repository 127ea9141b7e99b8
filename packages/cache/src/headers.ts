/**
 * Header maps as the engine sees them: lower-case names, a string per field (repeated fields
 * joined with ", " as node:http does) except `set-cookie`, which stays an array.
 * The engine never mutates a map it was given; every helper returns a copy.
 */
export type HeaderValue = string | string[];
export type HeaderMap = Record<string, HeaderValue | undefined>;

/** Hop-by-hop headers (RFC 9110 §7.6.1) plus the proxy ones node never forwards. */
export const HOP_BY_HOP = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
];

/** Headers a cacheable miss never forwards (Varnish `http_headers.h` flag F, spec §1.3). */
export const FETCH_FILTERED = [
  'range',
  'if-range',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
  'content-range',
  'accept-ranges',
  'content-length',
  'expect',
];

/** Tag and surrogate headers the client must never see (spec §3.5, check 6.5.54). */
export const INTERNAL_RESPONSE_HEADERS = [
  'x-magento-tags',
  'surrogate-key',
  'cache-tag',
  'xkey',
  'surrogate-control',
  'x-magento-debug',
  'x-pool',
];

export function first(v: HeaderValue | undefined): string | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v[0] : v;
}

/** All field lines of a header joined the way RFC 9110 §5.3 allows (", "). */
export function joined(v: HeaderValue | undefined): string | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : v;
}

export function without(h: HeaderMap, names: readonly string[]): HeaderMap {
  const out: HeaderMap = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !names.includes(k)) out[k] = v;
  return out;
}

/** Removes hop-by-hop headers and every header nominated by `Connection` (RFC 9110 §7.6.1). */
export function stripHopByHop(h: HeaderMap): HeaderMap {
  const nominated = (joined(h.connection) ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  return without(h, [...HOP_BY_HOP, ...nominated]);
}

export function headerBytes(h: HeaderMap): number {
  let n = 0;
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    for (const s of Array.isArray(v) ? v : [v]) n += k.length + s.length + 4;
  }
  return n;
}
