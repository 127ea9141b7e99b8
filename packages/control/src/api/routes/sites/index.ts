import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { isoNow, newId, TriplaneError } from '@triplane/kernel';
import {
  ConfirmQuery,
  CreateSiteRequest,
  CreateSiteResponse,
  DeleteSiteResponse,
  Id,
  ListSitesQuery,
  Site,
  SiteDetail,
  SiteList,
  UpdateSiteRequest,
} from '@triplane/spec';
import type { FastifyInstance } from 'fastify';
import { audit } from '../../../audit/audit.ts';
import { PRE_DELETE_STATUSES } from '../../../backups/pre-delete.ts';
import { newInstallIntent, WORDPRESS_KINDS } from '../../../desired/install.ts';
import { toJobDto } from '../../../jobs/dto.ts';
import { enqueueJob, type JobRow } from '../../../jobs/enqueue.ts';
import { bumpRevision } from '../../../store/store.ts';
import { requireOrgRole, requireSiteRole, requireUser, visibility } from '../../auth/authorize.ts';
import { errorResponses } from '../../errors.ts';
import { checkPlan, newEnvironmentRow } from '../environments/rules.ts';
import { decodeCursor, encodeCursor, environmentsOfSite, idempotencyKey, requireConfirm } from './access.ts';
import { toDomain, toEnvironment, toSite } from './dto.ts';

const SiteParams = Type.Object({ id: Id }, { additionalProperties: false });
const TAGS = ['sites'];

/**
 * /api/v1/sites — sites of organizations.
 * Visibility: superusers see all; org-wide members their organizations' sites; site-scoped
 * members only their sites. Creating and deleting need admin on the organization (site-level
 * admin for PATCH/DELETE); reading needs any role.
 */
