import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { isoNow, newId, TriplaneError } from '@triplane/kernel';
import {
  CloneSiteRequest,
  Domain,
  Environment,
  Id,
  Job,
  type PhpSettings,
  type ResourceLimits,
  RestoreAsSiteRequest,
  Site,
  StagingRequest,
  type SyncDatabase,
  SyncRequest,
} from '@triplane/spec';
import type { FastifyInstance } from 'fastify';
import type { Kysely, Selectable } from 'kysely';
import { audit } from '../../../audit/audit.ts';
import { dataServerOf } from '../../../backups/backups.ts';
import { parseSourceSpec, primaryUrl, sourceSpecOf } from '../../../backups/source-spec.ts';
import { serverStatus } from '../../../desired/servers.ts';
import { AGENT_JOB_KINDS } from '../../../jobs/agent-kinds.ts';
import { toJobDto } from '../../../jobs/dto.ts';
import { enqueueJob, type JobRow } from '../../../jobs/enqueue.ts';
import type { BackupsTable, DB, EnvironmentsTable } from '../../../store/schema.ts';
import { bumpRevision } from '../../../store/store.ts';
import { requireOrgRole, requireSiteRole, requireUser } from '../../auth/authorize.ts';
import { errorResponses } from '../../errors.ts';
import { newEnvironmentRow } from '../environments/rules.ts';
import { requireEnvironmentRole } from '../sites/access.ts';
import { toDomain, toEnvironment, toSite } from '../sites/dto.ts';
import { requireBackupRole } from './access.ts';

const TAGS = ['backups'];
const IdParams = Type.Object({ id: Id }, { additionalProperties: false });
const BackupIdParams = Type.Object({ backupId: Id }, { additionalProperties: false });
const SyncResponse = Type.Object({ job: Job }, { additionalProperties: false });
const CreatedResponse = Type.Object(
  { site: Site, environment: Environment, domains: Type.Array(Domain), job: Job, syncJob: Job },
  { additionalProperties: false },
);

type Env = Selectable<EnvironmentsTable>;

async function productionOf(trx: Kysely<DB>, siteId: string): Promise<Env> {
  const env = await trx
    .selectFrom('environments')
    .selectAll()
    .where('site_id', '=', siteId)
    .where('name', '=', 'production')
    .executeTakeFirst();
  if (!env) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'the site has no production environment');
  return env;
}

async function checkDomainsFree(trx: Kysely<DB>, hostnames: string[]): Promise<void> {
  const dup = hostnames.find((h, i) => hostnames.indexOf(h) !== i);
  if (dup) throw new TriplaneError('TRIPLANE_ERR_ALREADY_EXISTS', `hostname ${dup} is listed twice`, { hostname: dup });
  if (!hostnames.length) return;
  const used = await trx.selectFrom('domains').select('hostname').where('hostname', 'in', hostnames).execute();
  if (used.length) {
    throw new TriplaneError('TRIPLANE_ERR_ALREADY_EXISTS', `hostname ${used[0]?.hostname} is already in use`, {
      hostnames: used.map((d) => d.hostname),
    });
  }
}

/** The new environment's domains, the first one primary. */
async function insertDomains(trx: Kysely<DB>, environmentId: string, hostnames: string[], now: string) {
  const domains = hostnames.map((hostname, i) => ({
    id: newId('dom'),
    environment_id: environmentId,
    hostname,
    is_primary: i === 0 ? 1 : 0,
    redirect_to_primary: 1,
    created_at: now,
  }));
  if (domains.length) await trx.insertInto('domains').values(domains).execute();
  return domains;
}

/** Where an `env.sync` copies from: the environment, the server that holds its data, the URL its data is written for. */
export interface SyncSource {
  id: string;
  serverId: string;
  url: string | null;
}

/** A live environment as a sync source. */
async function liveSource(trx: Kysely<DB>, env: Env): Promise<SyncSource> {
  return { id: env.id, serverId: dataServerOf(env), url: await primaryUrl(trx, env.id) };
}

export interface SyncPlan {
  mode: 'clone' | 'staging' | 'push' | 'pull';
  site: { id: string; org_id: string };
  source: SyncSource;
  target: Env;
  /** the target's server when it is created here (pinned to the source's) */
  targetServerId?: string;
  files: boolean;
  database: SyncDatabase;
  tables?: string[] | undefined;
  fromBackup?: { backupId: string; dbSnapshotId: string | null; filesSnapshotId: string } | undefined;
  /**
   * The source may no longer run on the server (restore-as-site of a deleted site's backup): the
   * agent then reads its spec from the backup's environment.json instead of failing NOT_PLACED.
   */
  sourceMayBeGone?: boolean;
  createdBy: string;
}

