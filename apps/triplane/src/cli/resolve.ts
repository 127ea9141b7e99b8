import { type Environment, type SiteDetail, TriplaneApiError, type TriplaneClient } from '@triplane/client';
import { notFoundError, usageError } from './exit.ts';

/** The `Id` shape of spec's primitives: `<prefix>_<16 base32>`. */
const ID_RE = /^[a-z]{2,8}_[0-9a-z]{16}$/;

export function isId(s: string): boolean {
  return ID_RE.test(s);
}

/**
 * An organization given as id or slug; when none is given, the caller's only organization
 * (or an error asking for --org when there are several).
 */
export async function resolveOrg(client: TriplaneClient, ref: string | undefined): Promise<string> {
  if (ref && isId(ref)) return ref;
  const me = await client.auth.me();
  const mine = new Map<string, string>();
  for (const m of me.memberships) mine.set(m.orgId, m.orgSlug);
  if (ref) {
    for (const [id, slug] of mine) if (slug === ref) return id;
    const all = await client.all((cursor) => client.orgs.list({ cursor }));
    const hit = all.find((o) => o.slug === ref);
    if (hit) return hit.id;
    throw notFoundError(`organization ${ref} not found`);
  }
  if (mine.size === 1) return [...mine.keys()][0] as string;
  if (mine.size === 0) {
    const all = await client.all((cursor) => client.orgs.list({ cursor }));
    if (all.length === 1) return (all[0] as { id: string }).id;
  }
  throw usageError('you belong to several organizations (or none): pass --org SLUG');
}

/** A site given as id or name (names are unique within an organization). */
export async function resolveSite(client: TriplaneClient, ref: string, orgRef?: string): Promise<SiteDetail> {
  if (isId(ref)) return client.sites.get(ref);
  const orgId = orgRef ? await resolveOrg(client, orgRef) : undefined;
  let items: { id: string; orgId: string }[];
  try {
    items = (await client.sites.list({ name: ref, ...(orgId ? { orgId } : {}) })).items;
  } catch (e) {
    if (e instanceof TriplaneApiError && e.status === 400) throw usageError(`not a site name or id: ${ref}`);
    throw e;
  }
  if (items.length === 0) throw notFoundError(`site ${ref} not found`);
  if (items.length > 1) throw usageError(`several sites are named ${ref}: pass --org SLUG or the site id`);
  return client.sites.get((items[0] as { id: string }).id);
}

/** An environment of a site, by name or id (`production` when not given). */
export function pickEnvironment(site: SiteDetail, ref = 'production'): Environment {
  const env = site.environments.find((e) => e.name === ref || e.id === ref);
  if (!env) throw notFoundError(`site ${site.name} has no environment ${ref}`);
  return env;
}

export async function resolveEnvironment(
  client: TriplaneClient,
  siteRef: string,
  envRef: string | undefined,
  orgRef?: string,
): Promise<{ site: SiteDetail; env: Environment }> {
  if (!envRef && isId(siteRef) && siteRef.startsWith('env_')) {
    const env = await client.environments.get(siteRef);
    return { site: await client.sites.get(env.siteId), env };
  }
  const site = await resolveSite(client, siteRef, orgRef);
  return { site, env: pickEnvironment(site, envRef) };
}
