import { CacheEngine, getProfile, type MemoryStorage, type PurgeCommand } from '@triplane/cache';
import type { Clock } from '@triplane/kernel';
import { BasicAuthGate } from './basic-auth.ts';
import { Acl } from './cidr.ts';
import type { EdgeConfig, SiteConfigResolved } from './config.ts';
import { HealthChecker } from './upstream/health.ts';
import { Member } from './upstream/member.ts';
import { Pool } from './upstream/pool.ts';
import { WafCompiler } from './waf-compile.ts';
import { wafRootText } from './waf-config.ts';
import type { CompiledWaf } from './waf-request.ts';

/** A site as the request path uses it: compiled once per config, swapped atomically. */
export interface CompiledSite {
  readonly config: SiteConfigResolved;
  readonly pool: Pool;
  readonly acl: Acl;
  /** undefined when the cache profile is `off` (every request passed; PURGE/BAN still answered locally). */
  readonly cache: CacheEngine | undefined;
  /**
   * What a host's cached objects depend on (site identity and cache rules, not the member list:
   * scaling a pool keeps the cache). When it changes across a reload, the host is purged.
   */
  readonly fingerprint: string;
  /** undefined when the site has no WAF (`waf.mode: off`); engines are shared by sites with the same settings. */
  readonly waf: CompiledWaf | undefined;
  /** undefined when the site has no password protection (config `basicAuth`). */
  readonly basicAuth: BasicAuthGate | undefined;
}

export interface CompiledConfig {
  readonly config: EdgeConfig;
  readonly byHost: ReadonlyMap<string, CompiledSite>;
  readonly catchAll: CompiledSite | undefined;
  readonly sites: readonly CompiledSite[];
  /** host → target host of a 301. */
  readonly redirects: ReadonlyMap<string, string>;
  /** Compiled WAF engines, reused by the next reload while their rule files are unchanged. */
  readonly wafCompiler: WafCompiler;
}

export function route(c: CompiledConfig, host: string): CompiledSite | undefined {
  return c.byHost.get(host) ?? c.catchAll;
}

/**
 * Compiles a validated config into running objects. `storage` is shared across reloads so a
 * config change keeps the cache warm; sites whose origin or cache rules changed are purged.
 */
export function compileConfig(
  config: EdgeConfig,
  storage: MemoryStorage,
  clock: Clock,
  previous?: CompiledConfig,
  /** A purge request ran on a site's cache (cluster.ts repeats it on the other workers' caches). */
  onPurge?: (site: string, cmd: PurgeCommand) => void,
): CompiledConfig {
  const byHost = new Map<string, CompiledSite>();
  let catchAll: CompiledSite | undefined;
  const sites: CompiledSite[] = [];
  // WAF engines first: a bad rules file refuses the config before anything else is built
  const wafCompiler = previous?.wafCompiler ?? new WafCompiler();
  const wafRoots = new Set<string>();
  const wafs = config.sites.map((s, i): CompiledWaf | undefined => {
    if (!s.waf) return undefined;
    const root = wafRootText(s.waf);
    wafRoots.add(root);
    return { engine: wafCompiler.compile(root, `sites[${i}].waf${s.waf.rules ? '.rules' : ''}`), settings: s.waf };
  });
  wafCompiler.retain(wafRoots);
  for (const [i, s] of config.sites.entries()) {
    const members = s.upstreams.map((u) => new Member(u.url, u.host, u.port));
    const pool = new Pool(members, s.lbPolicy, s.passive);
    if (s.healthCheck) pool.health = new HealthChecker(members, s.healthCheck);
    const profile =
      s.cache.profile === 'off'
        ? undefined
        : getProfile(s.cache.profile, {
            nginxHelper: s.cache.nginxHelper,
            bypassCookies: s.cache.bypassCookies,
            bypassPaths: s.cache.bypassPaths,
            wooPages: s.cache.wooPages,
            cacheStatic: s.cache.cacheStatic,
            gracePeriodS: s.cache.gracePeriodS,
          });
    const defaults: { ttl?: number; grace?: number; keep?: number } = {};
    if (s.cache.defaultTtlS !== undefined) defaults.ttl = s.cache.defaultTtlS;
    if (s.cache.graceS !== undefined) defaults.grace = s.cache.graceS;
    if (s.cache.keepS !== undefined) defaults.keep = s.cache.keepS;
    const cache = profile
      ? new CacheEngine({
          profile,
          storage,
          clock,
          defaults,
          debugHeader: config.debugHeaders,
          compression: s.compression,
          ...(onPurge ? { onPurge: (cmd: PurgeCommand) => onPurge(s.name, cmd) } : {}),
        })
      : undefined;
    const fingerprint = JSON.stringify([s.name, s.cache]);
    // the same settings keep their gate, so verified credentials stay cached across reloads (basic-auth.ts)
    const prevGate = s.basicAuth ? previous?.sites.find((p) => p.config.name === s.name)?.basicAuth : undefined;
    const basicAuth = s.basicAuth ? (prevGate?.sameAs(s.basicAuth) ? prevGate : new BasicAuthGate(s.basicAuth)) : undefined;
    const site: CompiledSite = { config: s, pool, acl: new Acl(s.purgeAllow), cache, fingerprint, waf: wafs[i], basicAuth };
    sites.push(site);
    for (const h of s.hosts) {
      if (h === '*') catchAll = site;
      else byHost.set(h, site);
    }
  }
  if (previous) {
    // Purge every host whose owning site or cache rules changed, or that is no longer served.
    const fp = (c: { sites: readonly CompiledSite[] }) => {
      const m = new Map<string, string>();
      for (const s of c.sites) for (const h of s.config.hosts) m.set(h, s.fingerprint);
      return m;
    };
    const before = fp(previous);
    const after = fp({ sites });
    const purger = new CacheEngine({ profile: getProfile('generic')!, storage, clock });
    for (const [h, f] of before) {
      if (after.get(h) === f) continue;
      if (h === '*') {
        // objects served by the catch-all live under hosts that no explicit site claims
        for (const o of [...storage.all()]) if (!after.has(o.host) || after.get(o.host) !== before.get(o.host)) storage.remove(o);
      } else purger.purge({ kind: 'host', host: h });
    }
  }
  return { config, byHost, catchAll, sites, redirects: new Map(config.redirects.map((r) => [r.host, r.to])), wafCompiler };
}

export function startSites(c: CompiledConfig): void {
  for (const s of c.sites) s.pool.health?.start();
}

export function stopSites(c: CompiledConfig, graceMs?: number): void {
  for (const s of c.sites) s.pool.close(graceMs);
}
