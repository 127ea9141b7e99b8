import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { isoNow, TriplaneError } from '@triplane/kernel';
import {
  ConfirmQuery,
  CreateEnvironmentRequest,
  Environment,
  EnvironmentAction,
  EnvironmentJobResponse,
  EnvironmentList,
  type ExternalDatabase,
  Id,
  UpdateEnvironmentRequest,
} from '@triplane/spec';
import type { FastifyInstance } from 'fastify';
import { audit } from '../../../audit/audit.ts';
import { PRE_DELETE_STATUSES } from '../../../backups/pre-delete.ts';
import { placeEnvironment } from '../../../desired/placement.ts';
import {
  parseExternalDatabase,
  parsePhp,
  parseResources,
  parseRuntime,
  parseServerIds,
  serverIdsJson,
} from '../../../desired/rows.ts';
import { toJobDto } from '../../../jobs/dto.ts';
import { enqueueJob } from '../../../jobs/enqueue.ts';
import { bumpRevision } from '../../../store/store.ts';
import { requireSiteRole, requireUser } from '../../auth/authorize.ts';
import { errorResponses } from '../../errors.ts';
import { environmentsOfSite, requireConfirm, requireEnvironmentRole } from '../sites/access.ts';
import { toEnvironment } from '../sites/dto.ts';
import { registerProtectionRoutes } from './protection.ts';
import { registerPurgeRoute } from './purge.ts';
import { checkPlan, checkServerIds, mergePhp, mergeResources, newEnvironmentRow, resolveReplicas } from './rules.ts';
import { registerWafEventsRoute } from './waf-events.ts';

const TAGS = ['environments'];
const EnvParams = Type.Object({ id: Id }, { additionalProperties: false });
const SiteParams = Type.Object({ siteId: Id }, { additionalProperties: false });
const ActionParams = Type.Object({ id: Id, action: EnvironmentAction }, { additionalProperties: false });

function deletingConflict(): TriplaneError {
  return new TriplaneError('TRIPLANE_ERR_CONFLICT', 'the environment is being deleted');
}

/** A staging copy of a pro site uses production's database server with its own database. */
function derivedDatabase(prod: ExternalDatabase | null, envName: string): ExternalDatabase | null {
  if (!prod) return null;
  const suffix = `_${envName.replaceAll('-', '_')}`;
  return { ...prod, name: `${prod.name.slice(0, 64 - suffix.length)}${suffix}` };
}

/**
 * /api/v1 environments of a site. Developers and up change environments; deleting one needs
 * admin, and production only goes away with its site. Settings changes bump the environment's
 * `generation` (agents re-apply its pod) and the desired-state revision.
 */
