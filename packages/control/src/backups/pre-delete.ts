import { TriplaneError } from '@triplane/kernel';
import { parseServerIds } from '../desired/rows.ts';
import { type JobContext, JobDeferred } from '../jobs/handler.ts';
import { cancelJob } from '../jobs/queue.ts';
import { enqueueBackup } from './backups.ts';

/**
 * Pre-delete backups (issue 6): before `site.delete` / `environment.delete` takes an environment
 * off its server, its server's agent takes a backup of kind `pre-delete` (database + files +
 * spec, like any other). Deletion waits for it, and a backup that fails stops the deletion with
 * nothing deleted: a loud failure the owner can retry, or skip with `?backup=false`.
 *
 * Only environments that run (`running`, `degraded`) are backed up: one that never came up has
 * no data, and one that is stopped or failing can't be dumped (the agent needs its database
 * container) — the job log says which were skipped and why.
 *
 * The backups are idempotent per deletion job (`pre-delete:<job>:<env>`): the deletion job looks
 * at them, and while they run it goes back to the queue for a few seconds (JobDeferred) instead
 * of holding a worker; every look (and a rerun after a crash) finds the same backups.
 */

export const PRE_DELETE_STATUSES: readonly string[] = ['running', 'degraded'];
/** How long a backup may stay unclaimed before the server counts as unreachable. */
export const PRE_DELETE_CLAIM_TIMEOUT_MS = 10 * 60_000;
/** How often a deletion job waiting for its backups looks again. */
const PRE_DELETE_POLL_MS = 5000;

export interface PreDeleteBackup {
  environmentId: string;
  environmentName: string;
  backupId: string;
  jobId: string;
}

export interface PreDeleteOptions {
  claimTimeoutMs?: number;
  pollMs?: number;
  /** Progress of this step maps into the deletion job's [from, to] %. */
  span?: [number, number];
}

/** What site.delete / environment.delete accept about the backup (see handlers/site-delete.ts). */
export interface PreDeleteParams {
  /** Take a `pre-delete` backup of every running environment first (the API's default). */
  backup?: boolean;
  /** Tests: how long a pre-delete backup may stay unclaimed (default 10 min). */
  backupClaimTimeoutMs?: number;
}

/**
 * The deletion jobs' first step: with `params.backup`, and unless the target is already
 * `deleting` (an earlier run took the backups, or the caller asked for none), back up and wait.
 * Returns what the job result and audit event record.
 */
export async function backupsBeforeDelete(
  ctx: JobContext<PreDeleteParams>,
  target: { siteId: string; environmentIds: readonly string[]; deleting: boolean },
): Promise<{ environmentId: string; backupId: string }[]> {
  if (!ctx.params.backup || target.deleting || target.environmentIds.length === 0) return [];
  await ctx.progress(2, 'taking pre-delete backups');
  const claim = ctx.params.backupClaimTimeoutMs;
  const taken = await takePreDeleteBackups(ctx, target.siteId, target.environmentIds, {
    ...(claim ? { claimTimeoutMs: claim } : {}),
    span: [2, 60],
  });
  return taken.map((b) => ({ environmentId: b.environmentId, backupId: b.backupId }));
}

export async function takePreDeleteBackups(
  ctx: JobContext<unknown>,
  siteId: string,
  environmentIds: readonly string[],
  o: PreDeleteOptions = {},
): Promise<PreDeleteBackup[]> {
  const { store, clock } = ctx;
  const [from, to] = o.span ?? [2, 60];
  const taken = await store.transaction(async (trx) => {
    const site = await trx.selectFrom('sites').selectAll().where('id', '=', siteId).executeTakeFirst();
    if (!site || environmentIds.length === 0) return { out: [] as PreDeleteBackup[], skipped: [] as string[], created: false };
    const envs = await trx
      .selectFrom('environments')
      .selectAll()
      .where('id', 'in', [...environmentIds])
      .execute();
    const out: PreDeleteBackup[] = [];
    const skipped: string[] = [];
    let created = false;
    for (const env of envs) {
      if (!PRE_DELETE_STATUSES.includes(env.status) || parseServerIds(env.server_ids).length === 0) {
        skipped.push(`${env.name} (${env.status}: nothing running to back up)`);
        continue;
      }
      const { job, created: isNew } = await enqueueBackup(trx, {
        env,
        site,
        kind: 'pre-delete',
        createdBy: ctx.job.created_by,
        idempotencyKey: `pre-delete:${ctx.job.id}:${env.id}`,
        clock,
      });
      created ||= isNew;
      const { backupId } = JSON.parse(job.params) as { backupId: string };
      out.push({ environmentId: env.id, environmentName: env.name, backupId, jobId: job.id });
    }
    return { out, skipped, created };
  });
  for (const s of taken.skipped) await ctx.log('info', `no pre-delete backup of ${s}`);
  if (taken.out.length === 0) return [];
  for (const b of taken.out) await ctx.log('info', `pre-delete backup ${b.backupId} of ${b.environmentName}: job ${b.jobId}`);

  // One look at the backups; while they run, the deletion job waits in the queue (JobDeferred),
  // not on a worker: a large site's backup can take long.
  const jobs = await store.db
    .selectFrom('jobs')
    .select(['id', 'state', 'progress', 'message', 'error', 'created_at', 'server_id'])
    .where(
      'id',
      'in',
      taken.out.map((b) => b.jobId),
    )
    .execute();
  const which = (jobId: string) => taken.out.find((b) => b.jobId === jobId)?.environmentName ?? jobId;
  const advice = 'nothing was deleted; retry the deletion, or delete with backup=false to skip the backup';
  const failed = jobs.find((j) => j.state === 'failed' || j.state === 'cancelled');
  if (failed) {
    const reason = failed.error ? ((JSON.parse(failed.error) as { message?: string }).message ?? failed.error) : failed.state;
    throw new TriplaneError(
      'TRIPLANE_ERR_BACKUP_FAILED',
      `the pre-delete backup of ${which(failed.id)} ${failed.state === 'cancelled' ? 'was cancelled' : `failed: ${reason}`}; ${advice}`,
      { retryable: false, jobId: failed.id },
    );
  }
  const stuck = jobs.find(
    (j) => j.state === 'queued' && clock.now() - Date.parse(j.created_at) > (o.claimTimeoutMs ?? PRE_DELETE_CLAIM_TIMEOUT_MS),
  );
  if (stuck) {
    await store.transaction((trx) => cancelJob(trx, stuck.id, clock)).catch(() => undefined);
    throw new TriplaneError(
      'TRIPLANE_ERR_BACKUP_UNREACHABLE',
      `the app server ${stuck.server_id} did not start the pre-delete backup of ${which(stuck.id)} in time (is its agent offline?); ${advice}`,
      { retryable: false, jobId: stuck.id, serverId: stuck.server_id },
    );
  }
  if (jobs.length < taken.out.length || !jobs.every((j) => j.state === 'succeeded')) {
    const avg = jobs.reduce((a, j) => a + j.progress, 0) / Math.max(1, jobs.length);
    const running = jobs.find((j) => j.state === 'running');
    const message = `pre-delete backup: ${running?.message ?? 'queued on the app server'}`;
    await ctx.progress(Math.round(from + ((to - from) * avg) / 100), message);
    throw new JobDeferred(o.pollMs ?? PRE_DELETE_POLL_MS, message);
  }
  return taken.out;
}
