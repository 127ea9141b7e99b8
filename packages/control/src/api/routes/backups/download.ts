import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { TriplaneError } from '@triplane/kernel';
import { AgentJobArtifactQuery, AgentJobArtifactResponse, AgentJobParams, BackupIdParams, Id, Job } from '@triplane/spec';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { audit } from '../../../audit/audit.ts';
import { AGENT_JOB_KINDS } from '../../../jobs/agent-kinds.ts';
import { toJobDto } from '../../../jobs/dto.ts';
import { enqueueJob, type JobRow } from '../../../jobs/enqueue.ts';
import { requireServer, requireUser } from '../../auth/authorize.ts';
import { errorResponses } from '../../errors.ts';
import { requireBackupRole } from './access.ts';

/**
 * Backup download (issue 6: "stream a snapshot as a .tar.gz through the API").
 *
 * The backup lives in the restic repository of the app server that took it; the control plane
 * can't read that repository (its password never leaves the server). So a download is an agent
 * job, like a restore:
 *
 *   POST /backups/{id}/download  (developer)  → 202 {job}: a `backup.export` job on the backup's
 *        server (lane low). The agent streams `restic dump` of both snapshots, renamed to
 *        db.sql, wp-content/…, environment.json, gzipped, as the body of
 *   PUT  /agents/{serverId}/jobs/{jobId}/artifact?owner=…  (that server, holding the job's lease)
 *        → written to `<artifacts dir>/<jobId>.<rand>.part` (0600), counted and hashed on the way,
 *        capped at `artifactMaxBytes`, renamed to `<jobId>.tar.gz` once complete → {ok, bytes, sha256}.
 *        The agent checks the numbers against its own and completes the job with
 *        `{artifact: {bytes, sha256}}`.
 *   GET  /jobs/{jobId}/artifact  (developer on the job's site) → the archive: application/gzip,
 *        content-length, `content-disposition: attachment; filename="<site>-<env>-<time>.tar.gz"`.
 *
 * Why a job + a stored file rather than a proxied stream from the agent to the browser: agents
 * only call the control plane (never the reverse), a download must survive the user's
 * connection dropping (retry the GET, not the export), and the progress view of every other
 * job applies. The file is kept 24 h after the job finished (a GET after that is 410 and the
 * file is deleted; a sweep removes forgotten ones and stale partial uploads).
 *
 * The job is enqueued without `environmentId`: a backup is readable on its server even when its
 * environment moved or was deleted (pre-delete backups are what people download), and the agent
 * runner refuses jobs whose environment is not assigned to it. The snapshots' `env=` tag is
 * still checked by the agent against `params.environmentId`.
 */
export const ARTIFACT_TTL_MS = 24 * 3600_000;
const SWEEP_MS = 10 * 60_000;
const KIND = 'backup.export';

const JobResponse = Type.Object({ job: Job }, { additionalProperties: false });
const JobIdParams = Type.Object({ id: Id }, { additionalProperties: false });

const artifactPath = (dir: string, jobId: string) => join(dir, `${jobId}.tar.gz`);

/** `2026-11-25T03:04:05.678Z` → `20261125-030405`, for file names. */
const stamp = (iso: string) =>
  iso
    .replace(/\.\d+Z$/, '')
    .replace(/[-:]/g, '')
    .replace('T', '-');
const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');

