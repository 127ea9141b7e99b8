import { join } from 'node:path';
import type { EdgeSnapshot, WafPolicy } from '@triplane/spec';
import type { EdgeConfigInput, SiteConfigInput } from './config.ts';
import { checkPemPair } from './tls/pem.ts';
import { CRS_APP_EXCLUSIONS } from './waf-config.ts';

/**
 * Translates the control plane's EdgeSnapshot (packages/spec edge-snapshot.ts) into the edge's
 * config shape, so both providers (file, control plane) feed one `loadConfig` → compile → swap path.
 * Pure (golden-testable).
 *
 * Mapping: one site per environment (upstream); hosts = its routes without `redirectTo`; routes with
 * `redirectTo` → 301 redirects; a `stopped` upstream → no members (503); policies.cache → profile
 * (`enabled: false` → off). The snapshot has no purge ACL yet: loopback plus the environment's member
 * addresses (WordPress purges arrive from the app server) are allowed.
 * `staticTtlS` → `static.maxAgeS`: the browser max-age for static files the origin sends without
 * Cache-Control (a delivery header; the cache's own TTL still follows the origin and the profile).
 * policies.waf → `waf` (`enabled: false` → off; mode, paranoia, thresholds, exclusions; the CRS
 * application exclusions among `exclusionProfiles`, others such as `magento` have no CRS 3.3
 * package and are skipped) and, when enabled, `maxRequestBodyBytes` → `maxBodyBytes`; `environmentId` labels WAF
 * events; WAF log files go to `base.wafLogDir/<site>.log` and `<site>.audit.json` when set.
 * policies.noindex → `noindex`, policies.basicAuth → `basicAuth` (realm, user and the scrypt hash as given).
 * Not mapped yet: `ip-hash` (→ round-robin), `ignoreQueryParams`, `honorOriginCacheControl`,
 * rate policies.
 * Certificates: a site gets the snapshot certificate that covers its first host (exact or `*.` wildcard)
 * as inline PEM, when its key resolves (`keyRef` holding the PEM itself, or `base.resolveKey`) and the
 * pair is valid; otherwise (and for an invalid pair: one bad certificate must not reject the whole
 * snapshot) the platform CA covers the site's hosts.
 */
export interface SnapshotListen {
  listen: { http: string; https?: string; metrics?: string };
  /** Platform CA directory (the CLI uses STATE_DIR/tls). */
  tls?: { caDir?: string };
  /** PEM private key for a certificate's `keyRef`; undefined = unknown (the platform CA covers the site). */
  resolveKey?: (keyRef: string) => string | undefined;
  limits?: EdgeConfigInput['limits'];
  cache?: EdgeConfigInput['cache'];
  debugHeaders?: boolean;
  /** Directory of the sites' WAF logs (`<site>.log`, `<site>.audit.json`); none = no WAF log files. */
  wafLogDir?: string;
}

export function siteNameFor(environmentId: string): string {
  return (
    environmentId
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 63) || 'env'
  );
}

