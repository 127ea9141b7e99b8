import { placeEnvironment } from '../../desired/placement.ts';
import type { JobHandler } from '../handler.ts';

/**
 * `environment.provision {environmentId}`: place the environment on app servers and allocate
 * its runtime (Unix user, uid slot, a web port per server), status → provisioning, revision
 * bumped; the agents then see it in their assignments and report `running`.
 * No app server online → the environment stays `pending` ('waiting for an app server') and the
 * job succeeds; placement completes when an app server joins or comes back (see placement.ts).
 * Idempotent: placement keeps what is already allocated; a rerun writes nothing.
 */
export const environmentProvision: JobHandler<{ environmentId: string }> = {
  kind: 'environment.provision',
  lane: 'interactive',
  maxAttempts: 5,
  async run(ctx) {
    await ctx.progress(10, 'placing the environment');
    const r = await ctx.store.transaction((trx) => placeEnvironment(trx, ctx.store.dialect, ctx.params.environmentId, ctx.clock));
    if (!r) {
      await ctx.log('warn', 'the environment no longer exists; nothing to do');
      return { skipped: 'environment not found' };
    }
    const where = r.serverIds.length ? `placed on ${r.serverIds.join(', ')}` : 'waiting for an app server';
    await ctx.log('info', `${where}; unix user ${r.runtime.unixUser}`);
    await ctx.progress(100, where);
    return { environmentId: r.environmentId, serverIds: r.serverIds, status: r.status, runtime: r.runtime };
  },
};
