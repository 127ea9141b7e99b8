import { isoNow } from '@triplane/kernel';
import { audit } from '../../audit/audit.ts';
import { backupsBeforeDelete } from '../../backups/pre-delete.ts';
import { waitForAgentsToRelease } from '../../desired/drain.ts';
import { bumpRevision } from '../../store/store.ts';
import type { JobHandler } from '../handler.ts';
import { type DeleteParams, DRAIN_TIMEOUT_MS } from './site-delete.ts';

/**
 * `environment.delete {environmentId, backup?, drainTimeoutMs?}`: like site.delete for one (non-
 * production) environment: a pre-delete backup first (with `backup`), mark deleting, wait (bounded) for online agents to stop reporting
 * it, delete the row (its domains cascade), bump, audit. Idempotent.
 */
export const environmentDelete: JobHandler<{ environmentId: string } & DeleteParams> = {
  kind: 'environment.delete',
  lane: 'interactive',
  maxAttempts: 5,
  leaseMs: 60_000,
  async run(ctx) {
    const { store } = ctx;
    const id = ctx.params.environmentId;
    const cur = await store.db.selectFrom('environments').select(['status', 'site_id']).where('id', '=', id).executeTakeFirst();
    const preDeleteBackups = await backupsBeforeDelete(ctx, {
      siteId: cur?.site_id ?? '',
      environmentIds: cur ? [id] : [],
      deleting: !cur || cur.status === 'deleting',
    });
    const exists = await store.transaction(async (trx) => {
      const env = await trx.selectFrom('environments').select(['id', 'status']).where('id', '=', id).executeTakeFirst();
      if (!env) return false;
      if (env.status !== 'deleting') {
        await trx
          .updateTable('environments')
          .set({ status: 'deleting', status_message: 'being deleted', updated_at: isoNow(ctx.clock) })
          .where('id', '=', id)
          .execute();
        await bumpRevision(trx);
      }
      return true;
    });
    if (!exists) return { environmentId: id, deleted: true, alreadyGone: true };

    await ctx.progress(65, 'waiting for agents to remove the environment');
    const drained = await waitForAgentsToRelease(store.db, [id], {
      clock: ctx.clock,
      signal: ctx.signal,
      timeoutMs: ctx.params.drainTimeoutMs ?? DRAIN_TIMEOUT_MS,
    });
    if (!drained.released) {
      await ctx.log('warn', 'agents did not confirm in time; they remove the environment on their next reconcile');
    }
    await store.transaction(async (trx) => {
      const env = await trx
        .selectFrom('environments')
        .innerJoin('sites', 'sites.id', 'environments.site_id')
        .select(['environments.id', 'environments.name', 'environments.site_id', 'sites.org_id'])
        .where('environments.id', '=', id)
        .executeTakeFirst();
      if (!env) return;
      await trx.deleteFrom('environments').where('id', '=', id).execute();
      await bumpRevision(trx);
      await audit(trx, null, {
        action: 'environment.deleted',
        orgId: env.org_id,
        targetType: 'environment',
        targetId: id,
        details: {
          name: env.name,
          siteId: env.site_id,
          jobId: ctx.job.id,
          confirmedByAgents: drained.released,
          preDeleteBackups,
        },
      });
    });
    await ctx.progress(100, 'environment deleted');
    return { environmentId: id, deleted: true, confirmedByAgents: drained.released, preDeleteBackups };
  },
};