export default async function downloadRoutes(base: FastifyInstance): Promise<void> {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { store, clock } = app.ctx;
  const dir = app.ctx.artifacts.dir;

  // The upload's body is read as a stream by its handler (never buffered); this plugin is
  // encapsulated, so the parser exists for these routes only.
  app.addContentTypeParser(['application/gzip', 'application/octet-stream'], (_req, _payload, done) => done(null, undefined));

  async function sweep(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    for (const n of names) {
      if (!/\.(tar\.gz|part)$/.test(n)) continue;
      const p = join(dir, n);
      const st = await stat(p).catch(() => null);
      if (st && clock.now() - st.mtimeMs > ARTIFACT_TTL_MS) await unlink(p).catch(() => undefined);
    }
  }
  const timer = setInterval(() => void sweep(), SWEEP_MS);
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));

  app.post(
    '/backups/:backupId/download',
    {
      schema: {
        tags: ['backups'],
        summary: 'Prepare a backup for download as a .tar.gz (db.sql, wp-content/…, environment.json)',
        params: BackupIdParams,
        body: Type.Optional(Type.Object({}, { additionalProperties: false })),
        response: { 202: JobResponse, ...errorResponses(400, 401, 403, 404, 409) },
      },
    },
    async (req, reply) => {
      const u = requireUser(req);
      const row = await store.db.selectFrom('backups').selectAll().where('id', '=', req.params.backupId).executeTakeFirst();
      if (!row) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'backup not found');
      // Pre-delete backups outlive their site: then an org-wide role is needed (access.ts).
      const site = await requireBackupRole(req, row, 'developer');
      if (row.state !== 'available')
        throw new TriplaneError('TRIPLANE_ERR_BACKUP_PRUNED', 'this backup was removed by retention');
      const server = await store.db.selectFrom('servers').select('id').where('id', '=', row.server_id).executeTakeFirst();
      if (!server) {
        throw new TriplaneError(
          'TRIPLANE_ERR_BACKUP_UNREACHABLE',
          'the app server whose repository holds this backup is no longer registered',
          { backupServerId: row.server_id },
        );
      }
      const k = AGENT_JOB_KINDS[KIND];
      const out = await store.transaction(async (trx) => {
        const { job } = await enqueueJob(trx, {
          kind: KIND,
          lane: k?.lane ?? 'low',
          maxAttempts: k?.maxAttempts ?? 3,
          params: {
            backupId: row.id,
            environmentId: row.environment_id,
            dbSnapshotId: row.db_snapshot_id,
            filesSnapshotId: row.files_snapshot_id,
            totalBytes: row.db_bytes + row.files_bytes,
            filename: `${safe(row.site_name)}-${safe(row.environment_name)}-${stamp(row.snapshot_time)}.tar.gz`,
          },
          orgId: site.orgId,
          siteId: site.siteId,
          serverId: row.server_id,
          createdBy: u.userId,
          clock,
        });
        // The archive holds the whole database (customers, orders): who asked for it is audited.
        await audit(trx, req, {
          action: 'backup.download',
          orgId: site.orgId,
          targetType: 'backup',
          targetId: row.id,
          details: { jobId: job.id, environmentId: row.environment_id },
        });
        return { job: toJobDto(job) };
      });
      return reply.code(202).send(out);
    },
  );

  /** The job, if this agent run holds it (same rule as the other agent job calls). */
  async function heldJob(serverId: string, jobId: string, owner: string): Promise<JobRow | undefined> {
    const job = await store.db.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirst();
    const held =
      job?.kind === KIND &&
      job.state === 'running' &&
      job.server_id === serverId &&
      job.lease_owner === `agent:${serverId}:${owner}`;
    return held ? job : undefined;
  }

  app.put(
    '/agents/:serverId/jobs/:jobId/artifact',
    {
      schema: {
        tags: ['agents'],
        summary: "Upload a claimed job's archive (streamed application/gzip body)",
        params: AgentJobParams,
        querystring: AgentJobArtifactQuery,
        response: { 200: AgentJobArtifactResponse, ...errorResponses(400, 401, 403, 409, 413, 415) },
      },
    },
    async (req, reply) => {
      const { serverId, jobId } = req.params;
      const p = requireServer(req);
      if (p.serverId !== serverId) throw new TriplaneError('TRIPLANE_ERR_FORBIDDEN', 'a server may only act for itself');
      const max = app.ctx.artifacts.maxBytes;
      // Any refusal closes the connection: the rest of a refused body is not read.
      reply.header('connection', 'close');
      const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim();
      if (type !== 'application/gzip' && type !== 'application/octet-stream')
        throw new TriplaneError('TRIPLANE_ERR_UNSUPPORTED_MEDIA_TYPE', 'send the archive as application/gzip');
      if (!(await heldJob(serverId, jobId, req.query.owner)))
        throw new TriplaneError('TRIPLANE_ERR_CONFLICT', 'this agent run does not hold the job (lease lost, cancelled or done)');
      const declared = Number(req.headers['content-length'] ?? Number.NaN);
      if (declared > max)
        throw new TriplaneError('TRIPLANE_ERR_PAYLOAD_TOO_LARGE', `the archive is larger than the ${max} bytes allowed`);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const tmp = join(dir, `${jobId}.${randomBytes(6).toString('hex')}.part`);
      const hash = createHash('sha256');
      let bytes = 0;
      try {
        await receive(req, tmp, max, (c) => {
          hash.update(c);
          bytes += c.length;
        });
      } catch (e) {
        await unlink(tmp).catch(() => undefined);
        throw e;
      }
      // The lease may have been lost (or the job cancelled) during a long upload.
      if (!(await heldJob(serverId, jobId, req.query.owner))) {
        await unlink(tmp).catch(() => undefined);
        throw new TriplaneError('TRIPLANE_ERR_CONFLICT', 'this agent run lost the job during the upload');
      }
      await rename(tmp, artifactPath(dir, jobId));
      void sweep();
      reply.removeHeader('connection');
      return { ok: true, bytes, sha256: hash.digest('hex') };
    },
  );

  app.get(
    '/jobs/:id/artifact',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Download the archive a backup.export job made (application/gzip; 24 h after the job)',
        params: JobIdParams,
        response: {
          200: Type.Unknown({ description: 'the .tar.gz (application/gzip)' }),
          ...errorResponses(400, 401, 403, 404, 409, 410),
        },
      },
    },
    async (req, reply) => {
      requireUser(req);
      const job = await store.db.selectFrom('jobs').selectAll().where('id', '=', req.params.id).executeTakeFirst();
      if (!job || job.site_id === null) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'job not found');
      const site = await requireBackupRole(req, { site_id: job.site_id, org_id: job.org_id }, 'developer', 'job not found');
      if (job.kind !== KIND) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', `a ${job.kind} job has no archive`);
      if (job.state === 'queued' || job.state === 'running')
        throw new TriplaneError('TRIPLANE_ERR_ARTIFACT_NOT_READY', 'the archive is not ready yet: wait for the job to finish', {
          state: job.state,
          progress: job.progress,
        });
      if (job.state !== 'succeeded')
        throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', `the job ${job.state}; it left no archive`, { state: job.state });
      const path = artifactPath(dir, job.id);
      const finished = Date.parse(job.finished_at ?? job.updated_at);
      if (clock.now() - finished > ARTIFACT_TTL_MS) {
        await unlink(path).catch(() => undefined);
        throw new TriplaneError('TRIPLANE_ERR_ARTIFACT_EXPIRED', 'the archive expired (kept 24 h): start a new download');
      }
      const st = await stat(path).catch(() => null);
      if (!st?.isFile())
        throw new TriplaneError(
          'TRIPLANE_ERR_ARTIFACT_EXPIRED',
          'the archive is no longer on this control plane: start a new download',
        );
      const params = JSON.parse(job.params) as { filename?: string; backupId?: string };
      const filename = safe(params.filename ?? `${job.id}.tar.gz`);
      await store.transaction((trx) =>
        audit(trx, req, {
          action: 'backup.downloaded',
          orgId: site.orgId,
          targetType: 'backup',
          targetId: params.backupId ?? job.id,
          details: { jobId: job.id, bytes: st.size },
        }),
      );
      return reply
        .header('content-type', 'application/gzip')
        .header('content-length', String(st.size))
        .header('content-disposition', `attachment; filename="${filename}"`)
        .send(createReadStream(path));
    },
  );
}

