import { type Static, Type } from '@sinclair/typebox';
import { forbidden, isoNow, newId, notFound, TriplaneError, validation } from '@triplane/kernel';
import { AddMemberRequest, Id, ListQuery, Membership, MembershipList, type Role, UpdateMemberRequest } from '@triplane/spec';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import { audit } from '../../../audit/audit.ts';
import { type MembershipRow, toMembership } from '../../../identity/dto.ts';
import { assertOwnerRemains, lockOrg } from '../../../identity/org-guard.ts';
import { DEFAULT_PAGE_SIZE, page } from '../../../identity/pagination.ts';
import type { DB } from '../../../store/schema.ts';
import { atLeast, canSeeOrg, effectiveRole, requireOrgRole, requireUser } from '../../auth/authorize.ts';
import { errorResponses } from '../../errors.ts';

const TAGS = ['members'];
const OrgParams = Type.Object({ orgId: Id }, { additionalProperties: false });
const MemberParams = Type.Object({ orgId: Id, memberId: Id }, { additionalProperties: false });
type MemberParams = Static<typeof MemberParams>;

function memberQuery(db: Kysely<DB>) {
  return db
    .selectFrom('memberships')
    .innerJoin('users', 'users.id', 'memberships.user_id')
    .selectAll('memberships')
    .select(['users.email as email', 'users.name as name']);
}

async function loadMember(db: Kysely<DB>, orgId: string, memberId: string): Promise<MembershipRow> {
  const m = await memberQuery(db)
    .where('memberships.id', '=', memberId)
    .where('memberships.org_id', '=', orgId)
    .executeTakeFirst();
  if (!m) throw notFound('member');
  return m;
}

/** Owner grants, and changes to an owner's grant, need an owner (superusers count as owners). */
function requireOwnerFor(callerRole: Role, what: string): void {
  if (callerRole !== 'owner') throw forbidden(`only an owner can ${what}`);
}

/** Leaving: a member may always remove their own grant (unless they are the last owner). */
function isSelf(req: FastifyRequest, m: MembershipRow): boolean {
  const p = req.principal;
  return p.kind === 'user' && p.userId === m.user_id;
}

/**
 * /api/v1/orgs/{orgId}/members: who holds which role in an organization. Org-wide members
 * (viewer and up) list everyone; members granted single sites only see their own grants.
 * Admins add, change and remove members; only owners grant or take away `owner`, and an
 * organization always keeps one org-wide owner (409 otherwise). `owner` is org-wide only.
 */
