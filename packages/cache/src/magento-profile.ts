import { commonRecv } from './generic-profile.ts';
import { first, type HeaderMap, joined, without } from './headers.ts';
import { type Profile, type ProfileOptions, type RecvDecision, registerProfile } from './profile.ts';
import { type CacheRequest, pathOf } from './request.ts';
import { uncacheableReason } from './ttl.ts';

/**
 * Magento 2 "Varnish" integration (spec §2, `varnish7.vcl`) minus ESI. Deliberate deviations
 * (§2.10): Authorization passes for non-GraphQL requests, marketing parameters are removed by
 * parameter name, Cache-Control directives are matched case-insensitively.
 */

/** Marketing parameter names dropped from key and origin URL (§2.3 #9), anchored to the whole name. */
const MARKETING =
  /^(_branch_match_id|_bta_[a-z]+|_ga|_gl|_ke|_kx|campid|ceneo_cid|clickId|cof|customid|cx|dclid|dm_i|ef_id|epik|fbclid|gad_[a-z]+|gbraid|gclid|gclsrc|gdf[a-z]+|hsa_[a-z]+|igshid|mc_[a-z]+|mk[a-z]{3}|msclkid|(mtm|matomo)_[a-z]+|pcrid|p(iwi)?k_[a-z]+|redirect(_log)?_mongo_id|s_kwcid|sb_referer_host|ScCid|siteurl|snrai_[a-z]+|srsltid|tduid|trk_[a-z]+|utm_[a-z]+|wbraid|zanpid)$/;

const THREE_DAYS = 3 * 86_400;