export default async function sitesRoutes(base: FastifyInstance): Promise<void> {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { store } = app.ctx;

  app.get(
    '/sites',
    {
      schema: {
        tags: TAGS,
        summary: 'List the sites the caller can see (oldest first, cursor pagination)',
        querystring: ListSitesQuery,
        response: { 200: SiteList, ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => {
      const vis = await visibility(req);
      const limit = req.query.limit ?? 100;
      if (!vis.all && vis.orgIds.length === 0 && vis.siteIds.length === 0) return { items: [], nextCursor: null };
      let q = store.db.selectFrom('sites').selectAll();
      if (!vis.all) {
        q = q.where((eb) => {
          const ors = [];
          if (vis.orgIds.length) ors.push(eb('org_id', 'in', vis.orgIds));
          if (vis.siteIds.length) ors.push(eb('id', 'in', vis.siteIds));
          return eb.or(ors);
        });
      }
      if (req.query.orgId) q = q.where('org_id', '=', req.query.orgId);
      if (req.query.name) q = q.where('name', '=', req.query.name);
      if (req.query.cursor) {
        const [at, id] = decodeCursor(req.query.cursor, 2) as [string, string];
        q = q.where((eb) => eb.or([eb('created_at', '>', at), eb.and([eb('created_at', '=', at), eb('id', '>', id)])]));
      }
      const rows = await q
        .orderBy('created_at')
        .orderBy('id')
        .limit(limit + 1)
        .execute();
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map(toSite),
        nextCursor: rows.length > limit && last ? encodeCursor([last.created_at, last.id]) : null,
      };
    },
  );

  app.post(
    '/sites',
    {
      schema: {
        tags: TAGS,
        summary: 'Create a site with its production environment; provisioning runs as a job',
        description: 'Send `Idempotency-Key` to make retries safe: the same key answers with the same site and job.',
        body: CreateSiteRequest,
        response: { 202: CreateSiteResponse, ...errorResponses(400, 401, 403, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const u = requireUser(req);
      const b = req.body;
      await requireOrgRole(req, b.orgId, 'admin');
      const externalDatabase = b.externalDatabase ?? null;
      checkPlan(b.plan, { replicas: 1, serverIds: [], externalDatabase });
      if (b.kind === 'magento') {
        // Magento 2.4 needs OpenSearch, which Debian does not ship: refuse rather than run it on a
        // stack that can't serve it. The planned stack is in docs/magento.md.
        throw new TriplaneError(
          'TRIPLANE_ERR_UNPROCESSABLE',
          'Magento sites are not supported yet: they need OpenSearch (see docs/magento.md)',
          {
            kind: b.kind,
          },
        );
      }
      const hostnames = (b.domains ?? []).map((h) => h.toLowerCase());
      const dup = hostnames.find((h, i) => hostnames.indexOf(h) !== i);
      if (dup) throw new TriplaneError('TRIPLANE_ERR_ALREADY_EXISTS', `hostname ${dup} is listed twice`, { hostname: dup });
      const key = idempotencyKey(req);
      const jobKey = key ? `site.create:${u.userId}:${key}` : null;

      const out = await store.transaction(async (trx) => {
        if (jobKey) {
          const prior = await trx.selectFrom('jobs').selectAll().where('idempotency_key', '=', jobKey).executeTakeFirst();
          if (prior) return replay(trx, prior);
        }
        const taken = await trx
          .selectFrom('sites')
          .select('id')
          .where('org_id', '=', b.orgId)
          .where('name', '=', b.name)
          .executeTakeFirst();
        if (taken)
          throw new TriplaneError('TRIPLANE_ERR_ALREADY_EXISTS', `a site named ${b.name} already exists in this organization`);
        if (hostnames.length) {
          const used = await trx.selectFrom('domains').select('hostname').where('hostname', 'in', hostnames).execute();
          if (used.length) {
            throw new TriplaneError('TRIPLANE_ERR_ALREADY_EXISTS', `hostname ${used[0]?.hostname} is already in use`, {
              hostnames: used.map((d) => d.hostname),
            });
          }
        }
        const now = isoNow(app.ctx.clock);
        const site = {
          id: newId('site'),
          org_id: b.orgId,
          name: b.name,
          kind: b.kind,
          plan: b.plan,
          status: 'provisioning',
          created_at: now,
          updated_at: now,
        };
        await trx.insertInto('sites').values(site).execute();
        const env = newEnvironmentRow({
          siteId: site.id,
          name: 'production',
          php: b.php,
          resources: b.resources,
          replicas: 1,
          serverIds: [],
          externalDatabase,
          now,
        });
        // WordPress: the admin login is generated here and returned ONCE in this response; the
        // agent gets it as the environment's install intent, dropped once it reports installed.
        const install = WORDPRESS_KINDS.has(b.kind)
          ? newInstallIntent({
              siteName: b.name,
              domains: hostnames,
              title: b.wordpress?.title,
              adminUser: b.wordpress?.adminUser,
              adminEmail: b.wordpress?.adminEmail,
            })
          : undefined;
        if (b.wordpress && !install)
          throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'wordpress settings are only for wordpress/woocommerce sites');
        await trx
          .insertInto('environments')
          .values({ ...env, install_intent: install ? JSON.stringify(install) : null })
          .execute();
        const domains = hostnames.map((hostname, i) => ({
          id: newId('dom'),
          environment_id: env.id,
          hostname,
          is_primary: i === 0 ? 1 : 0,
          redirect_to_primary: 1,
          created_at: now,
        }));
        if (domains.length) await trx.insertInto('domains').values(domains).execute();
        await bumpRevision(trx);
        const { job } = await enqueueJob(trx, {
          kind: 'site.provision',
          lane: 'interactive',
          params: { siteId: site.id, environmentId: env.id },
          orgId: site.org_id,
          siteId: site.id,
          environmentId: env.id,
          idempotencyKey: jobKey,
          createdBy: u.userId,
          clock: app.ctx.clock,
        });
        await audit(trx, req, {
          action: 'site.create',
          orgId: site.org_id,
          targetType: 'site',
          targetId: site.id,
          details: { name: site.name, kind: site.kind, plan: site.plan, domains: hostnames, jobId: job.id },
        });
        const envRow = await trx.selectFrom('environments').selectAll().where('id', '=', env.id).executeTakeFirstOrThrow();
        return {
          site: toSite(site),
          environment: toEnvironment(envRow),
          domains: domains.map(toDomain),
          job: toJobDto(job),
          ...(install
            ? {
                wordpress: {
                  title: install.title,
                  adminUser: install.adminUser,
                  adminEmail: install.adminEmail,
                  adminPassword: install.adminPassword,
                },
              }
            : {}),
        };
      });
      return reply.code(202).send(out);
    },
  );

  /** Answer a retried create with what the first call made. */
  async function replay(trx: typeof store.db, job: JobRow) {
    const site = job.site_id
      ? await trx.selectFrom('sites').selectAll().where('id', '=', job.site_id).executeTakeFirst()
      : undefined;
    const env = job.environment_id
      ? await trx.selectFrom('environments').selectAll().where('id', '=', job.environment_id).executeTakeFirst()
      : undefined;
    if (!site || !env || job.kind !== 'site.provision') {
      throw new TriplaneError('TRIPLANE_ERR_CONFLICT', 'this Idempotency-Key was used for something that no longer exists');
    }
    const domains = await trx
      .selectFrom('domains')
      .selectAll()
      .where('environment_id', '=', env.id)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return { site: toSite(site), environment: toEnvironment(env), domains: domains.map(toDomain), job: toJobDto(job) };
  }

  app.get(
    '/sites/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'A site with its environments and domains',
        params: SiteParams,
        response: { 200: SiteDetail, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const { site } = await requireSiteRole(req, req.params.id, 'viewer');
      const envs = await environmentsOfSite(store.db, site.id);
      const domains = envs.length
        ? await store.db
            .selectFrom('domains')
            .selectAll()
            .where(
              'environment_id',
              'in',
              envs.map((e) => e.id),
            )
            .orderBy('created_at')
            .orderBy('id')
            .execute()
        : [];
      return { ...toSite(site), environments: envs.map(toEnvironment), domains: domains.map(toDomain) };
    },
  );

  app.patch(
    '/sites/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Rename a site',
        params: SiteParams,
        body: UpdateSiteRequest,
        response: { 200: Site, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (req) => {
      const { site } = await requireSiteRole(req, req.params.id, 'admin');
      const name = req.body.name;
      if (name === undefined || name === site.name) return toSite(site);
      return store.transaction(async (trx) => {
        const cur = await trx.selectFrom('sites').selectAll().where('id', '=', site.id).executeTakeFirst();
        if (!cur) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'site not found');
        if (cur.status === 'deleting') throw new TriplaneError('TRIPLANE_ERR_CONFLICT', 'the site is being deleted');
        const taken = await trx
          .selectFrom('sites')
          .select('id')
          .where('org_id', '=', cur.org_id)
          .where('name', '=', name)
          .executeTakeFirst();
        if (taken)
          throw new TriplaneError('TRIPLANE_ERR_ALREADY_EXISTS', `a site named ${name} already exists in this organization`);
        const now = isoNow(app.ctx.clock);
        await trx.updateTable('sites').set({ name, updated_at: now }).where('id', '=', cur.id).execute();
        // The site name is part of every environment's desired state (EnvironmentSpec.siteName).
        await bumpRevision(trx);
        await audit(trx, req, {
          action: 'site.update',
          orgId: cur.org_id,
          targetType: 'site',
          targetId: cur.id,
          details: { name: { from: cur.name, to: name } },
        });
        return toSite({ ...cur, name, updated_at: now });
      });
    },
  );

  app.delete(
    '/sites/:id',
    {
      schema: {
        tags: TAGS,
        summary:
          'Delete a site and everything in it (asynchronous); repeat its name in ?confirm=. A pre-delete backup is taken first unless ?backup=false',
        params: SiteParams,
        querystring: ConfirmQuery,
        response: { 202: DeleteSiteResponse, ...errorResponses(400, 401, 403, 404, 422) },
      },
    },
    async (req, reply) => {
      const u = requireUser(req);
      const { site } = await requireSiteRole(req, req.params.id, 'admin');
      requireConfirm(req.query.confirm, site.name, 'site');
      const wantBackup = req.query.backup ?? true;
      const out = await store.transaction(async (trx) => {
        const cur = await trx.selectFrom('sites').selectAll().where('id', '=', site.id).executeTakeFirst();
        if (!cur) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'site not found');
        const now = isoNow(app.ctx.clock);
        // Already being deleted (maybe still taking its pre-delete backups): the same job.
        const active = await trx
          .selectFrom('jobs')
          .selectAll()
          .where('kind', '=', 'site.delete')
          .where('site_id', '=', cur.id)
          .where('state', 'in', ['queued', 'running'])
          .orderBy('created_at', 'desc')
          .executeTakeFirst();
        if (active) return { site: toSite(cur), job: toJobDto(active) };
        // With a backup of a running environment, the site keeps running until its backups are
        // confirmed (the job marks it `deleting` then); otherwise it leaves the edge and its
        // servers now.
        const envs = await trx.selectFrom('environments').select(['status']).where('site_id', '=', cur.id).execute();
        const backup = wantBackup && envs.some((e) => PRE_DELETE_STATUSES.includes(e.status));
        if (!backup && cur.status !== 'deleting') {
          await trx.updateTable('sites').set({ status: 'deleting', updated_at: now }).where('id', '=', cur.id).execute();
          await trx
            .updateTable('environments')
            .set({ status: 'deleting', status_message: 'the site is being deleted', updated_at: now })
            .where('site_id', '=', cur.id)
            .execute();
          await bumpRevision(trx);
        }
        const { job } = await enqueueJob(trx, {
          kind: 'site.delete',
          lane: 'interactive',
          params: { siteId: cur.id, backup },
          orgId: cur.org_id,
          siteId: cur.id,
          createdBy: u.userId,
          clock: app.ctx.clock,
        });
        await audit(trx, req, {
          action: 'site.delete',
          orgId: cur.org_id,
          targetType: 'site',
          targetId: cur.id,
          details: { name: cur.name, jobId: job.id, backup },
        });
        const row = await trx.selectFrom('sites').selectAll().where('id', '=', cur.id).executeTakeFirstOrThrow();
        return { site: toSite(row), job: toJobDto(job) };
      });
      return reply.code(202).send(out);
    },
  );
}
