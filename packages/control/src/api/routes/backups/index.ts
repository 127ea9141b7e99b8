import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { newId, TriplaneError } from '@triplane/kernel';
import { Backup, BackupCreateRequest, BackupIdParams, BackupKind, BackupList, Id, Job, RestoreRequest } from '@triplane/spec';
import type { FastifyInstance } from 'fastify';
import { audit } from '../../../audit/audit.ts';
import { dataServerOf, enqueueBackup, toBackupDto } from '../../../backups/backups.ts';
import { AGENT_JOB_KINDS } from '../../../jobs/agent-kinds.ts';
import { toJobDto } from '../../../jobs/dto.ts';
import { enqueueJob } from '../../../jobs/enqueue.ts';
import { requireOrgRole, type requireSiteRole, requireUser } from '../../auth/authorize.ts';
import { errorResponses } from '../../errors.ts';
import { requireEnvironmentRole } from '../sites/access.ts';
import { requireBackupRole } from './access.ts';
import downloadRoutes from './download.ts';
import { registerSyncRoutes } from './sync.ts';

const TAGS = ['backups'];
const EnvParams = Type.Object({ id: Id }, { additionalProperties: false });
const JobResponse = Type.Object({ job: Job }, { additionalProperties: false });
const OrgBackupsQuery = Type.Object(
  {
    siteId: Type.Optional(Id),
    kind: Type.Optional(BackupKind),
    /** Only backups whose site no longer exists (what is left of deleted sites). */
    deletedSites: Type.Optional(Type.Boolean()),
    include: Type.Optional(Type.Union([Type.Literal('available'), Type.Literal('all')])),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  },
  { additionalProperties: false },
);

/**
 * Backups: take (`POST /environments/{id}/backups`), list, read and restore. The work runs on
 * the environment's app server (agent jobs, the low lane); see spec/api/backups.ts.
 */