/** Enqueue the `env.sync` job of a plan (in the caller's transaction). */
export async function enqueueSync(trx: Kysely<DB>, p: SyncPlan, clock: import('@triplane/kernel').Clock): Promise<JobRow> {
  const serverId = p.source.serverId;
  const targetServer = p.targetServerId ?? dataServerOf(p.target);
  if (targetServer !== serverId) {
    throw new TriplaneError(
      'TRIPLANE_ERR_BACKUP_UNREACHABLE',
      'both environments must run on the same app server to copy data between them (move one first)',
      { sourceServerId: serverId, targetServerId: targetServer },
    );
  }
  if (p.database === 'tables' && !p.tables?.length) {
    throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'database "tables" needs the list of tables');
  }
  if (!p.files && p.database === 'none')
    throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'nothing to copy: files false and database none');
  const k = AGENT_JOB_KINDS['env.sync'];
  const { job } = await enqueueJob(trx, {
    kind: 'env.sync',
    lane: k?.lane ?? 'low',
    maxAttempts: k?.maxAttempts ?? 8,
    params: {
      mode: p.mode,
      siteId: p.site.id,
      sourceEnvironmentId: p.source.id,
      targetEnvironmentId: p.target.id,
      environmentId: p.target.id,
      files: p.files,
      database: p.database,
      ...(p.tables ? { tables: p.tables } : {}),
      ...(p.fromBackup ? { fromBackup: p.fromBackup } : { sourceBackupId: newId('bak') }),
      ...(p.mode === 'push' || p.mode === 'pull' ? { preBackupId: newId('bak') } : {}),
      ...(p.sourceMayBeGone ? { sourceSpecFromBackup: true } : {}),
      sourceUrl: p.source.url,
      targetUrl: await primaryUrl(trx, p.target.id),
      noindex: p.mode === 'staging' || (p.mode === 'pull' && p.target.name !== 'production'),
    },
    orgId: p.site.org_id,
    siteId: p.site.id,
    environmentId: p.target.id,
    serverId,
    createdBy: p.createdBy,
    clock,
  });
  return job;
}

/**
 * A backup as the source of a clone or staging, checked here rather than on the agent: it is of
 * this site's production (`source`, whose data the agent verifies it against), kept, and in the
 * repository of the server the copy runs on.
 */
async function backupAsSource(
  trx: Kysely<DB>,
  backupId: string | undefined,
  site: { id: string; name: string },
  source: Selectable<EnvironmentsTable>,
  serverId: string,
): Promise<SyncPlan['fromBackup']> {
  if (!backupId) return undefined;
  const bk = await trx.selectFrom('backups').selectAll().where('id', '=', backupId).executeTakeFirst();
  if (!bk) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'backup not found');
  if (bk.site_id !== site.id) {
    throw new TriplaneError('TRIPLANE_ERR_BACKUP_WRONG_SITE', `backup ${bk.id} is not a backup of ${site.name}`);
  }
  if (bk.environment_id !== source.id) {
    throw new TriplaneError(
      'TRIPLANE_ERR_BACKUP_WRONG_ENVIRONMENT',
      `backup ${bk.id} is of ${bk.environment_name}; copies are made from production's backups`,
    );
  }
  return usableBackup(bk, serverId);
}

/** A backup as the `fromBackup` of a sync: kept by retention, and in the repository of the server the copy runs on. */
function usableBackup(bk: Selectable<BackupsTable>, serverId: string): NonNullable<SyncPlan['fromBackup']> {
  if (bk.state !== 'available') throw new TriplaneError('TRIPLANE_ERR_BACKUP_PRUNED', 'this backup was removed by retention');
  if (bk.server_id !== serverId)
    throw new TriplaneError('TRIPLANE_ERR_BACKUP_UNREACHABLE', 'the backup is on another app server');
  return { backupId: bk.id, dbSnapshotId: bk.db_snapshot_id, filesSnapshotId: bk.files_snapshot_id };
}

