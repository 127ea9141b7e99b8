import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { isoNow, newId, TriplaneError } from '@triplane/kernel';
import { CreateDomainRequest, Domain, DomainList, Id, isValidHostname, UpdateDomainRequest } from '@triplane/spec';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { audit } from '../../../audit/audit.ts';
import type { DB } from '../../../store/schema.ts';
import { bumpRevision } from '../../../store/store.ts';
import { errorResponses } from '../../errors.ts';
import { requireDomainRole, requireEnvironmentRole } from '../sites/access.ts';
import { toDomain } from '../sites/dto.ts';

const TAGS = ['domains'];
const EnvParams = Type.Object({ id: Id }, { additionalProperties: false });
const DomainParams = Type.Object({ id: Id }, { additionalProperties: false });

/** Make `domainId` the only primary of its environment (call inside a transaction). */
async function makePrimary(trx: Kysely<DB>, environmentId: string, domainId: string): Promise<void> {
  await trx
    .updateTable('domains')
    .set({ is_primary: 0 })
    .where('environment_id', '=', environmentId)
    .where('id', '!=', domainId)
    .execute();
  await trx.updateTable('domains').set({ is_primary: 1 }).where('id', '=', domainId).execute();
}

/**
 * /api/v1 domains of environments. Hostnames are lower-cased and unique across the platform.
 * Each environment with domains has exactly one primary: the first domain becomes it, making
 * another primary switches atomically, deleting the primary promotes the oldest remaining one.
 * Every change bumps the desired-state revision (the edge routes by these).
 */
export default async function domainsRoutes(base: FastifyInstance): Promise<void> {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { store } = app.ctx;

  app.get(
    '/environments/:id/domains',
    {
      schema: {
        tags: TAGS,
        summary: "An environment's domains",
        params: EnvParams,
        response: { 200: DomainList, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const { env } = await requireEnvironmentRole(req, req.params.id, 'viewer');
      const rows = await store.db
        .selectFrom('domains')
        .selectAll()
        .where('environment_id', '=', env.id)
        .orderBy('created_at')
        .orderBy('id')
        .execute();
      return { items: rows.map(toDomain), nextCursor: null };
    },
  );

  app.post(
    '/environments/:id/domains',
    {
      schema: {
        tags: TAGS,
        summary: 'Add a domain to an environment',
        params: EnvParams,
        body: CreateDomainRequest,
        response: { 201: Domain, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (req, reply) => {
      const { env, site } = await requireEnvironmentRole(req, req.params.id, 'developer');
      const hostname = req.body.hostname.toLowerCase();
      if (!isValidHostname(hostname)) throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'body.hostname is not a valid hostname');
      const out = await store.transaction(async (trx) => {
        const cur = await trx.selectFrom('environments').select(['id', 'status']).where('id', '=', env.id).executeTakeFirst();
        if (!cur) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'environment not found');
        if (cur.status === 'deleting') throw new TriplaneError('TRIPLANE_ERR_CONFLICT', 'the environment is being deleted');
        const used = await trx.selectFrom('domains').select('id').where('hostname', '=', hostname).executeTakeFirst();
        if (used) throw new TriplaneError('TRIPLANE_ERR_ALREADY_EXISTS', `hostname ${hostname} is already in use`);
        const hasPrimary = await trx
          .selectFrom('domains')
          .select('id')
          .where('environment_id', '=', env.id)
          .where('is_primary', '=', 1)
          .executeTakeFirst();
        const row = {
          id: newId('dom'),
          environment_id: env.id,
          hostname,
          is_primary: 0,
          redirect_to_primary: req.body.redirectToPrimary === false ? 0 : 1,
          created_at: isoNow(app.ctx.clock),
        };
        await trx.insertInto('domains').values(row).execute();
        if (!hasPrimary || req.body.primary) {
          await makePrimary(trx, env.id, row.id);
          row.is_primary = 1;
        }
        await bumpRevision(trx);
        await audit(trx, req, {
          action: 'domain.create',
          orgId: site.org_id,
          targetType: 'domain',
          targetId: row.id,
          details: { hostname, environmentId: env.id, primary: row.is_primary === 1 },
        });
        return toDomain(row);
      });
      return reply.code(201).send(out);
    },
  );

  app.get(
    '/domains/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'A domain',
        params: DomainParams,
        response: { 200: Domain, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => toDomain((await requireDomainRole(req, req.params.id, 'viewer')).domain),
  );

  app.patch(
    '/domains/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Make a domain the primary (the previous primary then redirects to it), or change its redirect',
        params: DomainParams,
        body: UpdateDomainRequest,
        response: { 200: Domain, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const { domain, site } = await requireDomainRole(req, req.params.id, 'developer');
      return store.transaction(async (trx) => {
        const cur = await trx.selectFrom('domains').selectAll().where('id', '=', domain.id).executeTakeFirst();
        if (!cur) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'domain not found');
        if (req.body.primary) await makePrimary(trx, cur.environment_id, cur.id);
        if (req.body.redirectToPrimary !== undefined) {
          await trx
            .updateTable('domains')
            .set({ redirect_to_primary: req.body.redirectToPrimary ? 1 : 0 })
            .where('id', '=', cur.id)
            .execute();
        }
        await bumpRevision(trx);
        await audit(trx, req, {
          action: 'domain.update',
          orgId: site.org_id,
          targetType: 'domain',
          targetId: cur.id,
          details: { hostname: cur.hostname, ...req.body },
        });
        return toDomain(await trx.selectFrom('domains').selectAll().where('id', '=', cur.id).executeTakeFirstOrThrow());
      });
    },
  );

  app.delete(
    '/domains/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Remove a domain',
        params: DomainParams,
        response: { 204: Type.Null(), ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req, reply) => {
      const { domain, site } = await requireDomainRole(req, req.params.id, 'developer');
      await store.transaction(async (trx) => {
        const cur = await trx.selectFrom('domains').selectAll().where('id', '=', domain.id).executeTakeFirst();
        if (!cur) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'domain not found');
        await trx.deleteFrom('domains').where('id', '=', cur.id).execute();
        if (cur.is_primary === 1) {
          const next = await trx
            .selectFrom('domains')
            .select('id')
            .where('environment_id', '=', cur.environment_id)
            .orderBy('created_at')
            .orderBy('id')
            .executeTakeFirst();
          if (next) await makePrimary(trx, cur.environment_id, next.id);
        }
        await bumpRevision(trx);
        await audit(trx, req, {
          action: 'domain.delete',
          orgId: site.org_id,
          targetType: 'domain',
          targetId: cur.id,
          details: { hostname: cur.hostname, environmentId: cur.environment_id },
        });
      });
      return reply.code(204).send(null);
    },
  );
}
