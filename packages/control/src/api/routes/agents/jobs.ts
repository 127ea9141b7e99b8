import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { type ErrorCode, TriplaneError } from '@triplane/kernel';
import {
  AgentJobClaimRequest,
  AgentJobClaimResponse,
  AgentJobCompleteRequest,
  AgentJobFailRequest,
  AgentJobLeaseResponse,
  AgentJobOkResponse,
  AgentJobOwnerRequest,
  AgentJobParams,
  AgentJobProgressRequest,
  AgentJobReleaseRequest,
  BackupRecordRequest,
  ServerIdParams,
} from '@triplane/spec';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { audit } from '../../../audit/audit.ts';
import { AGENT_JOB_KINDS, agentJobKind, recordBackup } from '../../../jobs/agent-kinds.ts';
import { JobQueue } from '../../../jobs/queue.ts';
import { requireServer } from '../../auth/authorize.ts';
import { errorResponses } from '../../errors.ts';

const TAGS = ['agents'];
const POLL_MS = 500;

function requireSelf(req: FastifyRequest, serverId: string): void {
  const p = requireServer(req);
  if (p.serverId !== serverId) throw new TriplaneError('TRIPLANE_ERR_FORBIDDEN', 'a server may only act for itself');
}

/** The lease owner stored on the job: the server and the agent run, so two servers never collide. */
const leaseOwner = (serverId: string, owner: string) => `agent:${serverId}:${owner}`;

/**
 * /api/v1/agents/{id}/jobs — jobs that run on this app server (spec/api/agent-jobs.ts).
 * Claiming reuses the control plane's queue (same lease, retry and cancel semantics); a job
 * is claimable here only when its `server_id` is this server. Job progress and logs are
 * visible in the jobs API and its SSE stream like any other job's.
 */
