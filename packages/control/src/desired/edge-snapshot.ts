import {
  type BasicAuthPolicy,
  EDGE_SNAPSHOT_API_VERSION,
  type EdgeSnapshot,
  type EnvironmentPolicies,
  type Plan,
  type Route,
  type SiteKind,
  type SnapshotPurge,
  type SnapshotSite,
  type Upstream,
} from '@triplane/spec';
import type { Kysely } from 'kysely';
import type { DB } from '../store/schema.ts';
import { currentRevision } from '../store/store.ts';
import { type DomainRowLite, type EnvironmentWithSite, selectEnvironmentsWithSite } from './assignment.ts';
import { defaultHealthCheck, defaultPolicies } from './policies.ts';
import { loadPurges } from './purges.ts';
import { parsePhp, parseRuntime, parseServerIds } from './rows.ts';

/** See packages/spec/src/edge-snapshot.ts for the documented shape. */

export interface ServerAddressRow {
  id: string;
  address: string | null;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** An environment's staging mark and protection (migration 007 columns). */
export interface EnvironmentAccessRow {
  id: string;
  staging: number;
  /** JSON { user, hash } | null */
  protection: string | null;
}

/**
 * noindex for staging environments (never production); Basic auth from the stored hash (the
 * password itself is never stored). The realm names the site and environment, e.g. `shop staging`,
 * with anything a quoted-string can't carry replaced.
 */
function accessPolicies(
  e: EnvironmentWithSite,
  row: EnvironmentAccessRow | undefined,
): { noindex: boolean; basicAuth: BasicAuthPolicy | null } {
  const noindex = row !== undefined && Number(row.staging) === 1 && e.name !== 'production';
  if (!row?.protection) return { noindex, basicAuth: null };
  const p = JSON.parse(row.protection) as { user: string; hash: string };
  const realm = `${e.site_name} ${e.name}`.replace(/[^ !#-[\]-~]/g, '_').slice(0, 128);
  return { noindex, basicAuth: { realm, user: p.user, hash: p.hash } };
}

/**
 * Build the EdgeSnapshot from store rows (pure; lists sorted so equal input gives equal bytes).
 * Environments and sites being deleted are left out, so their hostnames stop routing at once.
 * Upstream members are the environment's placement servers that have an address, on the web
 * port allocated there; the edge's health checks decide which of them get traffic.
 */
export function buildEdgeSnapshot(input: {
  revision: number;
  generatedAt: string;
  environments: readonly EnvironmentWithSite[];
  domains: readonly (DomainRowLite & { id?: string })[];
  servers: readonly ServerAddressRow[];
  /** The purge window (./purges.ts loadPurges), ascending seq. */
  purges?: readonly SnapshotPurge[];
  /** Staging marks and protection by environment id; absent = none. */
  access?: readonly EnvironmentAccessRow[];
}): EdgeSnapshot {
  const envs = input.environments.filter((e) => e.status !== 'deleting' && e.site_status !== 'deleting');
  envs.sort((a, b) => cmp(a.id, b.id));
  const envById = new Map(envs.map((e) => [e.id, e]));
  const address = new Map(input.servers.map((s) => [s.id, s.address]));
  const access = new Map((input.access ?? []).map((a) => [a.id, a]));

  const sitesById = new Map<string, SnapshotSite>();
  for (const e of envs) {
    let s = sitesById.get(e.site_id);
    if (!s) {
      s = {
        id: e.site_id,
        orgId: e.org_id,
        name: e.site_name,
        kind: e.site_kind as SiteKind,
        plan: e.site_plan as Plan,
        environmentIds: [],
      };
      sitesById.set(e.site_id, s);
    }
    s.environmentIds.push(e.id);
  }

  const primaryOf = new Map<string, string>();
  for (const d of input.domains)
    if (d.is_primary === 1 && envById.has(d.environment_id)) primaryOf.set(d.environment_id, d.hostname);

  const routes: Route[] = [];
  for (const d of input.domains) {
    const e = envById.get(d.environment_id);
    if (!e) continue;
    const primary = d.is_primary === 1;
    const target = primaryOf.get(e.id);
    routes.push({
      hostname: d.hostname,
      environmentId: e.id,
      siteId: e.site_id,
      primary,
      redirectTo: !primary && d.redirect_to_primary === 1 && target && target !== d.hostname ? target : null,
    });
  }
  routes.sort((a, b) => cmp(a.hostname, b.hostname));

  const upstreams: Upstream[] = [];
  const policies: EnvironmentPolicies[] = [];
  for (const e of envs) {
    const rt = parseRuntime(e.runtime);
    const members: Upstream['members'] = [];
    for (const s of parseServerIds(e.server_ids)) {
      const addr = address.get(s);
      const port = rt.webPorts[s];
      if (addr && port !== undefined) members.push({ serverId: s, address: addr, port });
    }
    upstreams.push({
      environmentId: e.id,
      state: e.desired_state === 'stopped' ? 'stopped' : 'running',
      policy: 'round-robin',
      members,
      healthCheck: defaultHealthCheck(primaryOf.get(e.id) ?? null),
      connectTimeoutMs: 5000,
      readTimeoutMs: Math.max(60, parsePhp(e.php)?.maxExecutionTimeS ?? 60) * 1000 + 5000,
    });
    policies.push({
      ...defaultPolicies(e.id, e.site_kind, parsePhp(e.php)?.uploadMaxMb ?? 64),
      ...accessPolicies(e, access.get(e.id)),
    });
  }

  return {
    apiVersion: EDGE_SNAPSHOT_API_VERSION,
    kind: 'EdgeSnapshot',
    revision: input.revision,
    generatedAt: input.generatedAt,
    sites: [...sitesById.values()].sort((a, b) => cmp(a.id, b.id)),
    routes,
    upstreams,
    certificates: [],
    policies,
    // Every purge of the window, also for environments not listed (being deleted): the seq stays contiguous.
    purges: [...(input.purges ?? [])],
    purgeSeq: input.purges?.at(-1)?.seq ?? 0,
  };
}

export async function loadEdgeSnapshot(db: Kysely<DB>, generatedAt: string): Promise<EdgeSnapshot> {
  const revision = await currentRevision(db);
  const [environments, domains, servers, { purges }, access] = await Promise.all([
    selectEnvironmentsWithSite(db).where('environments.status', '!=', 'deleting').execute(),
    db.selectFrom('domains').select(['environment_id', 'hostname', 'is_primary', 'redirect_to_primary']).execute(),
    db.selectFrom('servers').select(['id', 'address']).where('role', '=', 'app').execute(),
    loadPurges(db),
    db.selectFrom('environments').select(['id', 'staging', 'protection']).execute(),
  ]);
  return buildEdgeSnapshot({ revision, generatedAt, environments, domains, servers, purges, access });
}