export default async function membersRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Params: Static<typeof OrgParams>; Querystring: Static<typeof ListQuery> }>(
    '/orgs/:orgId/members',
    {
      schema: {
        tags: TAGS,
        summary: 'List the members of an organization',
        params: OrgParams,
        querystring: ListQuery,
        response: { 200: MembershipList, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const u = requireUser(req);
      const { orgId } = req.params;
      if (!(await canSeeOrg(req, orgId))) throw notFound('organization');
      const { db } = app.ctx.store;
      const org = await db.selectFrom('organizations').select('id').where('id', '=', orgId).executeTakeFirst();
      if (!org) throw notFound('organization');
      const orgWide = (await effectiveRole(req, orgId)) !== undefined;
      const limit = req.query.limit ?? DEFAULT_PAGE_SIZE;
      let q = memberQuery(db)
        .where('memberships.org_id', '=', orgId)
        .orderBy('memberships.id')
        .limit(limit + 1);
      if (!orgWide) q = q.where('memberships.user_id', '=', u.userId);
      if (req.query.cursor) q = q.where('memberships.id', '>', req.query.cursor);
      const p = page(await q.execute(), limit);
      return { items: p.items.map(toMembership), nextCursor: p.nextCursor };
    },
  );

  app.post<{ Params: Static<typeof OrgParams>; Body: AddMemberRequest }>(
    '/orgs/:orgId/members',
    {
      schema: {
        tags: TAGS,
        summary: 'Grant an existing user a role in the organization, org-wide or on one site (admins)',
        params: OrgParams,
        body: AddMemberRequest,
        response: { 201: Membership, ...errorResponses(400, 401, 403, 404, 409, 415, 422) },
      },
    },
    async (req, reply) => {
      const { orgId } = req.params;
      const callerRole = await requireOrgRole(req, orgId, 'admin');
      const { userId, email, role } = req.body;
      const siteId = req.body.siteId ?? null;
      if ((userId === undefined) === (email === undefined)) throw validation('give exactly one of body.userId and body.email');
      if (role === 'owner') requireOwnerFor(callerRole, 'grant the owner role');
      if (role === 'owner' && siteId !== null) {
        throw new TriplaneError(
          'TRIPLANE_ERR_UNPROCESSABLE',
          'owner is an organization-wide role; it cannot be granted on one site',
        );
      }
      const now = isoNow(app.ctx.clock);
      const row = await app.ctx.store.transaction(async (trx) => {
        await lockOrg(trx, orgId);
        let uq = trx.selectFrom('users').select(['id', 'email', 'name']);
        uq = userId !== undefined ? uq.where('id', '=', userId) : uq.where('email', '=', (email as string).toLowerCase());
        const user = await uq.executeTakeFirst();
        if (!user) throw notFound('user');
        if (siteId !== null) {
          const site = await trx.selectFrom('sites').select('org_id').where('id', '=', siteId).executeTakeFirst();
          if (!site || site.org_id !== orgId) throw notFound('site', { siteId });
        }
        const scope = siteId ?? '*';
        const dup = await trx
          .selectFrom('memberships')
          .select('id')
          .where('org_id', '=', orgId)
          .where('user_id', '=', user.id)
          .where('scope', '=', scope)
          .executeTakeFirst();
        if (dup) {
          throw new TriplaneError(
            'TRIPLANE_ERR_ALREADY_EXISTS',
            'the user already has a role with this scope; change it instead',
            {
              memberId: dup.id,
            },
          );
        }
        const m = { id: newId('mem'), org_id: orgId, user_id: user.id, site_id: siteId, scope, role, created_at: now };
        await trx.insertInto('memberships').values(m).execute();
        await audit(trx, req, {
          action: 'member.create',
          orgId,
          targetType: 'membership',
          targetId: m.id,
          details: { userId: user.id, email: user.email, role, siteId },
        });
        return { ...m, email: user.email, name: user.name };
      });
      return reply.code(201).send(toMembership(row));
    },
  );

  app.patch<{ Params: MemberParams; Body: UpdateMemberRequest }>(
    '/orgs/:orgId/members/:memberId',
    {
      schema: {
        tags: TAGS,
        summary: "Change a member's role (admins; owners for the owner role)",
        params: MemberParams,
        body: UpdateMemberRequest,
        response: { 200: Membership, ...errorResponses(400, 401, 403, 404, 409, 415, 422) },
      },
    },
    async (req) => {
      const { orgId, memberId } = req.params;
      const callerRole = await requireOrgRole(req, orgId, 'admin');
      const { role } = req.body;
      return app.ctx.store.transaction(async (trx) => {
        await lockOrg(trx, orgId);
        const m = await loadMember(trx, orgId, memberId);
        if (m.role === 'owner' || role === 'owner') requireOwnerFor(callerRole, 'grant or take away the owner role');
        if (role === 'owner' && m.site_id !== null) {
          throw new TriplaneError(
            'TRIPLANE_ERR_UNPROCESSABLE',
            'owner is an organization-wide role; it cannot be granted on one site',
          );
        }
        if (m.role === role) return toMembership(m);
        await trx.updateTable('memberships').set({ role }).where('id', '=', memberId).execute();
        await assertOwnerRemains(trx, orgId);
        await audit(trx, req, {
          action: 'member.update',
          orgId,
          targetType: 'membership',
          targetId: memberId,
          details: { userId: m.user_id, from: m.role, to: role, siteId: m.site_id },
        });
        return toMembership({ ...m, role });
      });
    },
  );

  app.delete<{ Params: MemberParams }>(
    '/orgs/:orgId/members/:memberId',
    {
      schema: {
        tags: TAGS,
        summary: 'Remove a member (admins; owners for an owner; anyone for their own grant)',
        params: MemberParams,
        response: { 204: { type: 'null', description: 'removed' }, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (req, reply) => {
      const { orgId, memberId } = req.params;
      requireUser(req);
      if (!(await canSeeOrg(req, orgId))) throw notFound('organization');
      const callerRole = await effectiveRole(req, orgId);
      await app.ctx.store.transaction(async (trx) => {
        await lockOrg(trx, orgId);
        const m = await loadMember(trx, orgId, memberId);
        if (!isSelf(req, m)) {
          // Site-scoped members may only see (and remove) their own grants: others are 404.
          if (callerRole === undefined) throw notFound('member');
          if (!atLeast(callerRole, 'admin')) throw forbidden(`requires the admin role; you are ${callerRole}`);
          if (m.role === 'owner') requireOwnerFor(callerRole, 'remove an owner');
        }
        await trx.deleteFrom('memberships').where('id', '=', memberId).execute();
        await assertOwnerRemains(trx, orgId);
        await audit(trx, req, {
          action: 'member.delete',
          orgId,
          targetType: 'membership',
          targetId: memberId,
          details: { userId: m.user_id, email: m.email, role: m.role, siteId: m.site_id },
        });
      });
      return reply.code(204).send();
    },
  );
}
