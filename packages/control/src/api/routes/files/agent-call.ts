import { type Clock, type ErrorCode, TriplaneError } from '@triplane/kernel';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Selectable } from 'kysely';
import { audit } from '../../../audit/audit.ts';
import { parseServerIds } from '../../../desired/rows.ts';
import { serverStatus } from '../../../desired/servers.ts';
import { AGENT_JOB_KINDS } from '../../../jobs/agent-kinds.ts';
import { enqueueJob } from '../../../jobs/enqueue.ts';
import { cancelJob } from '../../../jobs/queue.ts';
import type { EnvironmentsTable, SitesTable } from '../../../store/schema.ts';
import type { Store } from '../../../store/store.ts';

/**
 * A synchronous API call answered by the environment's agent: enqueue an interactive agent job
 * (jobs/agent-kinds.ts; the agent's second runner claims it at once, never behind a backup) and
 * wait on the job row until it finishes, up to `waitMs` (~20 s). An offline agent (no heartbeat
 * for 60 s) is 503 TRIPLANE_ERR_UNAVAILABLE at once, no job. Then:
 *   succeeded → its result; failed → the agent's error, same code (404, 409, 413, 422…);
 *   still queued → cancelled (it must not run later, e.g. a write nobody waits for) and 504
 *   TRIPLANE_ERR_TIMEOUT with `details.jobId`; running → 504 too (its outcome is in the job).
 * File bytes and table rows are not kept in the jobs table: a read's job row is deleted once
 * answered; a change's result (and a write's content param) are replaced by a summary.
 */
export interface AgentCallOptions {
  store: Store;
  clock: Clock;
  waitMs: number;
}

type Env = Selectable<EnvironmentsTable>;
type Site = Selectable<SitesTable>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function callAgent(
  o: AgentCallOptions,
  req: FastifyRequest,
  reply: FastifyReply,
  c: {
    env: Env;
    site: Site;
    kind: string;
    params: Record<string, unknown>;
    /** audit entry for mutations (recorded with the job) */
    audit?: { action: string; details: Record<string, unknown> };
    /** what to keep of the params once done (e.g. drop a write's content) */
    keepParams?: Record<string, unknown>;
    /**
     * A read (list, view, tables, rows): the job row is deleted once answered — reads change
     * nothing, and browsing must not bury the real jobs (backups, deploys) in the jobs list.
     * Kept when the agent did not answer in time (that is worth a look).
     */
    ephemeral?: boolean;
  },
): Promise<unknown> {
  // Its pod is being removed: the agent won't serve it any more, so say so now rather than
  // after the wait (a dashboard tab left open on a site being deleted asks for its files).
  if (c.env.status === 'deleting' || c.site.status === 'deleting') {
    throw new TriplaneError('TRIPLANE_ERR_CONFLICT', 'the environment is being deleted', { environmentId: c.env.id });
  }
  const serverId = parseServerIds(c.env.server_ids)[0];
  if (!serverId) {
    throw new TriplaneError('TRIPLANE_ERR_CONFLICT', 'the environment is not placed on an app server yet', {
      environmentId: c.env.id,
    });
  }
  // An agent that stopped heartbeating won't claim either: say so now, not after the wait.
  const server = await o.store.db
    .selectFrom('servers')
    .select(['name', 'joined_at', 'last_heartbeat_at'])
    .where('id', '=', serverId)
    .executeTakeFirst();
  if (!server || serverStatus(server, o.clock.now()) !== 'online') {
    throw new TriplaneError(
      'TRIPLANE_ERR_UNAVAILABLE',
      `the agent of app server ${server?.name ?? serverId} is offline${server?.last_heartbeat_at ? ` (last heard from at ${server.last_heartbeat_at})` : ''}: the site's files and database can't be reached now`,
      { serverId, lastHeartbeatAt: server?.last_heartbeat_at ?? null },
    );
  }
  const k = AGENT_JOB_KINDS[c.kind];
  if (!k) throw new TriplaneError('TRIPLANE_ERR_INTERNAL', `unknown agent job kind ${c.kind}`);
  const principal = req.principal;
  const job = await o.store.transaction(async (trx) => {
    const { job } = await enqueueJob(trx, {
      kind: c.kind,
      lane: k.lane,
      maxAttempts: k.maxAttempts,
      params: { ...c.params, environmentId: c.env.id },
      orgId: c.site.org_id,
      siteId: c.site.id,
      environmentId: c.env.id,
      serverId,
      createdBy: principal?.kind === 'user' ? principal.userId : null,
      clock: o.clock,
    });
    if (c.audit) {
      await audit(trx, req, {
        action: c.audit.action,
        orgId: c.site.org_id,
        targetType: 'environment',
        targetId: c.env.id,
        details: { ...c.audit.details, jobId: job.id },
      });
    }
    return job;
  });
  // The response closing before we answered = the caller went away: stop waiting.
  let gone = false;
  const onClose = () => {
    if (!reply.raw.writableFinished) gone = true;
  };
  reply.raw.once('close', onClose);
  try {
    return await waitFor(o, job.id, serverId, c, () => gone);
  } finally {
    reply.raw.off('close', onClose);
  }
}