export default async function backupsRoutes(base: FastifyInstance): Promise<void> {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { store, clock } = app.ctx;
  await registerSyncRoutes(base);
  await base.register(downloadRoutes); // own context: its streaming body parser stays there

  app.post(
    '/environments/:id/backups',
    {
      schema: {
        tags: TAGS,
        summary: 'Take a backup of an environment now (database + files + spec)',
        params: EnvParams,
        body: Type.Optional(BackupCreateRequest),
        response: { 202: JobResponse, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (req, reply) => {
      const u = requireUser(req);
      const { env, site } = await requireEnvironmentRole(req, req.params.id, 'developer');
      const out = await store.transaction(async (trx) => {
        const { job } = await enqueueBackup(trx, { env, site, kind: 'manual', createdBy: u.userId, clock });
        await audit(trx, req, {
          action: 'backup.create',
          orgId: site.org_id,
          targetType: 'environment',
          targetId: env.id,
          details: { jobId: job.id, backupId: (JSON.parse(job.params) as { backupId: string }).backupId },
        });
        return { job: toJobDto(job) };
      });
      return reply.code(202).send(out);
    },
  );

  app.get(
    '/environments/:id/backups',
    {
      schema: {
        tags: TAGS,
        summary: "An environment's backups, newest first (only snapshots restic confirmed)",
        params: EnvParams,
        querystring: Type.Object(
          { include: Type.Optional(Type.Union([Type.Literal('available'), Type.Literal('all')])) },
          { additionalProperties: false },
        ),
        response: { 200: BackupList, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const { env } = await requireEnvironmentRole(req, req.params.id, 'viewer');
      const rows = await store.db
        .selectFrom('backups')
        .selectAll()
        .where('environment_id', '=', env.id)
        .$if(req.query.include !== 'all', (q) => q.where('state', '=', 'available'))
        .orderBy('snapshot_time', 'desc')
        .orderBy('id', 'desc')
        .limit(500)
        .execute();
      return { items: rows.map(toBackupDto) };
    },
  );

  async function loadBackup(req: Parameters<typeof requireSiteRole>[0], id: string, min: 'viewer' | 'developer') {
    const row = await store.db.selectFrom('backups').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'backup not found');
    await requireBackupRole(req, row, min);
    return { row };
  }

  app.get(
    '/orgs/:id/backups',
    {
      schema: {
        tags: TAGS,
        summary:
          "An organization's backups, newest first: all sites', or one site's (also a deleted one's pre-delete backups); org-wide viewer",
        params: EnvParams,
        querystring: OrgBackupsQuery,
        response: { 200: BackupList, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      await requireOrgRole(req, req.params.id, 'viewer');
      const q = req.query;
      let sel = store.db.selectFrom('backups').selectAll('backups').where('backups.org_id', '=', req.params.id);
      if (q.siteId) sel = sel.where('backups.site_id', '=', q.siteId);
      if (q.kind) sel = sel.where('backups.kind', '=', q.kind);
      if (q.include !== 'all') sel = sel.where('backups.state', '=', 'available');
      if (q.deletedSites)
        sel = sel.where(({ not, exists, selectFrom }) =>
          not(exists(selectFrom('sites').select('sites.id').whereRef('sites.id', '=', 'backups.site_id'))),
        );
      const rows = await sel
        .orderBy('backups.snapshot_time', 'desc')
        .orderBy('backups.id', 'desc')
        .limit(q.limit ?? 200)
        .execute();
      return { items: rows.map(toBackupDto) };
    },
  );

  app.get(
    '/backups/:backupId',
    {
      schema: {
        tags: TAGS,
        summary: 'One backup',
        params: BackupIdParams,
        response: { 200: Backup, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => toBackupDto((await loadBackup(req, req.params.backupId, 'viewer')).row),
  );

  app.post(
    '/backups/:backupId/restore',
    {
      schema: {
        tags: TAGS,
        summary: 'Restore a backup into its environment: full, database only or files only (a safety backup is taken first)',
        params: BackupIdParams,
        body: RestoreRequest,
        response: { 202: JobResponse, ...errorResponses(400, 401, 403, 404, 409, 422) },
      },
    },
    async (req, reply) => {
      const u = requireUser(req);
      const { row } = await loadBackup(req, req.params.backupId, 'developer');
      const targetId = req.body.environmentId ?? row.environment_id;
      const { env, site } = await requireEnvironmentRole(req, targetId, 'developer');
      if (env.site_id !== row.site_id) {
        throw new TriplaneError(
          'TRIPLANE_ERR_BACKUP_WRONG_SITE',
          `backup ${row.id} is of site ${row.site_name}; it can't be restored into another site (clone it instead)`,
          { backupSiteId: row.site_id, targetSiteId: env.site_id },
        );
      }
      if (env.id !== row.environment_id) {
        throw new TriplaneError(
          'TRIPLANE_ERR_BACKUP_WRONG_ENVIRONMENT',
          `backup ${row.id} is of environment ${row.environment_name}; restore it there, or clone it into ${env.name}`,
          { backupEnvironmentId: row.environment_id, targetEnvironmentId: env.id },
        );
      }
      if (row.state !== 'available')
        throw new TriplaneError('TRIPLANE_ERR_BACKUP_PRUNED', 'this backup was removed by retention');
      const serverId = dataServerOf(env);
      if (serverId !== row.server_id) {
        throw new TriplaneError(
          'TRIPLANE_ERR_BACKUP_UNREACHABLE',
          'the backup is in the repository of another app server than the one the environment runs on now',
          { backupServerId: row.server_id, serverId },
        );
      }
      const scope = req.body.scope ?? 'full';
      const k = AGENT_JOB_KINDS['backup.restore'];
      const out = await store.transaction(async (trx) => {
        const { job } = await enqueueJob(trx, {
          kind: 'backup.restore',
          lane: k?.lane ?? 'low',
          maxAttempts: k?.maxAttempts ?? 3,
          params: {
            backupId: row.id,
            scope,
            dbSnapshotId: row.db_snapshot_id,
            filesSnapshotId: row.files_snapshot_id,
            safetyBackupId: newId('bak'),
            siteId: site.id,
            environmentId: env.id,
          },
          orgId: site.org_id,
          siteId: site.id,
          environmentId: env.id,
          serverId,
          createdBy: u.userId,
          clock,
        });
        await audit(trx, req, {
          action: 'backup.restore',
          orgId: site.org_id,
          targetType: 'environment',
          targetId: env.id,
          details: { jobId: job.id, backupId: row.id, scope },
        });
        return { job: toJobDto(job) };
      });
      return reply.code(202).send(out);
    },
  );
}
