import { TriplaneError } from '@triplane/kernel';
import { ROLE_RANK, type Role } from '@triplane/spec';
import type { FastifyRequest } from 'fastify';
import type { SitesTable } from '../../store/schema.ts';
import type { MembershipGrant, ServerPrincipal, UserPrincipal } from './principal.ts';

/**
 * Authorization, used by every route. The model:
 * - a membership grants a role in an organization, either org-wide or for one site;
 * - the effective role on a site is the higher of the org-wide and the site grant;
 * - platform superusers (the owner made by `triplane init`) act as owner everywhere and
 *   alone manage servers and organizations;
 * - a caller with no grant on a resource gets 404, not 403, so ids of other
 *   organizations cannot be probed; a caller with too low a role gets 403.
 *
 * Roles: viewer reads; developer changes sites' environments, domains, deploys and
 * backups; admin also creates/deletes sites and manages members and tokens; owner also
 * manages owners and the organization itself.
 */

export function requireUser(req: FastifyRequest): UserPrincipal {
  const p = req.principal;
  if (p.kind === 'user') return p;
  if (p.kind === 'anonymous') throw new TriplaneError('TRIPLANE_ERR_UNAUTHENTICATED', 'authentication required');
  throw new TriplaneError('TRIPLANE_ERR_FORBIDDEN', 'servers cannot use this endpoint');
}

export function requireServer(req: FastifyRequest, role?: 'app' | 'edge'): ServerPrincipal {
  const p = req.principal;
  if (p.kind === 'anonymous') throw new TriplaneError('TRIPLANE_ERR_UNAUTHENTICATED', 'authentication required');
  if (p.kind !== 'server' || (role && p.role !== role)) {
    throw new TriplaneError('TRIPLANE_ERR_FORBIDDEN', 'this endpoint is for servers');
  }
  return p;
}

export function requireSuperuser(req: FastifyRequest): UserPrincipal {
  const u = requireUser(req);
  if (!u.isSuperuser) throw new TriplaneError('TRIPLANE_ERR_FORBIDDEN', 'platform administrators only');
  return u;
}

export async function grants(req: FastifyRequest): Promise<MembershipGrant[]> {
  if (req.grantsCache) return req.grantsCache;
  const u = requireUser(req);
  const rows = await req.server.ctx.store.db
    .selectFrom('memberships')
    .select(['org_id', 'site_id', 'role'])
    .where('user_id', '=', u.userId)
    .execute();
  req.grantsCache = rows.map((r) => ({ orgId: r.org_id, siteId: r.site_id, role: r.role as Role }));
  return req.grantsCache;
}

function maxRole(a: Role | undefined, b: Role | undefined): Role | undefined {
  if (!a) return b;
  if (!b) return a;
  return ROLE_RANK[a] >= ROLE_RANK[b] ? a : b;
}

/** Effective role on an organization (org-wide grants only), or on one of its sites. */
export async function effectiveRole(req: FastifyRequest, orgId: string, siteId?: string): Promise<Role | undefined> {
  const u = requireUser(req);
  if (u.isSuperuser) return 'owner';
  let role: Role | undefined;
  for (const g of await grants(req)) {
    if (g.orgId !== orgId) continue;
    if (g.siteId === null || (siteId !== undefined && g.siteId === siteId)) role = maxRole(role, g.role);
  }
  return role;
}

/** True when the user has any grant in the organization (org-wide or on one of its sites). */
export async function canSeeOrg(req: FastifyRequest, orgId: string): Promise<boolean> {
  const u = requireUser(req);
  if (u.isSuperuser) return true;
  return (await grants(req)).some((g) => g.orgId === orgId);
}

export function atLeast(role: Role | undefined, min: Role): boolean {
  return role !== undefined && ROLE_RANK[role] >= ROLE_RANK[min];
}

/** Org-level check: 404 when the org is invisible to the caller, 403 when the role is too low. */
export async function requireOrgRole(req: FastifyRequest, orgId: string, min: Role): Promise<Role> {
  const role = await effectiveRole(req, orgId);
  if (!role) {
    if (await canSeeOrg(req, orgId))
      throw new TriplaneError('TRIPLANE_ERR_FORBIDDEN', `requires the ${min} role in this organization`);
    throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'organization not found');
  }
  if (!atLeast(role, min)) throw new TriplaneError('TRIPLANE_ERR_FORBIDDEN', `requires the ${min} role; you are ${role}`);
  return role;
}

/** Load a site and check the caller's role on it. 404 if missing or invisible. */
export async function requireSiteRole(req: FastifyRequest, siteId: string, min: Role): Promise<{ site: SitesTable; role: Role }> {
  const site = await req.server.ctx.store.db.selectFrom('sites').selectAll().where('id', '=', siteId).executeTakeFirst();
  if (!site) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'site not found');
  const role = await effectiveRole(req, site.org_id, site.id);
  if (!role) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'site not found');
  if (!atLeast(role, min)) throw new TriplaneError('TRIPLANE_ERR_FORBIDDEN', `requires the ${min} role; you are ${role}`);
  return { site, role };
}

/**
 * What lists may show: `all` for superusers; otherwise org ids with an org-wide grant
 * and site ids granted one by one.
 */
export async function visibility(req: FastifyRequest): Promise<{ all: boolean; orgIds: string[]; siteIds: string[] }> {
  const u = requireUser(req);
  if (u.isSuperuser) return { all: true, orgIds: [], siteIds: [] };
  const gs = await grants(req);
  return {
    all: false,
    orgIds: [...new Set(gs.filter((g) => g.siteId === null).map((g) => g.orgId))],
    siteIds: [...new Set(gs.filter((g) => g.siteId !== null).map((g) => g.siteId as string))],
  };
}
