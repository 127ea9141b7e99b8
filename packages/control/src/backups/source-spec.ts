import { DEFAULT_PHP, DEFAULT_RESOURCES, type PhpSettings, type ResourceLimits } from '@triplane/spec';
import type { Kysely } from 'kysely';
import type { DB } from '../store/schema.ts';

/**
 * What a backup keeps of its source (`backups.source_spec`, migration 010) so it can become a
 * new site after its own site was deleted: the application and plan, PHP settings and limits, and
 * the primary URL the data was written for (the URL rewrite's "from").
 *
 * Example: {"kind":"wordpress","plan":"essentials","php":{…},"resources":{…},"url":"https://shop.example.com"}
 */
export interface SourceSpec {
  kind: string;
  plan: string;
  php: PhpSettings;
  resources: ResourceLimits;
  /** `https://<primary domain>`, or null (no domain: the agent's web port URL) */
  url: string | null;
}

/** `https://<primary domain>` of an environment, or null (the agent then uses its web port). */
export async function primaryUrl(db: Kysely<DB>, envId: string): Promise<string | null> {
  const d = await db
    .selectFrom('domains')
    .select('hostname')
    .where('environment_id', '=', envId)
    .orderBy('is_primary', 'desc')
    .orderBy('created_at')
    .executeTakeFirst();
  return d ? `https://${d.hostname}` : null;
}

/** The source spec of a live environment (null when it or its site is gone). */
export async function sourceSpecOf(db: Kysely<DB>, envId: string): Promise<SourceSpec | null> {
  const row = await db
    .selectFrom('environments')
    .innerJoin('sites', 'sites.id', 'environments.site_id')
    .select(['sites.kind', 'sites.plan', 'environments.php', 'environments.resources'])
    .where('environments.id', '=', envId)
    .executeTakeFirst();
  if (!row) return null;
  return {
    kind: row.kind,
    plan: row.plan,
    php: { ...DEFAULT_PHP, ...(JSON.parse(row.php) as Partial<PhpSettings>) },
    resources: { ...DEFAULT_RESOURCES, ...(JSON.parse(row.resources) as Partial<ResourceLimits>) },
    url: await primaryUrl(db, envId),
  };
}

/** `backups.source_spec` read back; null when absent or unreadable (a backup recorded before migration 010). */
export function parseSourceSpec(text: string | null): SourceSpec | null {
  if (!text) return null;
  try {
    const v = JSON.parse(text) as Partial<SourceSpec>;
    if (typeof v.kind !== 'string' || typeof v.plan !== 'string') return null;
    return {
      kind: v.kind,
      plan: v.plan,
      php: { ...DEFAULT_PHP, ...(v.php ?? {}) },
      resources: { ...DEFAULT_RESOURCES, ...(v.resources ?? {}) },
      url: typeof v.url === 'string' ? v.url : null,
    };
  } catch {
    return null;
  }
}
