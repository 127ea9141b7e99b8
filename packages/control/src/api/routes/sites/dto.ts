import type { Domain, Environment, EnvironmentStatus, ObservedReport, Plan, Site, SiteKind, SiteStatus } from '@triplane/spec';
import type { Selectable } from 'kysely';
import {
  parseExternalDatabase,
  parseObserved,
  parsePhp,
  parseResources,
  parseRuntime,
  parseServerIds,
} from '../../../desired/rows.ts';
import type { DomainsTable, EnvironmentsTable, SitesTable } from '../../../store/schema.ts';

/** Store rows → the API's wire shapes (packages/spec/src/api/sites.ts). No secrets live in these rows. */

export function toSite(r: Selectable<SitesTable>): Site {
  return {
    id: r.id,
    orgId: r.org_id,
    name: r.name,
    kind: r.kind as SiteKind,
    plan: r.plan as Plan,
    status: r.status as SiteStatus,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function toEnvironment(r: Selectable<EnvironmentsTable>): Environment {
  const observed: ObservedReport[] = Object.entries(parseObserved(r.observed).servers)
    .map(([serverId, o]) => ({
      serverId,
      status: o.status,
      message: o.message ?? null,
      generation: o.generation ?? null,
      at: o.at,
      containers: o.containers ?? [],
      ...(o.installed !== undefined ? { installed: o.installed } : {}),
    }))
    .sort((a, b) => (a.serverId < b.serverId ? -1 : 1));
  return {
    id: r.id,
    siteId: r.site_id,
    name: r.name,
    desiredState: r.desired_state === 'stopped' ? 'stopped' : 'running',
    status: r.status as EnvironmentStatus,
    statusMessage: r.status_message,
    generation: Number(r.generation),
    php: parsePhp(r.php),
    resources: parseResources(r.resources),
    replicas: Number(r.replicas),
    serverIds: parseServerIds(r.server_ids),
    externalDatabase: parseExternalDatabase(r.external_database),
    runtime: parseRuntime(r.runtime),
    observed,
    staging: Number(r.staging) === 1,
    // the user only: the hash stays in the store and the edge snapshot
    protection: r.protection ? { user: (JSON.parse(r.protection) as { user: string }).user } : null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function toDomain(r: Selectable<DomainsTable>): Domain {
  return {
    id: r.id,
    environmentId: r.environment_id,
    hostname: r.hostname,
    primary: r.is_primary === 1,
    redirectToPrimary: r.redirect_to_primary === 1,
    createdAt: r.created_at,
  };
}
