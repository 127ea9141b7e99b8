import type { EdgeSnapshot } from '@triplane/spec';
import type { EdgeConfigInput } from './config.ts';

/**
 * Translates the control plane's EdgeSnapshot (packages/spec edge-snapshot.ts) into the edge's
 * config shape, so both providers (file, control plane) feed one `loadConfig` → compile → swap path.
 * Pure (golden-testable).
 *
 * Mapping: one site per environment (upstream); hosts = its routes without `redirectTo`; routes with
 * `redirectTo` → 301 redirects; a `stopped` upstream → no members (503); policies.cache → profile
 * (`enabled: false` → off). The snapshot has no purge ACL yet: loopback plus the environment's member
 * addresses (WordPress purges arrive from the app server) are allowed.
 * Not mapped yet: `ip-hash` (→ round-robin), `ignoreQueryParams`, `staticTtlS`, `honorOriginCacheControl`,
 * waf/rate policies, certificates.
 */
export interface SnapshotListen {
  listen: { http: string };
  limits?: EdgeConfigInput['limits'];
  cache?: EdgeConfigInput['cache'];
  debugHeaders?: boolean;
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
    const profile = !cache?.enabled ? 'off' : cache.profile;
    const members = up.state === 'running' ? up.members : [];
    const hc = up.healthCheck;
    sites.push({
      name: siteNameFor(up.environmentId),
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
    });
  }
  const redirects = snap.routes
    .filter((r) => r.redirectTo !== null)
    .map((r) => ({ host: r.hostname, to: r.redirectTo as string }));
  const out: EdgeConfigInput = { listen: base.listen, sites, redirects };
  if (base.limits) out.limits = base.limits;
  if (base.cache) out.cache = base.cache;
  if (base.debugHeaders !== undefined) out.debugHeaders = base.debugHeaders;
  return out;
}
