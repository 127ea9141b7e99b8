import type { HeaderMap } from './headers.ts';
import type { CacheRequest, CacheStatus } from './request.ts';
import type { Lifetime } from './ttl.ts';

/**
 * A cache profile: the VCL of one application family, as pure functions. `recv` classifies a
 * request (spec §1.1 / §3.1-3.2), `backendResponse` adjusts the lifetime and storability of an
 * origin response (§1.5 / §3.3). Profiles are registered by name (house rule 1).
 *
 * Example: `getProfile('wordpress', { bypassCookies: ['my_plugin_'] })`.
 */
export type PurgeCommand =
  | { kind: 'url'; host: string; url: string }
  | { kind: 'host-regex'; host: string; pattern: string }
  | { kind: 'host'; host: string }
  | { kind: 'tags'; tags: string[] }
  /** Magento `X-Magento-Tags-Pattern` regex against each object's X-Magento-Tags (not host-scoped, spec §2.2). */
  | { kind: 'magento-pattern'; pattern: string }
  /** `X-Pool` regex against each object's stored X-Pool header. */
  | { kind: 'pool'; pattern: string };

export type RecvDecision =
  | {
      action: 'hash';
      /** Key URL, also the URL the origin receives on a miss (profiles may normalise it). */
      url: string;
      headers: HeaderMap;
      requireExplicitFreshness?: boolean;
      /** Extra key material (Magento: X-Magento-Vary value, GraphQL headers). */
      keyExtra?: string;
    }
  | { action: 'pass'; headers: HeaderMap; reason: string }
  | { action: 'purge'; command: PurgeCommand }
  | { action: 'synth'; status: number; reason: string };

export interface ResponseVerdict {
  store: boolean;
  reason?: string;
  life: Lifetime;
  /** Hit-for-miss marker lifetime when not stored (default: the engine's, 120 s). */
  hfmSeconds?: number;
  /** Replacement response headers (e.g. Set-Cookie removed) for storing and for this client. */
  headers?: HeaderMap;
}

/** What delivery hooks know about the response being delivered. */
export interface DeliveryInfo {
  cacheStatus: CacheStatus;
  /** 'none' for fresh hits, else whether the stale object came from grace with a healthy or sick origin. */
  grace: 'none' | 'normal' | 'unlimited';
  /** Stored object carried X-Magento-Debug. */
  debug: boolean;
}

export interface Profile {
  readonly name: string;
  recv(req: CacheRequest): RecvDecision;
  /** Last touch on every response to a client (hit, miss, pass, synthetic excluded). */
  deliver?(req: CacheRequest, headers: HeaderMap, info: DeliveryInfo): HeaderMap;
  /** Text responses may carry ESI markup to process at delivery (Magento, spec §2.9). */
  readonly esi?: boolean;
  /** Grace actually usable for a stored object given origin health (Magento: 300 s healthy, all of it when sick). */
  effectiveGrace?(graceS: number, healthy: boolean): number;
  backendResponse(
    req: CacheRequest,
    decision: Extract<RecvDecision, { action: 'hash' }>,
    status: number,
    headers: HeaderMap,
    life: Lifetime,
  ): ResponseVerdict;
}

export interface ProfileOptions {
  /** Extra cookie-name prefixes that force a pass (snapshot `bypassCookies`). */
  bypassCookies?: string[];
  /** Extra path prefixes that force a pass (snapshot `bypassPaths`). */
  bypassPaths?: string[];
  /** WordPress: WooCommerce page slugs (localised shops change them). */
  wooPages?: string[];
  /** WordPress: answer Nginx Helper `GET /purge/<path>` and `PURGE /purgeall` (spec §3.4). */
  nginxHelper?: boolean;
  /** Magento: cache /static and /media (spec §2.3 #10). */
  cacheStatic?: boolean;
  /** Magento: admin grace period, seconds (default 300). */
  gracePeriodS?: number;
  /** WordPress: max TTL + grace for HTML in seconds (nonce lifetime, spec §3.3). Default 43200. */
  maxHtmlLifetimeS?: number;
}

export type ProfileFactory = (opts: ProfileOptions) => Profile;

const registry = new Map<string, ProfileFactory>();

export function registerProfile(name: string, factory: ProfileFactory): void {
  registry.set(name, factory);
}

export function profileNames(): string[] {
  return [...registry.keys()].sort();
}

export function getProfile(name: string, opts: ProfileOptions = {}): Profile | undefined {
  return registry.get(name)?.(opts);
}
