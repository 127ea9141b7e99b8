import { isoNow, newId, TriplaneError } from '@triplane/kernel';
import {
  DEFAULT_PHP,
  DEFAULT_RESOURCES,
  type ExternalDatabase,
  type PhpSettings,
  type Plan,
  type ResourceLimits,
} from '@triplane/spec';
import type { Insertable, Kysely } from 'kysely';
import { emptyRuntime, serverIdsJson } from '../../../desired/rows.ts';
import type { DB, EnvironmentsTable } from '../../../store/schema.ts';

/**
 * Rules an environment's settings must follow, checked before anything is written:
 * - essentials: one replica on one server, its database runs in the pod (no externalDatabase);
 * - pro: an external MySQL/MariaDB is required (replicas on several servers share it);
 * - pinned servers must exist and be app servers; when pinned, replicas = number of servers.
 */
export function unprocessable(message: string, details?: unknown): TriplaneError {
  return new TriplaneError('TRIPLANE_ERR_UNPROCESSABLE', message, details);
}

export function checkPlan(
  plan: Plan | string,
  o: { replicas: number; serverIds: readonly string[]; externalDatabase: ExternalDatabase | null },
): void {
  if (plan === 'essentials') {
    if (o.externalDatabase) throw unprocessable('the essentials plan runs its database in the pod; externalDatabase is for pro');
    if (o.replicas > 1 || o.serverIds.length > 1) throw unprocessable('the essentials plan runs one replica; use pro for more');
  } else if (!o.externalDatabase) {
    throw unprocessable('the pro plan needs externalDatabase (an external MySQL/MariaDB)');
  }
}

export function resolveReplicas(replicas: number | undefined, serverIds: readonly string[] | undefined, current = 1): number {
  if (serverIds && serverIds.length > 0) {
    if (replicas !== undefined && replicas !== serverIds.length) {
      throw unprocessable('replicas must equal the number of serverIds when servers are pinned', {
        replicas,
        servers: serverIds.length,
      });
    }
    return serverIds.length;
  }
  return replicas ?? current;
}

export async function checkServerIds(db: Kysely<DB>, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const rows = await db
    .selectFrom('servers')
    .select(['id', 'role'])
    .where('id', 'in', [...ids])
    .execute();
  const apps = new Set(rows.filter((r) => r.role === 'app').map((r) => r.id));
  const bad = ids.filter((id) => !apps.has(id));
  if (bad.length) throw unprocessable('serverIds must name existing app servers', { serverIds: bad });
}

export function mergePhp(base: PhpSettings, patch: Partial<PhpSettings> | undefined): PhpSettings {
  return { ...base, ...(patch ?? {}) };
}

export function mergeResources(base: ResourceLimits, patch: Partial<ResourceLimits> | undefined): ResourceLimits {
  return { ...base, ...(patch ?? {}) };
}

/** A new environment row: pending until its provisioning job places it. */
export function newEnvironmentRow(o: {
  siteId: string;
  name: string;
  php?: Partial<PhpSettings> | undefined;
  resources?: Partial<ResourceLimits> | undefined;
  replicas: number;
  serverIds: readonly string[];
  externalDatabase: ExternalDatabase | null;
  now?: string;
}): Insertable<EnvironmentsTable> & { id: string } {
  const now = o.now ?? isoNow();
  return {
    id: newId('env'),
    site_id: o.siteId,
    name: o.name,
    desired_state: 'running',
    status: 'pending',
    status_message: 'queued for provisioning',
    generation: 1,
    php: JSON.stringify(mergePhp(DEFAULT_PHP, o.php)),
    resources: JSON.stringify(mergeResources(DEFAULT_RESOURCES, o.resources)),
    replicas: o.replicas,
    server_ids: serverIdsJson(o.serverIds),
    external_database: o.externalDatabase ? JSON.stringify(o.externalDatabase) : null,
    runtime: JSON.stringify(emptyRuntime(o.serverIds.length > 0)),
    observed: null,
    created_at: now,
    updated_at: now,
  };
}
