import { isoNow } from '@triplane/kernel';
import { placeEnvironment } from '../../desired/placement.ts';
import type { JobHandler } from '../handler.ts';

/**
 * `site.provision {siteId, environmentId}`: provision a new site's production environment
 * (placement and allocation as environment.provision) and mark the site `active`.
 * Idempotent; a site deleted meanwhile makes it a no-op.
 */
export const siteProvision: JobHandler<{ siteId: string; environmentId: string }> = {
  kind: 'site.provision',
  lane: 'interactive',
  maxAttempts: 5,
  async run(ctx) {
    await ctx.progress(10, 'placing the production environment');
    const r = await ctx.store.transaction(async (trx) => {
      const site = await trx.selectFrom('sites').select(['id', 'status']).where('id', '=', ctx.params.siteId).executeTakeFirst();
      if (!site || site.status === 'deleting') return undefined;
      const placed = await placeEnvironment(trx, ctx.store.dialect, ctx.params.environmentId, ctx.clock);
      if (site.status === 'provisioning') {
        await trx
          .updateTable('sites')
          .set({ status: 'active', updated_at: isoNow(ctx.clock) })
          .where('id', '=', site.id)
          .execute();
      }
      return placed;
    });
    if (!r) {
      await ctx.log('warn', 'the site is gone or being deleted; nothing to do');
      return { skipped: 'site not found or being deleted' };
    }
    const where = r.serverIds.length ? `placed on ${r.serverIds.join(', ')}` : 'waiting for an app server';
    await ctx.log('info', `production ${where}; unix user ${r.runtime.unixUser}`);
    await ctx.progress(100, where);
    return {
      siteId: ctx.params.siteId,
      environmentId: r.environmentId,
      serverIds: r.serverIds,
      status: r.status,
      runtime: r.runtime,
    };
  },
};