/**
 * Stream the request body into a new file (0600), calling `onChunk` for each piece; refuses a
 * body over `max` bytes or one that is not gzip. Written by hand rather than with pipeline() so
 * that a refusal leaves the socket open long enough to answer it (pipeline destroys the request).
 */
function receive(req: FastifyRequest, path: string, max: number, onChunk: (c: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const src = req.raw;
    const file = createWriteStream(path, { flags: 'wx', mode: 0o600 });
    let bytes = 0;
    let head = Buffer.alloc(0);
    let settled = false;
    const stop = (e: Error) => {
      if (settled) return;
      settled = true;
      src.pause();
      src.removeListener('data', onData);
      file.destroy();
      reject(e);
    };
    function onData(c: Buffer) {
      bytes += c.length;
      if (bytes > max)
        return stop(new TriplaneError('TRIPLANE_ERR_PAYLOAD_TOO_LARGE', `the archive is larger than the ${max} bytes allowed`));
      if (head.length < 2) {
        head = Buffer.concat([head, c]).subarray(0, 2);
        if (head.length === 2 && (head[0] !== 0x1f || head[1] !== 0x8b))
          return stop(new TriplaneError('TRIPLANE_ERR_UNSUPPORTED_MEDIA_TYPE', 'the body is not a gzip stream'));
      }
      onChunk(c);
      if (!file.write(c)) {
        src.pause();
        file.once('drain', () => {
          if (!settled) src.resume();
        });
      }
    }
    src.on('data', onData);
    src.once('aborted', () => stop(new TriplaneError('TRIPLANE_ERR_BAD_REQUEST', 'the upload was interrupted')));
    src.once('error', (e) => stop(e));
    src.once('close', () => {
      if (!src.complete) stop(new TriplaneError('TRIPLANE_ERR_BAD_REQUEST', 'the upload was interrupted'));
    });
    file.once('error', (e) => stop(e));
    src.once('end', () => {
      if (settled) return;
      if (bytes < 2) return stop(new TriplaneError('TRIPLANE_ERR_VALIDATION', 'the archive is empty'));
      file.end(() => {
        if (settled) return;
        settled = true;
        resolve();
      });
    });
    src.resume();
  });
}
