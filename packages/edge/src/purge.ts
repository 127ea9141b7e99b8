import type { PurgeCommand } from '@triplane/cache';
import type { EdgeSnapshot, SnapshotPurge } from '@triplane/spec';
import type { CompiledConfig } from './compile.ts';
import { siteNameFor } from './snapshot.ts';

/**
 * Control-plane purges (POST /api/v1/environments/{id}/purge) on the edge. They arrive in the
 * edge snapshot as a window of `purges` with a contiguous platform-wide `seq`, plus `purgeSeq`
 * (the newest). The control link keeps the last seq it applied, in memory only:
 *
 *   first snapshot after start ──► baseline: record purgeSeq, apply nothing (the memory cache
 *                                  started empty, so older purges have nothing to remove)
 *   purgeSeq > last, window has last+1 ──► apply every purge with seq > last, in order
 *   purgeSeq > last, oldest listed > last+1 ──► flush: purges were pruned before this edge saw
 *                                  them (it was away too long); drop every site's cache
 *   purgeSeq < last ──► the control plane's store was replaced: new baseline, nothing applied
 *
 * Mapping (environmentId → site `siteNameFor(environmentId)`, hosts = the environment's
 * non-redirect routes, as configFromSnapshot builds them):
 *   url `/p?q`               → { url, host, url: '/p?q' } per host (the engine purges http and https)
 *   url `https://h/p?q`      → { url, host: h, url: '/p?q' } (only when h is one of the site's hosts)
 *   tag                      → { tags } — scoped to the site's hosts by purgeSite
 *   all                      → { host } per host
 * Purges of environments this edge doesn't serve are skipped.
 */

export interface SitePurge {
  siteName: string;
  seq: number;
  commands: PurgeCommand[];
}

export type PurgePlan =
  | { action: 'none'; seq: number }
  | { action: 'baseline'; seq: number }
  | { action: 'apply'; seq: number; purges: SitePurge[] }
  | { action: 'flush'; seq: number; purges: SitePurge[] };

function hostsByEnvironment(snap: EdgeSnapshot): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const r of snap.routes) {
    if (r.redirectTo !== null) continue;
    const list = m.get(r.environmentId) ?? [];
    list.push(r.hostname);
    m.set(r.environmentId, list);
  }
  return m;
}

/** The cache commands of one purge for a site serving `hosts`. */
export function commandsFor(p: Pick<SnapshotPurge, 'kind' | 'values'>, hosts: readonly string[]): PurgeCommand[] {
  const out: PurgeCommand[] = [];
  switch (p.kind) {
    case 'all':
      for (const host of hosts) out.push({ kind: 'host', host });
      break;
    case 'tag':
      if (p.values.length) out.push({ kind: 'tags', tags: [...p.values] });
      break;
    case 'url':
      for (const v of p.values) {
        if (v.startsWith('/')) {
          for (const host of hosts) out.push({ kind: 'url', host, url: v });
          continue;
        }
        const m = /^https?:\/\/([^/?#]+)(.*)$/i.exec(v);
        const host = m?.[1]?.toLowerCase();
        if (host && hosts.includes(host)) out.push({ kind: 'url', host, url: m?.[2] || '/' });
      }
      break;
  }
  return out;
}

/** What to do with a snapshot's purges, given the last seq applied (undefined: none yet since start). */
export function planPurges(snap: EdgeSnapshot, lastSeq: number | undefined): PurgePlan {
  const seq = snap.purgeSeq ?? 0;
  const window = snap.purges ?? [];
  if (lastSeq === undefined || seq < lastSeq) return { action: 'baseline', seq };
  if (seq === lastSeq) return { action: 'none', seq };
  const hosts = hostsByEnvironment(snap);
  const oldest = window[0]?.seq;
  if (oldest === undefined || oldest > lastSeq + 1) {
    const purges: SitePurge[] = [];
    for (const [environmentId, h] of hosts) {
      purges.push({ siteName: siteNameFor(environmentId), seq, commands: commandsFor({ kind: 'all', values: [] }, h) });
    }
    return { action: 'flush', seq, purges };
  }
  const purges: SitePurge[] = [];
  for (const p of window) {
    if (p.seq <= lastSeq) continue;
    const h = hosts.get(p.environmentId);
    if (!h) continue;
    const commands = commandsFor(p, h);
    if (commands.length) purges.push({ siteName: siteNameFor(p.environmentId), seq: p.seq, commands });
  }
  return { action: 'apply', seq, purges };
}

/**
 * Run purge commands against one site's cache; returns the objects removed, or undefined when
 * the config has no such site. Tag purges are scoped to the site's hosts: the storage is shared
 * by every site and the cache engine's tag purge is not host-scoped (Magento's wire purge is
 * global by design, spec §2.2), but one tenant's purge must not empty another's cache.
 */
export function purgeSite(compiled: CompiledConfig, siteName: string, commands: readonly PurgeCommand[]): number | undefined {
  const site = compiled.sites.find((s) => s.config.name === siteName);
  if (!site) return undefined;
  const cache = site.cache;
  if (!cache) return 0; // cache off: nothing of this site is stored
  const hosts = new Set(site.config.hosts);
  let n = 0;
  for (const cmd of commands) {
    if (cmd.kind !== 'tags') {
      n += cache.purge(cmd);
      continue;
    }
    for (const tag of cmd.tags) {
      for (const obj of cache.storage.byTag(tag)) {
        if (!hosts.has(obj.host)) continue;
        cache.storage.remove(obj);
        n++;
      }
    }
    // An empty tag list removes nothing and marks this site's fetches in flight as invalidated
    // (their tags are unknown until they finish), as a tag purge must.
    cache.purge({ kind: 'tags', tags: [] });
  }
  return n;
}
