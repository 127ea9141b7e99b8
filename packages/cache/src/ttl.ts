import { type Directives, parseDirectives, seconds } from './cache-control.ts';
import { first, type HeaderMap } from './headers.ts';

/** Lifetimes of a stored object, in seconds, plus the time the origin produced it (ms). */
export interface Lifetime {
  /** Freshness; ≤ 0 means uncacheable (hit-for-miss). */
  ttl: number;
  grace: number;
  keep: number;
  /** `stale-if-error` window after expiry (0: none). */
  staleIfError: number;
  /** must-revalidate / proxy-revalidate (and s-maxage when `sMaxageRevalidates`): never serve stale. */
  mustRevalidate: boolean;
  /** Epoch ms the response was generated at the origin (now − Age). */
  tOrigin: number;
}

export interface TtlDefaults {
  ttl: number;
  grace: number;
  keep: number;
  /** RFC 9111 §5.2.2.10: s-maxage implies proxy-revalidate (no stale serving). */
  sMaxageRevalidates: boolean;
}

/** Varnish `default_ttl`/`default_grace`/`default_keep` (spec §1.4, V6). */
export const VARNISH_DEFAULTS: TtlDefaults = { ttl: 120, grace: 10, keep: 0, sMaxageRevalidates: true };

const DEFAULT_TTL_STATUSES = new Set([200, 203, 204, 300, 301, 304, 404, 410, 414]);
const EXPLICIT_ONLY_STATUSES = new Set([302, 307]);
const CLOCK_SKEW_S = 10;

function httpDate(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

/**
 * Varnish `RFC2616_Ttl` (spec §1.4) with Surrogate-Control taking precedence (§3.5).
 * Pure: `now` is epoch ms.
 */
export function computeLifetime(status: number, headers: HeaderMap, now: number, defaults: TtlDefaults): Lifetime {
  const ageHeader = Number(first(headers.age) ?? '0');
  const age = Number.isFinite(ageHeader) && ageHeader > 0 ? Math.floor(ageHeader) : 0;
  const tOrigin = now - age * 1000;
  const cc = parseDirectives(headers['cache-control']);
  const sc = parseDirectives(headers['surrogate-control']);
  const out: Lifetime = {
    ttl: -1,
    grace: defaults.grace,
    keep: defaults.keep,
    staleIfError: 0,
    mustRevalidate: false,
    tOrigin,
  };
  const explicit = explicitTtl(sc, cc, headers, now);
  if (DEFAULT_TTL_STATUSES.has(status)) out.ttl = explicit ?? defaults.ttl;
  else if (EXPLICIT_ONLY_STATUSES.has(status)) out.ttl = explicit ?? -1;
  else return out;
  const swr = seconds(sc, 'stale-while-revalidate') ?? seconds(cc, 'stale-while-revalidate');
  if (swr !== undefined && out.ttl >= 0) out.grace = swr;
  out.staleIfError = seconds(sc, 'stale-if-error') ?? seconds(cc, 'stale-if-error') ?? 0;
  out.mustRevalidate =
    cc.has('must-revalidate') || cc.has('proxy-revalidate') || (defaults.sMaxageRevalidates && cc.has('s-maxage'));
  if (out.mustRevalidate) {
    out.grace = 0;
    out.staleIfError = 0;
  }
  return out;
}

function explicitTtl(sc: Directives, cc: Directives, headers: HeaderMap, now: number): number | undefined {
  const s = seconds(sc, 'max-age') ?? seconds(cc, 's-maxage') ?? seconds(cc, 'max-age');
  if (s !== undefined) return s;
  const expires = first(headers.expires);
  if (expires === undefined) return undefined;
  const exp = httpDate(expires);
  if (exp === undefined) return 0; // invalid Expires = already expired (RFC 9111 §5.3)
  const date = httpDate(first(headers.date)) ?? now;
  if (exp <= date) return 0;
  if (Math.abs(date - now) <= CLOCK_SKEW_S * 1000) return Math.floor((exp - now) / 1000);
  return Math.floor((exp - date) / 1000);
}

/** Why a response is not stored (spec §1.5), or undefined when it may be stored. */
export function uncacheableReason(
  headers: HeaderMap,
  life: Lifetime,
  opts: { setCookieMakesUncacheable: boolean },
): string | undefined {
  if (life.ttl <= 0) return 'ttl';
  if (opts.setCookieMakesUncacheable && headers['set-cookie'] !== undefined) return 'set-cookie';
  const sc = headers['surrogate-control'];
  if (sc !== undefined) {
    if (/no-store/i.test(String(sc))) return 'surrogate-no-store';
  } else if (/no-cache|no-store|private/i.test(String(headers['cache-control'] ?? ''))) return 'cache-control';
  const vary = String(headers.vary ?? '');
  if (vary.split(',').some((v) => v.trim() === '*')) return 'vary-star';
  return undefined;
}

/** The builtin `vcl_backend_response` (spec §1.5) as a profile verdict. */
export function builtinVerdict(
  headers: HeaderMap,
  life: Lifetime,
  setCookieMakesUncacheable: boolean,
): { store: boolean; reason?: string; life: Lifetime } {
  const reason = uncacheableReason(headers, life, { setCookieMakesUncacheable });
  return reason ? { store: false, reason, life } : { store: true, life };
}