/** The app server that holds a backup must exist and be online: the new site runs there, next to the repository. */
async function requireReachable(trx: Kysely<DB>, serverId: string, nowMs: number): Promise<void> {
  const srv = await trx
    .selectFrom('servers')
    .select(['id', 'joined_at', 'last_heartbeat_at'])
    .where('id', '=', serverId)
    .where('role', '=', 'app')
    .executeTakeFirst();
  if (!srv)
    throw new TriplaneError('TRIPLANE_ERR_BACKUP_UNREACHABLE', 'the app server that holds this backup is gone', { serverId });
  if (serverStatus(srv, nowMs) !== 'online') {
    throw new TriplaneError(
      'TRIPLANE_ERR_BACKUP_UNREACHABLE',
      'the app server that holds this backup is offline; try again when its agent is back',
      { serverId },
    );
  }
}

/** What a new site copied from a source (clone, restore-as-site) is made of. */
interface SiteCopy {
  orgId: string;
  name: string;
  kind: string;
  plan: string;
  php: PhpSettings;
  resources: ResourceLimits;
  hostnames: string[];
  source: SyncSource;
  fromBackup: SyncPlan['fromBackup'];
  sourceMayBeGone?: boolean;
  createdBy: string;
}

/**
 * A new site with a production environment pinned to the source's server, its domains, its
 * `site.provision` job and the `env.sync` (mode clone) that fills it (in the caller's transaction).
 */
async function createSiteCopy(trx: Kysely<DB>, c: SiteCopy, clock: import('@triplane/kernel').Clock) {
  const taken = await trx
    .selectFrom('sites')
    .select('id')
    .where('org_id', '=', c.orgId)
    .where('name', '=', c.name)
    .executeTakeFirst();
  if (taken) throw new TriplaneError('TRIPLANE_ERR_ALREADY_EXISTS', `a site named ${c.name} already exists in this organization`);
  await checkDomainsFree(trx, c.hostnames);
  const now = isoNow(clock);
  const newSite = {
    id: newId('site'),
    org_id: c.orgId,
    name: c.name,
    kind: c.kind,
    plan: c.plan,
    status: 'provisioning',
    created_at: now,
    updated_at: now,
  };
  await trx.insertInto('sites').values(newSite).execute();
  const env = newEnvironmentRow({
    siteId: newSite.id,
    name: 'production',
    php: c.php,
    resources: c.resources,
    replicas: 1,
    serverIds: [c.source.serverId],
    externalDatabase: null,
    now,
  });
  await trx.insertInto('environments').values(env).execute();
  const domains = await insertDomains(trx, env.id, c.hostnames, now);
  await bumpRevision(trx);
  const { job } = await enqueueJob(trx, {
    kind: 'site.provision',
    lane: 'interactive',
    params: { siteId: newSite.id, environmentId: env.id },
    orgId: c.orgId,
    siteId: newSite.id,
    environmentId: env.id,
    createdBy: c.createdBy,
    clock,
  });
  const target = await trx.selectFrom('environments').selectAll().where('id', '=', env.id).executeTakeFirstOrThrow();
  const syncJob = await enqueueSync(
    trx,
    {
      mode: 'clone',
      site: newSite,
      source: c.source,
      target,
      targetServerId: c.source.serverId,
      files: true,
      database: 'all',
      fromBackup: c.fromBackup,
      ...(c.sourceMayBeGone ? { sourceMayBeGone: true } : {}),
      createdBy: c.createdBy,
    },
    clock,
  );
  return {
    site: toSite(newSite),
    environment: toEnvironment(target),
    domains: domains.map(toDomain),
    job: toJobDto(job),
    syncJob: toJobDto(syncJob),
  };
}

/**
 * Clone, staging, push and pull (spec/api/backups.ts). The data work is an `env.sync` job on
 * the source's app server; environments created here are pinned to that server.
 */
