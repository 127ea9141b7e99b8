/**
 * Staging sites (`noindex: true` in the site config; environments created by
 * POST /sites/{id}/staging): every response the edge sends for their hosts carries
 * `X-Robots-Tag: noindex, nofollow` — cache hits included, on both the fast path (fastpath.ts)
 * and node:http (proxy.ts `head()`) — and the edge answers `/robots.txt` itself with
 * `Disallow: /`, whatever the origin (or an object cached before) says. robots.txt is answered
 * before Basic auth: a crawler that gets 401 for robots.txt may treat the site as unrestricted.
 */
export const NOINDEX_VALUE = 'noindex, nofollow';

export const ROBOTS_BODY = Buffer.from('User-agent: *\nDisallow: /\n');

/** `/robots.txt`, with or without a query (the request-target as sent). */
export function isRobotsTxt(target: string): boolean {
  return target === '/robots.txt' || target.startsWith('/robots.txt?');
}
