import { bypassPath, commonRecv } from './generic-profile.ts';
import { first, type HeaderMap, joined, without } from './headers.ts';
import { type Profile, type ProfileOptions, type RecvDecision, registerProfile } from './profile.ts';
import { purgeCommand } from './purge-request.ts';
import { type CacheRequest, pathOf, queryOf } from './request.ts';
import { builtinVerdict } from './ttl.ts';

/** Cookie names that mean "this visitor sees a personalised page" (spec §3.1). */
export const WP_BYPASS_COOKIE =
  /^(wordpress_(logged_in_|sec_|rec_)?[0-9a-f]+|wp-postpass_|comment_author_|wp_woocommerce_session_|woocommerce_(items_in_cart|cart_hash)$|wordpress_no_cache$|wp_no_cache$)/;

/** Paths never cached (spec §3.2). */
const WP_PASS_PATHS = [
  /^\/wp-admin(\/|$)/,
  /^\/wp-login\.php/,
  /^\/wp-register\.php/,
  /^\/wp-signup\.php/,
  /^\/wp-activate\.php/,
  /^\/wp-cron\.php/,
  /^\/xmlrpc\.php/,
  /^\/wp-comments-post\.php/,
  /^\/wp-trackback\.php/,
  /^\/wc-api\//,
  /^\/wp-json\/wc\//,
];
/** Query parameters that make a request personal or a write (spec §3.2). */
const WP_PASS_PARAMS = [
  'add-to-cart',
  'remove_item',
  'removed_item',
  'undo_item',
  'wc-ajax',
  'wc-api',
  'customize_changeset_uuid',
  'doing_wp_cron',
  'preview',
  'preview_id',
];
const DEFAULT_WOO_PAGES = ['/cart/', '/checkout/', '/my-account/'];
/** Static files under these roots are cached with the Cookie ignored (check 6.4.47). */
const STATIC_ROOT = /^\/(wp-content|wp-includes)\//;
const STATIC_EXT =
  /\.(css|js|mjs|map|jpe?g|png|gif|webp|avif|svg|ico|woff2?|ttf|otf|eot|mp4|webm|mp3|ogg|pdf|txt|xml|json|zip|gz)$/i;

export function cookieNames(cookie: string | undefined): string[] {
  if (!cookie) return [];
  return cookie
    .split(';')
    .map((c) => c.split('=')[0]?.trim() ?? '')
    .filter(Boolean);
}

/** WordPress / WooCommerce (spec §3): builtin plus cookie stripping and the WP pass lists. */
export function wordpressProfile(opts: ProfileOptions = {}): Profile {
  const wooPages = opts.wooPages ?? DEFAULT_WOO_PAGES;
  const extraCookies = opts.bypassCookies ?? [];
  const maxHtml = opts.maxHtmlLifetimeS ?? 43_200;

  function isBypassCookie(name: string): boolean {
    return WP_BYPASS_COOKIE.test(name) || extraCookies.some((p) => p && name.startsWith(p));
  }

  function nginxHelper(req: CacheRequest): RecvDecision | undefined {
    if (!opts.nginxHelper) return undefined;
    const path = pathOf(req.url);
    const isAll = req.method === 'PURGE' && path === '/purgeall';
    const isPath = (req.method === 'GET' || req.method === 'PURGE') && path.startsWith('/purge/');
    if (!isAll && !isPath) return undefined;
    if (!req.purgeAllowed) return { action: 'synth', status: 403, reason: 'purge not allowed' };
    if (isAll) return { action: 'purge', command: { kind: 'host', host: req.host } };
    return { action: 'purge', command: { kind: 'url', host: req.host, url: req.url.slice('/purge'.length) } };
  }

  return {
    name: 'wordpress',
    recv(req) {
      const helper = nginxHelper(req);
      if (helper) return helper;
      if (req.method === 'PURGE' && req.purgeAllowed) return { action: 'purge', command: purgeCommand(req) };
      const common = commonRecv(req);
      if (common) return common;
      const path = pathOf(req.url);
      const keep = (reason: string): RecvDecision => ({ action: 'pass', headers: req.headers, reason });
      if (WP_PASS_PATHS.some((r) => r.test(path))) return keep('wp-path');
      if (wooPages.some((p) => path === p.replace(/\/$/, '') || path.startsWith(p))) return keep('woo-page');
      if (bypassPath(path, opts.bypassPaths)) return keep('path');
      const query = queryOf(req.url);
      if (WP_PASS_PARAMS.some((p) => query.has(p))) return keep('wp-query');
      if (path.includes('/order-pay/') || path.includes('/order-received/')) return keep('woo-order');
      const cookie = joined(req.headers.cookie);
      const stripped = without(req.headers, ['cookie']);
      if (STATIC_ROOT.test(path) && STATIC_EXT.test(path)) return { action: 'hash', url: req.url, headers: stripped };
      if (cookieNames(cookie).some(isBypassCookie)) return keep('wp-cookie');
      const isRest = path.startsWith('/wp-json/') || path === '/wp-json' || query.has('rest_route');
      if (isRest) {
        if (cookie || req.headers['x-wp-nonce'] !== undefined) return keep('rest-session');
        return { action: 'hash', url: req.url, headers: stripped, requireExplicitFreshness: true };
      }
      return { action: 'hash', url: req.url, headers: stripped };
    },
    backendResponse(_req, decision, _status, headers: HeaderMap, life) {
      const builtin = builtinVerdict(headers, life, true);
      if (!builtin.store) return builtin;
      if (decision.requireExplicitFreshness) {
        const explicit = /max-age|s-maxage/i.test(String(headers['cache-control'] ?? '')) || headers.expires !== undefined;
        if (!explicit) return { store: false, reason: 'rest-without-freshness', life };
      }
      if (/text\/html/i.test(first(headers['content-type']) ?? '') && life.ttl + life.grace > maxHtml) {
        const ttl = Math.min(life.ttl, maxHtml);
        return { store: true, life: { ...life, ttl, grace: Math.max(0, Math.min(life.grace, maxHtml - ttl)) } };
      }
      return { store: true, life };
    },
  };
}

registerProfile('wordpress', wordpressProfile);
registerProfile('woocommerce', wordpressProfile);
