import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { TriplaneError } from '@triplane/kernel';
import { type AuditEntry, AuditList, AuditQuery } from '@triplane/spec';
import type { FastifyInstance } from 'fastify';
import type { Selectable } from 'kysely';
import type { AuditLogTable } from '../../../store/schema.ts';
import { atLeast, grants, requireOrgRole, requireUser } from '../../auth/authorize.ts';
import { errorResponses } from '../../errors.ts';
import { decodeCursor, encodeCursor } from '../sites/access.ts';

function toEntry(r: Selectable<AuditLogTable>): AuditEntry {
  let details: unknown = null;
  if (r.details) {
    try {
      details = JSON.parse(r.details);
    } catch {
      details = null;
    }
  }
  return {
    id: r.id,
    at: r.at,
    orgId: r.org_id,
    actorType: r.actor_type,
    actorId: r.actor_id,
    actorVia: r.actor_via,
    action: r.action,
    targetType: r.target_type,
    targetId: r.target_id,
    ip: r.ip,
    userAgent: r.user_agent,
    details,
  };
}

/**
 * /api/v1/audit — the audit log, newest first. Organization admins and owners (org-wide
 * grants) read their organizations' entries; superusers read everything, including
 * platform-level entries (servers, agents) that belong to no organization.
 */
export default async function auditRoutes(base: FastifyInstance): Promise<void> {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { store } = app.ctx;

  app.get(
    '/audit',
    {
      schema: {
        tags: ['audit'],
        summary: 'Search the audit log (newest first, cursor pagination)',
        querystring: AuditQuery,
        response: { 200: AuditList, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const u = requireUser(req);
      const q = req.query;
      let orgIds: string[] | 'all';
      if (q.orgId) {
        await requireOrgRole(req, q.orgId, 'admin');
        orgIds = [q.orgId];
      } else if (u.isSuperuser) {
        orgIds = 'all';
      } else {
        orgIds = [
          ...new Set((await grants(req)).filter((g) => g.siteId === null && atLeast(g.role, 'admin')).map((g) => g.orgId)),
        ];
        if (orgIds.length === 0)
          throw new TriplaneError('TRIPLANE_ERR_FORBIDDEN', 'reading the audit log requires the admin role');
      }
      const limit = q.limit ?? 100;
      let sel = store.db.selectFrom('audit_log').selectAll();
      if (orgIds !== 'all') sel = sel.where('org_id', 'in', orgIds);
      if (q.action) sel = sel.where('action', '=', q.action);
      if (q.actorId) sel = sel.where('actor_id', '=', q.actorId);
      if (q.targetType) sel = sel.where('target_type', '=', q.targetType);
      if (q.targetId) sel = sel.where('target_id', '=', q.targetId);
      // `at` is ISO-8601 UTC text, so string comparison is time order; normalize the bounds to it.
      if (q.since) sel = sel.where('at', '>=', new Date(q.since).toISOString());
      if (q.until) sel = sel.where('at', '<', new Date(q.until).toISOString());
      if (q.cursor) {
        const [id] = decodeCursor(q.cursor, 1) as [string];
        sel = sel.where('id', '<', id);
      }
      // Audit ids are time-ordered (newSortableId), so id order is time order without ties.
      const rows = await sel
        .orderBy('id', 'desc')
        .limit(limit + 1)
        .execute();
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { items: page.map(toEntry), nextCursor: rows.length > limit && last ? encodeCursor([last.id]) : null };
    },
  );
}