export default async function agentJobsRoutes(base: FastifyInstance): Promise<void> {
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { store, clock } = app.ctx;
  const queue = new JobQueue(store, { clock });
  const closing = new AbortController();
  app.addHook('onClose', async () => closing.abort());

  app.post(
    '/agents/:serverId/jobs/claim',
    {
      schema: {
        tags: TAGS,
        summary: 'Claim the next job this server must run (long-poll with `wait`)',
        params: ServerIdParams,
        body: AgentJobClaimRequest,
        response: { 200: AgentJobClaimResponse, ...errorResponses(400, 401, 403) },
      },
    },
    async (req, reply) => {
      const { serverId } = req.params;
      requireSelf(req, serverId);
      const kinds = req.body.kinds.filter((k) => agentJobKind(k) !== undefined);
      const lanes = [...new Set(kinds.map((k) => AGENT_JOB_KINDS[k]?.lane ?? 'low'))];
      const deadline = clock.now() + (req.body.wait ?? 0) * 1000;
      let closed = false;
      // The response closing before we answered = the agent went away (aborted its long-poll).
      reply.raw.once('close', () => {
        if (!reply.raw.writableFinished) closed = true;
      });
      for (;;) {
        const job = await queue.claim({
          owner: leaseOwner(serverId, req.body.owner),
          lanes,
          kinds,
          serverId,
          leaseMs: (k) => agentJobKind(k)?.leaseMs ?? 60_000,
        });
        if (job && closed) {
          // The agent gave up waiting (it is stopping): don't leave the job leased to nobody.
          await queue.release(job.id, leaseOwner(serverId, req.body.owner));
          return { job: null };
        }
        if (job) {
          let params: unknown = {};
          try {
            params = JSON.parse(job.params);
          } catch {
            params = {};
          }
          return {
            job: {
              id: job.id,
              kind: job.kind,
              params,
              attempts: job.attempts,
              maxAttempts: job.max_attempts,
              leaseMs: agentJobKind(job.kind)?.leaseMs ?? 60_000,
              environmentId: job.environment_id,
              createdAt: job.created_at,
            },
          };
        }
        if (closed || closing.signal.aborted || clock.now() + POLL_MS > deadline) return { job: null };
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    },
  );

  app.post(
    '/agents/:serverId/jobs/:jobId/progress',
    {
      schema: {
        tags: TAGS,
        summary: 'Report progress and log lines of a claimed job; renews its lease',
        params: AgentJobParams,
        body: AgentJobProgressRequest,
        response: { 200: AgentJobLeaseResponse, ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => {
      const { serverId, jobId } = req.params;
      requireSelf(req, serverId);
      const owner = leaseOwner(serverId, req.body.owner);
      const job = await queue.get(jobId);
      const leaseMs = agentJobKind(job?.kind ?? '')?.leaseMs ?? 60_000;
      for (const l of req.body.logs ?? []) await queue.log(jobId, owner, l.level, l.message);
      if (req.body.percent !== undefined || req.body.message !== undefined) {
        await queue.progress(jobId, owner, req.body.percent ?? job?.progress ?? 0, req.body.message ?? job?.message ?? '');
      }
      return queue.renew(jobId, owner, leaseMs);
    },
  );

  app.post(
    '/agents/:serverId/jobs/:jobId/complete',
    {
      // a file-manager read returns up to 5 MiB as base64 (routes/files)
      bodyLimit: 8 * 1024 * 1024,
      schema: {
        tags: TAGS,
        summary: 'Finish a claimed job with its result',
        params: AgentJobParams,
        body: AgentJobCompleteRequest,
        response: { 200: AgentJobOkResponse, ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => {
      const { serverId, jobId } = req.params;
      requireSelf(req, serverId);
      const owner = leaseOwner(serverId, req.body.owner);
      return queue.completeWith(jobId, owner, req.body.result, async (trx, job) => {
        await agentJobKind(job.kind)?.onComplete?.(trx, job, req.body.result, clock);
      });
    },
  );

  app.post(
    '/agents/:serverId/jobs/:jobId/fail',
    {
      schema: {
        tags: TAGS,
        summary: 'Fail an attempt of a claimed job (retried with backoff unless not retryable)',
        params: AgentJobParams,
        body: AgentJobFailRequest,
        response: { 200: AgentJobOkResponse, ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => {
      const { serverId, jobId } = req.params;
      requireSelf(req, serverId);
      const e = req.body.error;
      const details = {
        ...(typeof e.details === 'object' && e.details !== null ? e.details : {}),
        retryable: req.body.retryable,
      };
      const r = await queue.fail(
        jobId,
        leaseOwner(serverId, req.body.owner),
        new TriplaneError(e.code as ErrorCode, e.message, details),
      );
      if (r.outcome === 'failed') {
        // A backup (or restore, sync…) that failed for good is an event people must find, not
        // only a job row: the audit log carries it with the reason.
        const job = await queue.get(jobId);
        if (job) {
          await store.transaction((trx) =>
            audit(trx, null, {
              action: `${job.kind}.failed`,
              orgId: job.org_id,
              targetType: job.environment_id ? 'environment' : 'server',
              targetId: job.environment_id ?? serverId,
              details: { jobId, code: e.code, message: e.message.slice(0, 500) },
            }),
          );
        }
      }
      return { ok: r.outcome !== 'lost', outcome: r.outcome };
    },
  );

  app.post(
    '/agents/:serverId/jobs/:jobId/cancelled',
    {
      schema: {
        tags: TAGS,
        summary: 'The agent stopped a job whose cancel was requested',
        params: AgentJobParams,
        body: AgentJobOwnerRequest,
        response: { 200: AgentJobOkResponse, ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => {
      requireSelf(req, req.params.serverId);
      return { ok: await queue.markCancelled(req.params.jobId, leaseOwner(req.params.serverId, req.body.owner)) };
    },
  );

  app.post(
    '/agents/:serverId/jobs/:jobId/release',
    {
      schema: {
        tags: TAGS,
        summary: 'Give a claimed job back without counting the attempt (agent stopping, or not ready for it yet: waitMs)',
        params: AgentJobParams,
        body: AgentJobReleaseRequest,
        response: { 200: AgentJobOkResponse, ...errorResponses(400, 401, 403) },
      },
    },
    async (req) => {
      requireSelf(req, req.params.serverId);
      const owner = leaseOwner(req.params.serverId, req.body.owner);
      if (req.body.waitMs !== undefined)
        return {
          ok: await queue.defer(req.params.jobId, owner, req.body.waitMs, req.body.reason ?? 'given back by the agent'),
        };
      return { ok: await queue.release(req.params.jobId, owner) };
    },
  );

  app.post(
    '/agents/:serverId/jobs/:jobId/backups',
    {
      schema: {
        tags: TAGS,
        summary: 'Record a backup a claimed job made (after restic confirmed its snapshots)',
        params: AgentJobParams,
        body: BackupRecordRequest,
        response: { 200: AgentJobOkResponse, ...errorResponses(400, 401, 403, 404) },
      },
    },
    async (req) => {
      const { serverId, jobId } = req.params;
      requireSelf(req, serverId);
      const owner = leaseOwner(serverId, req.body.owner);
      const ok = await store.transaction(async (trx) => {
        const job = await trx.selectFrom('jobs').selectAll().where('id', '=', jobId).executeTakeFirst();
        if (!job || job.lease_owner !== owner || job.state !== 'running') return false;
        await recordBackup(trx, job, req.body, clock);
        return true;
      });
      return { ok };
    },
  );
}