export default async function environmentsRoutes(base: FastifyInstance): Promise<void> {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { store } = app.ctx;
  registerPurgeRoute(base);
  registerWafEventsRoute(base);
  registerProtectionRoutes(base);

  app.get(
    '/sites/:siteId/environments',
    {
      schema: {
        tags: TAGS,
        summary: "A site's environments",
        params: SiteParams,
        response: { 200: EnvironmentList, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const { site } = await requireSiteRole(req, req.params.siteId, 'viewer');
      const rows = await environmentsOfSite(store.db, site.id);
      return { items: rows.map(toEnvironment), nextCursor: null };
    },
  );

  app.post(
    '/sites/:siteId/environments',
    {
      schema: {
        tags: TAGS,
        summary: 'Add an environment (staging, …); provisioning runs as a job',
        params: SiteParams,
        body: CreateEnvironmentRequest,
        response: { 202: EnvironmentJobResponse, ...errorResponses(400, 401, 403, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const u = requireUser(req);
      const { site } = await requireSiteRole(req, req.params.siteId, 'developer');
      const b = req.body;
      const serverIds = b.serverIds ?? [];
      const replicas = resolveReplicas(b.replicas, serverIds);
      const out = await store.transaction(async (trx) => {
        const cur = await trx.selectFrom('sites').selectAll().where('id', '=', site.id).executeTakeFirst();
        if (!cur) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'site not found');
        if (cur.status === 'deleting') throw new TriplaneError('TRIPLANE_ERR_CONFLICT', 'the site is being deleted');
        const taken = await trx
          .selectFrom('environments')
          .select('id')
          .where('site_id', '=', cur.id)
          .where('name', '=', b.name)
          .executeTakeFirst();
        if (taken) throw new TriplaneError('TRIPLANE_ERR_ALREADY_EXISTS', `the site already has an environment named ${b.name}`);
        let externalDatabase = b.externalDatabase ?? null;
        if (!externalDatabase && cur.plan === 'pro') {
          const prod = await trx
            .selectFrom('environments')
            .select('external_database')
            .where('site_id', '=', cur.id)
            .where('name', '=', 'production')
            .executeTakeFirst();
          externalDatabase = derivedDatabase(parseExternalDatabase(prod?.external_database ?? null), b.name);
        }
        checkPlan(cur.plan, { replicas, serverIds, externalDatabase });
        await checkServerIds(trx, serverIds);
        const env = newEnvironmentRow({
          siteId: cur.id,
          name: b.name,
          php: b.php,
          resources: b.resources,
          replicas,
          serverIds,
          externalDatabase,
          now: isoNow(app.ctx.clock),
        });
        await trx.insertInto('environments').values(env).execute();
        await bumpRevision(trx);
        const { job } = await enqueueJob(trx, {
          kind: 'environment.provision',
          lane: 'interactive',
          params: { environmentId: env.id },
          orgId: cur.org_id,
          siteId: cur.id,
          environmentId: env.id,
          createdBy: u.userId,
          clock: app.ctx.clock,
        });
        await audit(trx, req, {
          action: 'environment.create',
          orgId: cur.org_id,
          targetType: 'environment',
          targetId: env.id,
          details: { siteId: cur.id, name: b.name, replicas, serverIds, jobId: job.id },
        });
        const row = await trx.selectFrom('environments').selectAll().where('id', '=', env.id).executeTakeFirstOrThrow();
        return { environment: toEnvironment(row), job: toJobDto(job) };
      });
      return reply.code(202).send(out);
    },
  );

  app.get(
    '/environments/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'An environment with its placement, runtime allocation and what the agents report',
        params: EnvParams,
        response: { 200: Environment, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => toEnvironment((await requireEnvironmentRole(req, req.params.id, 'viewer')).env),
  );

  app.patch(
    '/environments/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Change PHP settings, resources, replicas or placement',
        description: '`serverIds: []` returns the environment to automatic placement.',
        params: EnvParams,
        body: UpdateEnvironmentRequest,
        response: { 200: Environment, ...errorResponses(400, 401, 403, 404, 409, 422) },
      },
    },
    async (req) => {
      const { env } = await requireEnvironmentRole(req, req.params.id, 'developer');
      const b = req.body;
      return store.transaction(async (trx) => {
        const cur = await trx.selectFrom('environments').selectAll().where('id', '=', env.id).executeTakeFirst();
        if (!cur) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'environment not found');
        if (cur.status === 'deleting') throw deletingConflict();
        const site = await trx.selectFrom('sites').selectAll().where('id', '=', cur.site_id).executeTakeFirstOrThrow();
        const runtime = parseRuntime(cur.runtime);
        const currentServers = parseServerIds(cur.server_ids);
        const pinned = b.serverIds !== undefined ? b.serverIds.length > 0 : runtime.pinned;
        const serverIds = b.serverIds !== undefined && b.serverIds.length > 0 ? b.serverIds : pinned ? currentServers : [];
        const replicas = resolveReplicas(b.replicas, pinned ? serverIds : undefined, Number(cur.replicas));
        checkPlan(site.plan, {
          replicas,
          serverIds: pinned ? serverIds : [],
          externalDatabase: parseExternalDatabase(cur.external_database),
        });
        if (b.serverIds?.length) await checkServerIds(trx, b.serverIds);
        const php = mergePhp(parsePhp(cur.php), b.php);
        const resources = mergeResources(parseResources(cur.resources), b.resources);
        const now = isoNow(app.ctx.clock);
        await trx
          .updateTable('environments')
          .set({
            php: JSON.stringify(php),
            resources: JSON.stringify(resources),
            replicas,
            // Pinned: the chosen servers. Automatic: keep the current ones; placement adds or trims.
            server_ids: serverIdsJson(pinned ? serverIds : currentServers),
            runtime: JSON.stringify({ ...runtime, pinned }),
            generation: Number(cur.generation) + 1,
            updated_at: now,
          })
          .where('id', '=', cur.id)
          .execute();
        await bumpRevision(trx);
        // Placement follows at once for provisioned environments; a queued one is placed by its job.
        if (runtime.unixUser !== null) await placeEnvironment(trx, store.dialect, cur.id, app.ctx.clock);
        await audit(trx, req, {
          action: 'environment.update',
          orgId: site.org_id,
          targetType: 'environment',
          targetId: cur.id,
          details: { changes: b, generation: Number(cur.generation) + 1 },
        });
        return toEnvironment(await trx.selectFrom('environments').selectAll().where('id', '=', cur.id).executeTakeFirstOrThrow());
      });
    },
  );

  app.post(
    '/environments/:id/actions/:action',
    {
      schema: {
        tags: TAGS,
        summary: 'Restart, stop or start an environment (asynchronous)',
        params: ActionParams,
        response: { 202: EnvironmentJobResponse, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (req, reply) => {
      const u = requireUser(req);
      const { env, site } = await requireEnvironmentRole(req, req.params.id, 'developer');
      const action = req.params.action;
      const out = await store.transaction(async (trx) => {
        const cur = await trx.selectFrom('environments').selectAll().where('id', '=', env.id).executeTakeFirst();
        if (!cur) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'environment not found');
        if (cur.status === 'deleting') throw deletingConflict();
        const { job } = await enqueueJob(trx, {
          kind: 'environment.action',
          lane: 'interactive',
          params: { environmentId: cur.id, action, baseGeneration: Number(cur.generation) },
          orgId: site.org_id,
          siteId: site.id,
          environmentId: cur.id,
          createdBy: u.userId,
          clock: app.ctx.clock,
        });
        await audit(trx, req, {
          action: `environment.${action}`,
          orgId: site.org_id,
          targetType: 'environment',
          targetId: cur.id,
          details: { jobId: job.id },
        });
        return { environment: toEnvironment(cur), job: toJobDto(job) };
      });
      return reply.code(202).send(out);
    },
  );

  app.delete(
    '/environments/:id',
    {
      schema: {
        tags: TAGS,
        summary:
          'Delete an environment (asynchronous); repeat its name in ?confirm=. Production goes only with its site. A pre-delete backup is taken first unless ?backup=false',
        params: EnvParams,
        querystring: ConfirmQuery,
        response: { 202: EnvironmentJobResponse, ...errorResponses(400, 401, 403, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const u = requireUser(req);
      const { env, site } = await requireEnvironmentRole(req, req.params.id, 'admin');
      if (env.name === 'production') {
        throw new TriplaneError('TRIPLANE_ERR_CONFLICT', 'production is deleted together with its site (DELETE /sites/{id})');
      }
      requireConfirm(req.query.confirm, env.name, 'environment');
      const wantBackup = req.query.backup ?? true;
      const out = await store.transaction(async (trx) => {
        const cur = await trx.selectFrom('environments').selectAll().where('id', '=', env.id).executeTakeFirst();
        if (!cur) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'environment not found');
        const now = isoNow(app.ctx.clock);
        // Already being deleted (maybe still taking its pre-delete backup): the same job.
        const active = await trx
          .selectFrom('jobs')
          .selectAll()
          .where('kind', '=', 'environment.delete')
          .where('environment_id', '=', cur.id)
          .where('state', 'in', ['queued', 'running'])
          .executeTakeFirst();
        if (active) return { environment: toEnvironment(cur), job: toJobDto(active) };
        // A running environment keeps running until its pre-delete backup is confirmed.
        const backup = wantBackup && PRE_DELETE_STATUSES.includes(cur.status);
        if (!backup && cur.status !== 'deleting') {
          await trx
            .updateTable('environments')
            .set({ status: 'deleting', status_message: 'being deleted', updated_at: now })
            .where('id', '=', cur.id)
            .execute();
          await bumpRevision(trx);
        }
        const { job } = await enqueueJob(trx, {
          kind: 'environment.delete',
          lane: 'interactive',
          params: { environmentId: cur.id, backup },
          orgId: site.org_id,
          siteId: site.id,
          environmentId: cur.id,
          createdBy: u.userId,
          clock: app.ctx.clock,
        });
        await audit(trx, req, {
          action: 'environment.delete',
          orgId: site.org_id,
          targetType: 'environment',
          targetId: cur.id,
          details: { name: cur.name, jobId: job.id, backup },
        });
        const row = await trx.selectFrom('environments').selectAll().where('id', '=', cur.id).executeTakeFirstOrThrow();
        return { environment: toEnvironment(row), job: toJobDto(job) };
      });
      return reply.code(202).send(out);
    },
  );
}
