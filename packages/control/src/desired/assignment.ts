import { ASSIGNMENT_API_VERSION, type AssignedEnvironment, type Assignment, type InstallIntent } from '@triplane/spec';
import type { Kysely } from 'kysely';
import type { DB } from '../store/schema.ts';
import { currentRevision } from '../store/store.ts';
import { parseExternalDatabase, parsePhp, parseResources, parseRuntime, parseServerIds } from './rows.ts';

/** One environment with its site, as the builders need it. */
export interface EnvironmentWithSite {
  id: string;
  site_id: string;
  name: string;
  desired_state: string;
  status: string;
  generation: number;
  php: string;
  resources: string;
  replicas: number;
  server_ids: string;
  external_database: string | null;
  runtime: string | null;
  /** JSON InstallIntent or null (absent when not selected) */
  install_intent?: string | null;
  org_id: string;
  site_name: string;
  site_kind: string;
  site_plan: string;
  site_status: string;
}

export interface DomainRowLite {
  environment_id: string;
  hostname: string;
  is_primary: number;
  redirect_to_primary: number;
}

function byId<T extends { id: string }>(a: T, b: T): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Hostnames of an environment, primary first, then alphabetical. */
export function hostnamesOf(envId: string, domains: readonly DomainRowLite[]): string[] {
  return domains
    .filter((d) => d.environment_id === envId)
    .sort((a, b) => b.is_primary - a.is_primary || (a.hostname < b.hostname ? -1 : 1))
    .map((d) => d.hostname);
}

/** `environments.install_intent` → InstallIntent, or undefined (none, or unreadable). */
export function parseInstallIntent(text: string | null): InstallIntent | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as Partial<InstallIntent> | null;
    if (!v || typeof v !== 'object') return undefined;
    const { title, adminUser, adminEmail, adminPassword, url } = v;
    if (typeof title !== 'string' || typeof adminUser !== 'string') return undefined;
    if (typeof adminEmail !== 'string' || typeof adminPassword !== 'string') return undefined;
    return { title, adminUser, adminEmail, adminPassword, ...(typeof url === 'string' ? { url } : {}) };
  } catch {
    return undefined;
  }
}

/**
 * Build the Assignment of one server from store rows (pure). Environments that are being
 * deleted, or not yet allocated on this server, are left out: the agent removes what is not
 * listed.
 */
export function buildAssignment(input: {
  serverId: string;
  revision: number;
  environments: readonly EnvironmentWithSite[];
  domains: readonly DomainRowLite[];
}): Assignment {
  const out: AssignedEnvironment[] = [];
  for (const e of [...input.environments].sort(byId)) {
    if (e.status === 'deleting' || e.site_status === 'deleting') continue;
    const serverIds = parseServerIds(e.server_ids);
    if (!serverIds.includes(input.serverId)) continue;
    const rt = parseRuntime(e.runtime);
    const webPort = rt.webPorts[input.serverId];
    if (rt.unixUser === null || rt.uidSlot === null || webPort === undefined) continue;
    const install = parseInstallIntent(e.install_intent ?? null);
    out.push({
      id: e.id,
      siteId: e.site_id,
      orgId: e.org_id,
      siteName: e.site_name,
      name: e.name,
      kind: e.site_kind,
      plan: e.site_plan,
      desiredState: e.desired_state === 'stopped' ? 'stopped' : 'running',
      generation: e.generation,
      php: parsePhp(e.php),
      resources: parseResources(e.resources),
      replicas: e.replicas,
      serverIds,
      externalDatabase: parseExternalDatabase(e.external_database),
      domains: hostnamesOf(e.id, input.domains),
      runtime: { unixUser: rt.unixUser, uidSlot: rt.uidSlot, webPort },
      ...(install ? { install } : {}),
    });
  }
  return {
    apiVersion: ASSIGNMENT_API_VERSION,
    kind: 'Assignment',
    serverId: input.serverId,
    revision: input.revision,
    environments: out,
  };
}

/** Select environments joined with their sites (optionally only those placed on one server). */
export function selectEnvironmentsWithSite(db: Kysely<DB>) {
  return db
    .selectFrom('environments')
    .innerJoin('sites', 'sites.id', 'environments.site_id')
    .select([
      'environments.id',
      'environments.site_id',
      'environments.name',
      'environments.desired_state',
      'environments.status',
      'environments.generation',
      'environments.php',
      'environments.resources',
      'environments.replicas',
      'environments.server_ids',
      'environments.external_database',
      'environments.runtime',
      'environments.install_intent',
      'sites.org_id',
      'sites.name as site_name',
      'sites.kind as site_kind',
      'sites.plan as site_plan',
      'sites.status as site_status',
    ]);
}

/** Read what the builder needs for one server and build its Assignment. */
export async function loadAssignment(db: Kysely<DB>, serverId: string): Promise<Assignment> {
  // Revision first: a change committed after this read bumps it again, so a watcher never
  // misses a change (at worst it rebuilds once more).
  const revision = await currentRevision(db);
  const environments = await selectEnvironmentsWithSite(db)
    // Ids are random base32, so a substring match on the JSON list is exact; the builder re-checks.
    .where('environments.server_ids', 'like', `%"${serverId}"%`)
    .where('environments.status', '!=', 'deleting')
    .execute();
  const ids = environments.map((e) => e.id);
  const domains = ids.length
    ? await db
        .selectFrom('domains')
        .select(['environment_id', 'hostname', 'is_primary', 'redirect_to_primary'])
        .where('environment_id', 'in', ids)
        .execute()
    : [];
  return buildAssignment({ serverId, revision, environments, domains });
}