/** `std.querysort` (≥2 parameters) then marketing parameters removed, parameter-aware. */
export function magentoUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const path = url.slice(0, q);
  let params = url
    .slice(q + 1)
    .split('&')
    .filter(Boolean);
  if (params.length >= 2) params = [...params].sort();
  params = params.filter((p) => !MARKETING.test(decodeSafe(p.split('=')[0] ?? '')));
  return params.length ? `${path}?${params.join('&')}` : path;
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function cookieValue(cookie: string | undefined, name: string): string | undefined {
  if (!cookie) return undefined;
  for (const part of cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function magentoProfile(opts: ProfileOptions = {}): Profile {
  const gracePeriod = opts.gracePeriodS ?? 300;
  return {
    name: 'magento',
    esi: true,
    recv(req: CacheRequest): RecvDecision {
      const url = magentoUrl(req.url);
      if (req.method === 'PURGE') {
        if (!req.purgeAllowed) return { action: 'synth', status: 405, reason: 'Method not allowed' };
        const pattern = joined(req.headers['x-magento-tags-pattern']);
        const pool = joined(req.headers['x-pool']);
        if (pattern !== undefined) return { action: 'purge', command: { kind: 'magento-pattern', pattern } };
        if (pool !== undefined) return { action: 'purge', command: { kind: 'pool', pattern: pool } };
        return { action: 'synth', status: 400, reason: 'X-Magento-Tags-Pattern or X-Pool header required' };
      }
      const path = pathOf(url);
      const isGraphql = url.includes('/graphql');
      const cacheId = first(req.headers['x-magento-cache-id']);
      const bearer = /^Bearer/i.test(first(req.headers.authorization) ?? '');
      if (isGraphql && req.headers.authorization !== undefined && !(cacheId && bearer)) {
        if (req.method === 'GET' || req.method === 'HEAD')
          return { action: 'pass', headers: req.headers, reason: 'graphql-auth' };
      }
      if (!(isGraphql && cacheId && bearer)) {
        const common = commonRecv(req);
        if (common) return common;
      } else if (req.method !== 'GET' && req.method !== 'HEAD') {
        return { action: 'pass', headers: req.headers, reason: 'method' };
      }
      if (url.includes('/customer') || url.includes('/checkout'))
        return { action: 'pass', headers: req.headers, reason: 'customer' };
      if (/^\/(pub\/)?health_check\.php$/.test(path)) return { action: 'pass', headers: req.headers, reason: 'health' };
      const cookie = joined(req.headers.cookie)?.replace(/,\s*/g, '; ');
      if (/^\/(pub\/)?(media|static)\//.test(path)) {
        if (!opts.cacheStatic) return { action: 'pass', headers: req.headers, reason: 'static' };
        return { action: 'hash', url, headers: without(req.headers, ['cookie']), keyExtra: 'static' };
      }
      const parts: string[] = [];
      if (isGraphql && cacheId) {
        parts.push(`cid=${cacheId}`);
        if (bearer) parts.push('Authorized');
        parts.push(`store=${first(req.headers.store) ?? ''}`, `cur=${first(req.headers['content-currency']) ?? ''}`);
      } else {
        const vary = cookieValue(cookie, 'X-Magento-Vary');
        if (vary) parts.push(`vary=${vary}`);
        if (isGraphql)
          parts.push(`store=${first(req.headers.store) ?? ''}`, `cur=${first(req.headers['content-currency']) ?? ''}`);
      }
      return { action: 'hash', url, headers: req.headers, keyExtra: parts.join('|') || undefined };
    },
    backendResponse(req, decision, status, headers, life) {
      if (status === 403 || status === 404 || status >= 500) return { store: false, reason: 'status', life, hfmSeconds: 120 };
      const life3d = { ...life, grace: life.mustRevalidate ? 0 : THREE_DAYS };
      const cc = String(joined(headers['cache-control']) ?? '');
      if (/private/i.test(cc)) return { store: false, reason: 'private', life: life3d, hfmSeconds: 86_400 };
      let out: HeaderMap = headers;
      let store = true;
      let reason: string | undefined;
      const isGraphqlWithId = decision.url.includes('/graphql') && req.headers['x-magento-cache-id'] !== undefined;
      if (life.ttl > 0) {
        const setCookie = headers['set-cookie'];
        const setsVary = (Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []).some((c) =>
          c.startsWith('X-Magento-Vary='),
        );
        if (!isGraphqlWithId && !/X-Magento-Vary=/.test(joined(req.headers.cookie) ?? '') && setsVary) {
          store = false;
          reason = 'sets-x-magento-vary';
        }
        out = without(headers, ['set-cookie']);
      }
      if (store) {
        const r = uncacheableReason(out, life3d, { setCookieMakesUncacheable: false });
        if (r) {
          store = false;
          reason = r;
        }
      }
      if (store && isGraphqlWithId && first(headers['x-magento-cache-id']) !== first(req.headers['x-magento-cache-id'])) {
        store = false;
        reason = 'graphql-cache-id';
      }
      return store ? { store, life: life3d, headers: out } : { store, reason, life: life3d, hfmSeconds: 120, headers: out };
    },
    effectiveGrace(graceS, healthy) {
      return healthy ? Math.min(graceS, gracePeriod) : graceS;
    },
    deliver(req, headers, info) {
      const out: HeaderMap = { ...headers };
      const path = pathOf(req.url);
      out['x-magento-cache-debug'] =
        info.cacheStatus === 'HIT' || info.cacheStatus === 'STALE' ? 'HIT' : info.cacheStatus === 'MISS' ? 'MISS' : 'UNCACHEABLE';
      if (info.cacheStatus === 'HIT' || info.cacheStatus === 'STALE') {
        out.grace =
          info.grace === 'none' ? 'none' : info.grace === 'normal' ? 'normal (healthy server)' : 'unlimited (unhealthy server)';
      }
      if (!/private/i.test(String(joined(out['cache-control']) ?? '')) && !/^\/(pub\/)?(media|static)\//.test(path)) {
        out.pragma = 'no-cache';
        out.expires = '-1';
        out['cache-control'] = 'no-store, no-cache, must-revalidate, max-age=0';
      }
      if (!info.debug) delete out.age;
      for (const h of ['x-magento-debug', 'x-magento-tags', 'x-powered-by', 'server', 'x-varnish', 'via', 'link']) delete out[h];
      return out;
    },
  };
}

registerProfile('magento', magentoProfile);