export async function registerSyncRoutes(base: FastifyInstance): Promise<void> {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { store, clock } = app.ctx;

  app.post(
    '/sites/:id/clone',
    {
      schema: {
        tags: TAGS,
        summary: 'Clone a site (from live data or a backup) into a new site with its own domains',
        params: IdParams,
        body: CloneSiteRequest,
        response: { 202: CreatedResponse, ...errorResponses(400, 401, 403, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const u = requireUser(req);
      const { site } = await requireSiteRole(req, req.params.id, 'developer');
      await requireOrgRole(req, site.org_id, 'admin');
      const b = req.body;
      const hostnames = (b.domains ?? []).map((h) => h.toLowerCase());
      const out = await store.transaction(async (trx) => {
        const prod = await productionOf(trx, site.id);
        const source = await liveSource(trx, prod);
        const fromBackup = await backupAsSource(trx, b.fromBackupId, site, prod, source.serverId);
        const made = await createSiteCopy(
          trx,
          {
            orgId: site.org_id,
            name: b.name,
            kind: site.kind,
            plan: site.plan,
            php: JSON.parse(prod.php),
            resources: JSON.parse(prod.resources),
            hostnames,
            source,
            fromBackup,
            createdBy: u.userId,
          },
          clock,
        );
        await audit(trx, req, {
          action: 'site.clone',
          orgId: site.org_id,
          targetType: 'site',
          targetId: made.site.id,
          details: {
            from: site.id,
            name: b.name,
            domains: hostnames,
            fromBackupId: b.fromBackupId ?? null,
            jobId: made.job.id,
            syncJobId: made.syncJob.id,
          },
        });
        return made;
      });
      return reply.code(202).send(out);
    },
  );

  app.post(
    '/backups/:backupId/restore-as-site',
    {
      schema: {
        tags: TAGS,
        summary:
          "Restore a production backup as a new site — also a deleted site's pre-delete backup (org admin); its URL is rewritten to the new domain",
        params: BackupIdParams,
        body: RestoreAsSiteRequest,
        response: { 202: CreatedResponse, ...errorResponses(400, 401, 403, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const u = requireUser(req);
      const bk = await store.db.selectFrom('backups').selectAll().where('id', '=', req.params.backupId).executeTakeFirst();
      if (!bk) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'backup not found');
      // the site's role while it exists, an org-wide one after; creating a site takes an org admin
      const { orgId, siteExists } = await requireBackupRole(req, bk, 'developer');
      await requireOrgRole(req, orgId, 'admin');
      // A staging copy is noindex and may be half-tested work: a site comes back from production.
      if (bk.environment_name !== 'production') {
        throw new TriplaneError(
          'TRIPLANE_ERR_BACKUP_WRONG_ENVIRONMENT',
          `backup ${bk.id} is of ${bk.environment_name}; a site is restored from a production backup`,
        );
      }
      const hostnames = (req.body.domains ?? []).map((h) => h.toLowerCase());
      const out = await store.transaction(async (trx) => {
        const fromBackup = usableBackup(bk, bk.server_id);
        await requireReachable(trx, bk.server_id, clock.now());
        // Recorded with the backup; a backup from before migration 010 only while its site lives.
        const spec = parseSourceSpec(bk.source_spec) ?? (await sourceSpecOf(trx, bk.environment_id));
        if (!spec) {
          throw new TriplaneError(
            'TRIPLANE_ERR_UNPROCESSABLE',
            `backup ${bk.id} was recorded before backups kept their site's settings, and ${bk.site_name} is gone: download it instead`,
          );
        }
        const made = await createSiteCopy(
          trx,
          {
            orgId,
            name: req.body.name,
            kind: spec.kind,
            plan: spec.plan,
            php: spec.php,
            resources: spec.resources,
            hostnames,
            // the backup's own server: the repository is there (the source may have moved or be gone)
            source: { id: bk.environment_id, serverId: bk.server_id, url: spec.url },
            fromBackup,
            sourceMayBeGone: true,
            createdBy: u.userId,
          },
          clock,
        );
        await audit(trx, req, {
          action: 'backup.restore-as-site',
          orgId,
          targetType: 'site',
          targetId: made.site.id,
          details: {
            backupId: bk.id,
            from: bk.site_id,
            fromName: bk.site_name,
            fromDeletedSite: !siteExists,
            name: req.body.name,
            domains: hostnames,
            jobId: made.job.id,
            syncJobId: made.syncJob.id,
          },
        });
        return made;
      });
      return reply.code(202).send(out);
    },
  );

  app.post(
    '/sites/:id/staging',
    {
      schema: {
        tags: TAGS,
        summary: 'Create a staging environment filled from production, live or from one of its backups (noindex)',
        params: IdParams,
        body: StagingRequest,
        response: { 202: CreatedResponse, ...errorResponses(400, 401, 403, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const u = requireUser(req);
      const { site } = await requireSiteRole(req, req.params.id, 'developer');
      const name = req.body.name ?? 'staging';
      if (name === 'production')
        throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'a staging environment can not be named production');
      const hostnames = (req.body.domains ?? []).map((h) => h.toLowerCase());
      const out = await store.transaction(async (trx) => {
        const prod = await productionOf(trx, site.id);
        const source = await liveSource(trx, prod);
        const serverId = source.serverId;
        const fromBackup = await backupAsSource(trx, req.body.fromBackupId, site, prod, serverId);
        const exists = await trx
          .selectFrom('environments')
          .select('id')
          .where('site_id', '=', site.id)
          .where('name', '=', name)
          .executeTakeFirst();
        if (exists)
          throw new TriplaneError('TRIPLANE_ERR_ALREADY_EXISTS', `environment ${name} already exists; pull into it instead`);
        await checkDomainsFree(trx, hostnames);
        const now = isoNow(clock);
        const env = newEnvironmentRow({
          siteId: site.id,
          name,
          php: JSON.parse(prod.php),
          resources: JSON.parse(prod.resources),
          replicas: 1,
          serverIds: [serverId],
          externalDatabase: null,
          now,
        });
        // staging = 1: the edge answers noindex for its hosts (migration 007)
        await trx
          .insertInto('environments')
          .values({ ...env, staging: 1 })
          .execute();
        const domains = await insertDomains(trx, env.id, hostnames, now);
        await bumpRevision(trx);
        const { job } = await enqueueJob(trx, {
          kind: 'environment.provision',
          lane: 'interactive',
          params: { environmentId: env.id },
          orgId: site.org_id,
          siteId: site.id,
          environmentId: env.id,
          createdBy: u.userId,
          clock,
        });
        const target = await trx.selectFrom('environments').selectAll().where('id', '=', env.id).executeTakeFirstOrThrow();
        const syncJob = await enqueueSync(
          trx,
          {
            mode: 'staging',
            site,
            source,
            target,
            targetServerId: serverId,
            files: true,
            database: 'all',
            fromBackup,
            createdBy: u.userId,
          },
          clock,
        );
        await audit(trx, req, {
          action: 'environment.staging',
          orgId: site.org_id,
          targetType: 'environment',
          targetId: env.id,
          details: {
            name,
            domains: hostnames,
            jobId: job.id,
            syncJobId: syncJob.id,
            fromBackupId: req.body.fromBackupId ?? null,
          },
        });
        return {
          site: toSite(site),
          environment: toEnvironment(target),
          domains: domains.map(toDomain),
          job: toJobDto(job),
          syncJob: toJobDto(syncJob),
        };
      });
      return reply.code(202).send(out);
    },
  );

  for (const direction of ['push', 'pull'] as const) {
    app.post(
      `/environments/:id/${direction}`,
      {
        schema: {
          tags: TAGS,
          summary:
            direction === 'push'
              ? "Copy this environment's files and database into another one (default production; WooCommerce-safe by default)"
              : "Copy another environment's (default production) files and database into this one",
          params: IdParams,
          body: SyncRequest,
          response: { 202: SyncResponse, ...errorResponses(400, 401, 403, 404, 409, 422) },
        },
      },
      async (req, reply) => {
        const u = requireUser(req);
        const { env: self, site } = await requireEnvironmentRole(req, req.params.id, 'developer');
        const b = req.body;
        const otherId = direction === 'push' ? b.to : b.from;
        if ((direction === 'push' && b.from) || (direction === 'pull' && b.to)) {
          throw new TriplaneError(
            'TRIPLANE_ERR_VALIDATION',
            direction === 'push' ? 'push takes `to`, not `from`' : 'pull takes `from`, not `to`',
          );
        }
        const out = await store.transaction(async (trx) => {
          const other = otherId
            ? await trx.selectFrom('environments').selectAll().where('id', '=', otherId).executeTakeFirst()
            : await productionOf(trx, site.id);
          if (!other || other.site_id !== site.id) {
            throw new TriplaneError(
              'TRIPLANE_ERR_BACKUP_WRONG_SITE',
              'push and pull work between environments of the same site (clone for another site)',
            );
          }
          if (other.id === self.id)
            throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'source and target are the same environment');
          const [source, target] = direction === 'push' ? [self, other] : [other, self];
          const database: SyncDatabase = b.database ?? (b.tables ? 'tables' : direction === 'push' ? 'woo-safe' : 'all');
          const job = await enqueueSync(
            trx,
            {
              mode: direction,
              site,
              source: await liveSource(trx, source),
              target,
              files: b.files ?? true,
              database,
              tables: b.tables,
              createdBy: u.userId,
            },
            clock,
          );
          await audit(trx, req, {
            action: `environment.${direction}`,
            orgId: site.org_id,
            targetType: 'environment',
            targetId: target.id,
            details: {
              sourceEnvironmentId: source.id,
              files: b.files ?? true,
              database,
              tables: b.tables ?? null,
              jobId: job.id,
            },
          });
          return { job: toJobDto(job) };
        });
        return reply.code(202).send(out);
      },
    );
  }
}
