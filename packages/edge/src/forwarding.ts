import type { HeaderMap } from '@triplane/cache';

/**
 * Client-supplied headers that claim something about the connection or rewrite the request
 * (spec §5.7, check 6.5.51). Removed before anything else sees the request; the edge then sets
 * its own trusted X-Forwarded-* values.
 */
export const UNTRUSTED_REQUEST_HEADERS = [
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-forwarded-server',
  'x-forwarded-prefix',
  'x-forwarded-ssl',
  'x-forwarded-scheme',
  'x-url-scheme',
  'front-end-https',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'x-cluster-client-ip',
  'x-original-url',
  'x-rewrite-url',
  'x-original-host',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'via',
];

const UNTRUSTED = new Set(UNTRUSTED_REQUEST_HEADERS);

export function stripUntrusted(h: HeaderMap): HeaderMap {
  const out: HeaderMap = {};
  for (const k in h) {
    const v = h[k];
    if (v !== undefined && !UNTRUSTED.has(k)) out[k] = v;
  }
  return out;
}

/** Headers added to every origin request. */
export function trustedForwarding(clientIp: string, scheme: 'http' | 'https', host: string): HeaderMap {
  return {
    host,
    'x-forwarded-for': clientIp,
    'x-real-ip': clientIp,
    'x-forwarded-proto': scheme,
    'x-forwarded-host': host,
  };
}
