import { isoNow } from '@triplane/kernel';
import { audit } from '../../audit/audit.ts';
import { backupsBeforeDelete, type PreDeleteParams } from '../../backups/pre-delete.ts';
import { waitForAgentsToRelease } from '../../desired/drain.ts';
import { bumpRevision } from '../../store/store.ts';
import type { JobHandler } from '../handler.ts';

/** How long deletion waits for online agents to tear environments down before removing the rows. */
export const DRAIN_TIMEOUT_MS = 120_000;

export interface DeleteParams extends PreDeleteParams {
  drainTimeoutMs?: number;
}

/**
 * `site.delete {siteId, backup?, drainTimeoutMs?}`:
 *   0. with `backup`, while the site still runs: a pre-delete backup of each running
 *      environment, on its server (backups/pre-delete.ts); a failed one fails the job with
 *      nothing deleted;
 *   1. mark the site and its environments `deleting` and bump the revision (the API already
 *      did; repeated here so a rerun after a crash is complete) — they leave every agent's
 *      assignment and the edge snapshot;
 *   2. wait (bounded) until no ONLINE server's agent reports them any more; offline servers
 *      remove them when they return, because reconcile is level-based;
 *   3. delete the rows (environments, domains and site memberships cascade), bump, audit.
 * Idempotent: a site already gone is success.
 */
export const siteDelete: JobHandler<{ siteId: string } & DeleteParams> = {
  kind: 'site.delete',
  lane: 'interactive',
  maxAttempts: 5,
  leaseMs: 60_000,
  async run(ctx) {
    const { store } = ctx;
    const siteId = ctx.params.siteId;
    const before = await store.db.selectFrom('sites').select(['status']).where('id', '=', siteId).executeTakeFirst();
    const ofSite = await store.db.selectFrom('environments').select('id').where('site_id', '=', siteId).execute();
    const preDeleteBackups = await backupsBeforeDelete(ctx, {
      siteId,
      environmentIds: ofSite.map((e) => e.id),
      deleting: !before || before.status === 'deleting',
    });
    const envIds = await store.transaction(async (trx) => {
      const site = await trx.selectFrom('sites').select(['id', 'status']).where('id', '=', siteId).executeTakeFirst();
      if (!site) return undefined;
      const now = isoNow(ctx.clock);
      const envs = await trx.selectFrom('environments').select(['id', 'status']).where('site_id', '=', siteId).execute();
      if (site.status !== 'deleting' || envs.some((e) => e.status !== 'deleting')) {
        await trx.updateTable('sites').set({ status: 'deleting', updated_at: now }).where('id', '=', siteId).execute();
        await trx
          .updateTable('environments')
          .set({ status: 'deleting', status_message: 'the site is being deleted', updated_at: now })
          .where('site_id', '=', siteId)
          .execute();
        await bumpRevision(trx);
      }
      return envs.map((e) => e.id);
    });
    if (!envIds) {
      await ctx.log('info', 'the site is already deleted');
      return { siteId, deleted: true, alreadyGone: true };
    }

    await ctx.progress(65, 'waiting for agents to remove the environments');
    const drained = await waitForAgentsToRelease(store.db, envIds, {
      clock: ctx.clock,
      signal: ctx.signal,
      timeoutMs: ctx.params.drainTimeoutMs ?? DRAIN_TIMEOUT_MS,
    });
    if (!drained.released) {
      await ctx.log(
        'warn',
        `agents did not confirm in time (${drained.remaining.map((r) => `${r.environmentId}@${r.serverId}`).join(', ')}); ` +
          'they remove the environments on their next reconcile',
      );
    }

    await ctx.progress(90, 'removing the site');
    await store.transaction(async (trx) => {
      const site = await trx.selectFrom('sites').select(['id', 'org_id', 'name']).where('id', '=', siteId).executeTakeFirst();
      if (!site) return;
      await trx.deleteFrom('sites').where('id', '=', siteId).execute();
      await bumpRevision(trx);
      await audit(trx, null, {
        action: 'site.deleted',
        orgId: site.org_id,
        targetType: 'site',
        targetId: site.id,
        details: { name: site.name, jobId: ctx.job.id, confirmedByAgents: drained.released, preDeleteBackups },
      });
    });
    await ctx.progress(100, 'site deleted');
    return { siteId, deleted: true, confirmedByAgents: drained.released, preDeleteBackups };
  },
};
