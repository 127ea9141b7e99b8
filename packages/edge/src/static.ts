import { type HeaderMap, pathOf } from '@triplane/cache';

/**
 * Browser-cache headers for static assets (per site `static:` in the config). A delivery concern
 * only: it runs after the cache engine, so it never changes what the cache stores or for how long
 * (the cache's TTL comes from the origin's headers and the profile, spec §1.4). It fills a gap, never
 * overrides: a response that already says `Cache-Control`, `Expires` or `Pragma` (the origin's explicit
 * `no-store`/`private`, Magento's delivery rewrite) or sets a cookie is left as it is.
 *
 *   GET /wp-content/themes/x/style.css → origin 200 without Cache-Control
 *   → client sees `Cache-Control: public, max-age=2592000` (+ `, immutable` when configured)
 */
export interface StaticPolicy {
  /** max-age sent to browsers, seconds; 0 turns the policy off. */
  maxAgeS: number;
  /** Add `immutable` (only for fingerprinted/versioned asset URLs: browsers will not even revalidate). */
  immutable: boolean;
  /** Lower-case file extensions without the dot. */
  extensions: string[];
}

/** 30 days: long enough for repeat visits, short enough that an unversioned asset URL eventually refreshes. */
export const DEFAULT_STATIC_MAX_AGE_S = 30 * 24 * 3600;

export const DEFAULT_STATIC_EXTENSIONS = [
  'css',
  'js',
  'mjs',
  'map',
  'png',
  'jpg',
  'jpeg',
  'gif',
  'webp',
  'avif',
  'svg',
  'ico',
  'bmp',
  'woff',
  'woff2',
  'ttf',
  'otf',
  'eot',
  'mp4',
  'webm',
  'ogg',
  'mp3',
  'wav',
  'pdf',
];

/** Statuses that stand for the asset itself (a 304 must repeat the 200's Cache-Control, RFC 9110 §15.4.5). */
const ASSET_STATUS = new Set([200, 203, 206, 304]);

const extensionSets = new WeakMap<StaticPolicy, Set<string>>();

/** Whether a request path (query ignored) ends in one of the policy's extensions. */
export function isStaticPath(policy: StaticPolicy, url: string): boolean {
  const path = pathOf(url);
  const slash = path.lastIndexOf('/');
  const dot = path.lastIndexOf('.');
  if (dot <= slash + 1) return false;
  let set = extensionSets.get(policy);
  if (!set) {
    set = new Set(policy.extensions.map((e) => e.toLowerCase()));
    extensionSets.set(policy, set);
  }
  return set.has(path.slice(dot + 1).toLowerCase());
}

/** The Cache-Control value the policy sends. */
export function staticCacheControl(policy: StaticPolicy): string {
  return `public, max-age=${policy.maxAgeS}${policy.immutable ? ', immutable' : ''}`;
}

/**
 * Headers toward the browser for a response to `url`: a copy with `Cache-Control` added when the policy
 * applies, else the same map.
 */
export function applyStaticPolicy(policy: StaticPolicy | undefined, url: string, status: number, headers: HeaderMap): HeaderMap {
  if (!policy || policy.maxAgeS <= 0 || !ASSET_STATUS.has(status)) return headers;
  for (const h of ['cache-control', 'expires', 'pragma', 'set-cookie']) if (headers[h] !== undefined) return headers;
  if (!isStaticPath(policy, url)) return headers;
  return { ...headers, 'cache-control': staticCacheControl(policy) };
}