async function waitFor(
  o: AgentCallOptions,
  jobId: string,
  serverId: string,
  c: { params: Record<string, unknown>; keepParams?: Record<string, unknown>; ephemeral?: boolean },
  gone: () => boolean,
): Promise<unknown> {
  // File bytes and table rows don't stay in the jobs table (nor a write's content).
  const scrub = (set: { result?: string; params?: string }) =>
    c.ephemeral
      ? o.store.db
          .deleteFrom('jobs')
          .where('id', '=', jobId)
          .execute()
          .then(
            () => undefined,
            () => undefined,
          )
      : Object.keys(set).length
        ? o.store.db
            .updateTable('jobs')
            .set(set)
            .where('id', '=', jobId)
            .execute()
            .then(
              () => undefined,
              () => undefined,
            )
        : Promise.resolve();
  const keep = c.keepParams ? { params: JSON.stringify(c.keepParams) } : {};
  const deadline = Date.now() + o.waitMs;
  let delay = 25;
  for (;;) {
    const row = await o.store.db
      .selectFrom('jobs')
      .select(['state', 'result', 'error'])
      .where('id', '=', jobId)
      .executeTakeFirst();
    if (!row) throw new TriplaneError('TRIPLANE_ERR_INTERNAL', 'the job vanished', { jobId: jobId });
    if (row.state === 'succeeded') {
      const result = row.result === null ? null : (JSON.parse(row.result) as unknown);
      await scrub({ result: JSON.stringify({ delivered: true }), ...keep });
      return result;
    }
    if (row.state === 'failed' || row.state === 'cancelled') {
      await scrub(keep);
      let e: { code?: string; message?: string; details?: unknown } = {};
      try {
        e = JSON.parse(row.error ?? '{}') as typeof e;
      } catch {
        e = {};
      }
      const details = typeof e.details === 'object' && e.details !== null ? { ...(e.details as object) } : {};
      delete (details as { retryable?: unknown }).retryable;
      const code = (e.code?.startsWith('TRIPLANE_ERR_') ? e.code : 'TRIPLANE_ERR_JOB_FAILED') as ErrorCode;
      throw new TriplaneError(code, e.message ?? `the agent job ${row.state}`, { ...details, jobId: jobId });
    }
    if (Date.now() >= deadline || gone()) {
      let state = row.state;
      if (state === 'queued') {
        state = await o.store
          .transaction((trx) => cancelJob(trx, jobId, o.clock))
          .then((r) => r.state)
          .catch(() => state);
      }
      // Cancelled: nobody needs the content any more. Running: the agent has it already.
      if (state !== 'queued' && !c.ephemeral) await scrub(keep);
      throw new TriplaneError(
        'TRIPLANE_ERR_TIMEOUT',
        state === 'cancelled'
          ? `the app server's agent did not pick this up within ${Math.round(o.waitMs / 1000)} s (is it running?); nothing was done`
          : `the app server's agent did not answer within ${Math.round(o.waitMs / 1000)} s; the outcome will be in job ${jobId}`,
        { jobId: jobId, state, serverId },
      );
    }
    await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
    delay = Math.min(delay * 2, 250);
  }
}
