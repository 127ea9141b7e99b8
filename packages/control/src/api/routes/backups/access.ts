import { TriplaneError } from '@triplane/kernel';
import type { Role } from '@triplane/spec';
import type { FastifyRequest } from 'fastify';
import { requireOrgRole, requireSiteRole } from '../../auth/authorize.ts';

/**
 * Who may read or act on a backup (or a job about one): the role on its site while the site
 * exists; once the site is deleted — its `pre-delete` backups outlive it — an org-wide role,
 * because site-scoped grants went with the site. Anything invisible is `notFound`.
 */
export async function requireBackupRole(
  req: FastifyRequest,
  row: { site_id: string; org_id: string | null },
  min: Role,
  notFound = 'backup not found',
): Promise<{ orgId: string; siteId: string; siteExists: boolean }> {
  const site = await req.server.ctx.store.db
    .selectFrom('sites')
    .select(['id', 'org_id'])
    .where('id', '=', row.site_id)
    .executeTakeFirst();
  try {
    if (site) {
      await requireSiteRole(req, site.id, min);
      return { orgId: site.org_id, siteId: site.id, siteExists: true };
    }
    if (!row.org_id) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', notFound);
    await requireOrgRole(req, row.org_id, min);
    return { orgId: row.org_id, siteId: row.site_id, siteExists: false };
  } catch (e) {
    if (e instanceof TriplaneError && e.code === 'TRIPLANE_ERR_NOT_FOUND')
      throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', notFound);
    throw e;
  }
}