export function configFromSnapshot(snap: EdgeSnapshot, base: SnapshotListen): EdgeConfigInput {
  const policies = new Map(snap.policies.map((p) => [p.environmentId, p]));
  const sites: EdgeConfigInput['sites'] = [];
  for (const up of snap.upstreams) {
    const hosts = snap.routes.filter((r) => r.environmentId === up.environmentId && r.redirectTo === null).map((r) => r.hostname);
    if (hosts.length === 0) continue;
    const cache = policies.get(up.environmentId)?.cache;
    const waf = policies.get(up.environmentId)?.waf;
    const policy = policies.get(up.environmentId);
    const name = siteNameFor(up.environmentId);
    const profile = !cache?.enabled ? 'off' : cache.profile;
    const members = up.state === 'running' ? up.members : [];
    const hc = up.healthCheck;
    sites.push({
      name,
      environmentId: up.environmentId,
      hosts,
      upstreams: members.map((m) => `http://${m.address.includes(':') ? `[${m.address}]` : m.address}:${m.port}`),
      cache: cache
        ? {
            profile,
            bypassCookies: cache.bypassCookies,
            bypassPaths: cache.bypassPaths,
            defaultTtlS: cache.defaultTtlS,
            graceS: cache.graceS,
          }
        : { profile: 'off' },
      purge: { allow: ['127.0.0.1/32', '::1/128', ...members.map((m) => m.address)] },
      lb: { policy: up.policy === 'least-connections' ? 'least-connections' : 'round-robin' },
      healthCheck: {
        path: hc.path,
        ...(hc.host ? { host: hc.host } : {}),
        intervalMs: hc.intervalMs,
        timeoutMs: hc.timeoutMs,
        healthyThreshold: hc.healthyThreshold,
        unhealthyThreshold: hc.unhealthyThreshold,
        expectStatusMin: hc.expectStatusMin,
        expectStatusMax: hc.expectStatusMax,
      },
      timeouts: { connectMs: up.connectTimeoutMs, firstByteMs: up.readTimeoutMs },
      ...siteCertificate(snap, hosts[0] as string, base),
      ...(cache ? { static: { maxAgeS: cache.staticTtlS } } : {}),
      ...(waf ? { waf: wafSite(waf, name, base) } : {}),
      ...(waf?.enabled ? { maxBodyBytes: waf.maxRequestBodyBytes } : {}),
      ...(policy?.noindex ? { noindex: true } : {}),
      ...(policy?.basicAuth ? { basicAuth: { ...policy.basicAuth } } : {}),
    });
  }
  const redirects = snap.routes
    .filter((r) => r.redirectTo !== null)
    .map((r) => ({ host: r.hostname, to: r.redirectTo as string }));
  const out: EdgeConfigInput = { listen: base.listen, sites, redirects };
  if (base.limits) out.limits = base.limits;
  if (base.cache) out.cache = base.cache;
  if (base.debugHeaders !== undefined) out.debugHeaders = base.debugHeaders;
  if (base.tls) out.tls = base.tls;
  return out;
}

const APPS = new Set<string>(CRS_APP_EXCLUSIONS);

function wafSite(w: WafPolicy, site: string, base: SnapshotListen): NonNullable<SiteConfigInput['waf']> {
  if (!w.enabled) return { mode: 'off' };
  return {
    mode: w.mode,
    paranoia: w.paranoiaLevel,
    anomalyThreshold: { inbound: w.inboundAnomalyThreshold, outbound: w.outboundAnomalyThreshold },
    applications: w.exclusionProfiles.filter((p) => APPS.has(p)) as NonNullable<
      NonNullable<SiteConfigInput['waf']>['applications']
    >,
    ...(w.exclusions?.length ? { exclusions: w.exclusions } : {}),
    ...(base.wafLogDir ? { log: join(base.wafLogDir, `${site}.log`), auditLog: join(base.wafLogDir, `${site}.audit.json`) } : {}),
  };
}

function covers(names: readonly string[], host: string): boolean {
  const parent = host.slice(host.indexOf('.') + 1);
  return names.some((n) => n.toLowerCase() === host || (n.startsWith('*.') && n.slice(2).toLowerCase() === parent));
}

function siteCertificate(snap: EdgeSnapshot, host: string, base: SnapshotListen): { tls?: { certPem: string; keyPem: string } } {
  for (const c of snap.certificates) {
    if (!covers(c.hostnames, host)) continue;
    const keyPem = c.keyRef.includes('-----BEGIN') ? c.keyRef : base.resolveKey?.(c.keyRef);
    if (!keyPem) continue;
    try {
      checkPemPair(c.certificatePem, keyPem, 'certificatePem', 'keyRef');
    } catch {
      continue;
    }
    return { tls: { certPem: c.certificatePem, keyPem } };
  }
  return {};
}
