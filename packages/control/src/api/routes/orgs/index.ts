import { type Static, Type } from '@sinclair/typebox';
import { conflict, isoNow, newId, notFound } from '@triplane/kernel';
import {
  CreateOrganizationRequest,
  Id,
  ListQuery,
  Organization,
  OrganizationList,
  UpdateOrganizationRequest,
} from '@triplane/spec';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { audit } from '../../../audit/audit.ts';
import { toOrganization } from '../../../identity/dto.ts';
import { DEFAULT_PAGE_SIZE, page } from '../../../identity/pagination.ts';
import { canSeeOrg, requireOrgRole, requireSuperuser, requireUser, visibility } from '../../auth/authorize.ts';
import { errorResponses } from '../../errors.ts';

const TAGS = ['organizations'];
const OrgParams = Type.Object({ orgId: Id }, { additionalProperties: false });
type OrgParams = Static<typeof OrgParams>;

/** Superuser-only actions on one org: 404 to those who can't see it, 403 to members. */
async function requireSuperuserOn(req: FastifyRequest, orgId: string): Promise<void> {
  const u = requireUser(req);
  if (u.isSuperuser) return;
  if (await canSeeOrg(req, orgId)) requireSuperuser(req);
  throw notFound('organization');
}

/**
 * /api/v1/orgs: organizations. Everyone signed in lists the organizations they hold any
 * grant in (org-wide or on one site); platform administrators see and create all of them,
 * and alone delete them. Owners rename their own.
 */
export default async function orgsRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Querystring: Static<typeof ListQuery> }>(
    '/orgs',
    {
      schema: {
        tags: TAGS,
        summary: 'List the organizations visible to the caller',
        querystring: ListQuery,
        response: { 200: OrganizationList, ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => {
      const limit = req.query.limit ?? DEFAULT_PAGE_SIZE;
      const vis = await visibility(req);
      let q = app.ctx.store.db
        .selectFrom('organizations')
        .selectAll()
        .orderBy('id')
        .limit(limit + 1);
      if (req.query.cursor) q = q.where('id', '>', req.query.cursor);
      if (!vis.all) {
        const u = requireUser(req);
        q = q.where('id', 'in', (eb) => eb.selectFrom('memberships').select('org_id').where('user_id', '=', u.userId));
      }
      const rows = await q.execute();
      const p = page(rows, limit);
      return { items: p.items.map(toOrganization), nextCursor: p.nextCursor };
    },
  );

  app.post<{ Body: CreateOrganizationRequest }>(
    '/orgs',
    {
      schema: {
        tags: TAGS,
        summary: 'Create an organization (platform administrators); the creator becomes its owner',
        body: CreateOrganizationRequest,
        response: { 201: Organization, ...errorResponses(400, 401, 403, 409, 415) },
      },
    },
    async (req, reply) => {
      const u = requireSuperuser(req);
      const now = isoNow(app.ctx.clock);
      const row = { id: newId('org'), slug: req.body.slug, name: req.body.name, created_at: now, updated_at: now };
      await app.ctx.store.transaction(async (trx) => {
        await trx.insertInto('organizations').values(row).execute();
        await trx
          .insertInto('memberships')
          .values({
            id: newId('mem'),
            org_id: row.id,
            user_id: u.userId,
            site_id: null,
            scope: '*',
            role: 'owner',
            created_at: now,
          })
          .execute();
        await audit(trx, req, {
          action: 'org.create',
          orgId: row.id,
          targetType: 'organization',
          targetId: row.id,
          details: { slug: row.slug, name: row.name },
        });
      });
      return reply.code(201).send(toOrganization(row));
    },
  );

  app.get<{ Params: OrgParams }>(
    '/orgs/:orgId',
    {
      schema: {
        tags: TAGS,
        summary: 'Show an organization',
        params: OrgParams,
        response: { 200: Organization, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const { orgId } = req.params;
      if (!(await canSeeOrg(req, orgId))) throw notFound('organization');
      const row = await app.ctx.store.db.selectFrom('organizations').selectAll().where('id', '=', orgId).executeTakeFirst();
      if (!row) throw notFound('organization');
      return toOrganization(row);
    },
  );

  app.patch<{ Params: OrgParams; Body: UpdateOrganizationRequest }>(
    '/orgs/:orgId',
    {
      schema: {
        tags: TAGS,
        summary: "Rename an organization or change its slug (the organization's owners)",
        params: OrgParams,
        body: UpdateOrganizationRequest,
        response: { 200: Organization, ...errorResponses(400, 401, 403, 404, 409, 415) },
      },
    },
    async (req) => {
      const { orgId } = req.params;
      await requireOrgRole(req, orgId, 'owner');
      const now = isoNow(app.ctx.clock);
      return app.ctx.store.transaction(async (trx) => {
        const before = await trx.selectFrom('organizations').selectAll().where('id', '=', orgId).executeTakeFirst();
        if (!before) throw notFound('organization');
        const changes = { ...(req.body.slug ? { slug: req.body.slug } : {}), ...(req.body.name ? { name: req.body.name } : {}) };
        await trx
          .updateTable('organizations')
          .set({ ...changes, updated_at: now })
          .where('id', '=', orgId)
          .execute();
        await audit(trx, req, {
          action: 'org.update',
          orgId,
          targetType: 'organization',
          targetId: orgId,
          details: { before: { slug: before.slug, name: before.name }, changes },
        });
        return toOrganization({ ...before, ...changes, updated_at: now });
      });
    },
  );

  app.delete<{ Params: OrgParams }>(
    '/orgs/:orgId',
    {
      schema: {
        tags: TAGS,
        summary: 'Delete an organization that has no sites left (platform administrators)',
        params: OrgParams,
        response: { 204: { type: 'null', description: 'deleted' }, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (req, reply) => {
      const { orgId } = req.params;
      await requireSuperuserOn(req, orgId);
      await app.ctx.store.transaction(async (trx) => {
        const org = await trx.selectFrom('organizations').selectAll().where('id', '=', orgId).executeTakeFirst();
        if (!org) throw notFound('organization');
        const sites = await trx
          .selectFrom('sites')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('org_id', '=', orgId)
          .executeTakeFirstOrThrow();
        if (Number(sites.n) > 0) {
          throw conflict('the organization still has sites; delete them first', { sites: Number(sites.n) });
        }
        await trx.deleteFrom('memberships').where('org_id', '=', orgId).execute();
        await trx.deleteFrom('organizations').where('id', '=', orgId).execute();
        await audit(trx, req, {
          action: 'org.delete',
          orgId,
          targetType: 'organization',
          targetId: orgId,
          details: { slug: org.slug, name: org.name },
        });
      });
      return reply.code(204).send();
    },
  );
}
