import { isoNow, TriplaneError } from '@triplane/kernel';
import type { EnvironmentAction } from '@triplane/spec';
import { waitForGeneration } from '../../desired/drain.ts';
import { lockDesiredState } from '../../desired/lock.ts';
import { bumpRevision } from '../../store/store.ts';
import type { JobHandler } from '../handler.ts';

/** How long an action waits for the agents to confirm it (they report the applied generation). */
export const ACTION_CONFIRM_TIMEOUT_MS = 60_000;

/**
 * `environment.action {environmentId, action: restart|stop|start, baseGeneration, confirmTimeoutMs?}`:
 * records the action in the desired state — stop/start set `desiredState`, every action bumps
 * `generation` (agents recreate the pod on a new generation, which is what a restart is) and the
 * revision — then waits (bounded) for the online agents to report that generation.
 * Idempotent: stop/start apply only while the desired state differs; restart only while the
 * environment is still at `baseGeneration` (the generation when it was asked), so a rerun after
 * a crash does not restart twice and a settings change in between does not swallow a stop.
 */
export const environmentActionHandler: JobHandler<{
  environmentId: string;
  action: EnvironmentAction;
  baseGeneration: number;
  confirmTimeoutMs?: number;
}> = {
  kind: 'environment.action',
  lane: 'interactive',
  maxAttempts: 5,
  async run(ctx) {
    const { environmentId, action, baseGeneration } = ctx.params;
    const target = await ctx.store.transaction(async (trx) => {
      await lockDesiredState(trx, ctx.store.dialect);
      const env = await trx
        .selectFrom('environments')
        .select(['id', 'status', 'generation', 'desired_state'])
        .where('id', '=', environmentId)
        .executeTakeFirst();
      if (!env) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', 'environment not found', { retryable: false });
      if (env.status === 'deleting') {
        throw new TriplaneError('TRIPLANE_ERR_CONFLICT', 'the environment is being deleted', { retryable: false });
      }
      const generation = Number(env.generation);
      const desired = action === 'stop' ? 'stopped' : action === 'start' ? 'running' : env.desired_state;
      // stop/start: done once the desired state says so. restart: done once the generation moved
      // past the one it was asked at (any newer generation recreates the pod anyway).
      const done = action === 'restart' ? generation !== baseGeneration : env.desired_state === desired;
      if (done) return { generation, applied: false };
      await trx
        .updateTable('environments')
        .set({ generation: generation + 1, desired_state: desired, updated_at: isoNow(ctx.clock) })
        .where('id', '=', environmentId)
        .execute();
      await bumpRevision(trx);
      return { generation: generation + 1, applied: true };
    });
    await ctx.log('info', target.applied ? `${action}: generation ${target.generation}` : `${action} already recorded`);
    await ctx.progress(50, 'waiting for the agents');
    const c = await waitForGeneration(ctx.store.db, environmentId, target.generation, {
      clock: ctx.clock,
      signal: ctx.signal,
      timeoutMs: ctx.params.confirmTimeoutMs ?? ACTION_CONFIRM_TIMEOUT_MS,
    });
    if (!c.confirmed)
      await ctx.log('warn', `not confirmed in time by ${c.pending.join(', ')}; they apply it on their next reconcile`);
    await ctx.progress(100, c.confirmed ? `${action} done` : `${action} recorded`);
    return { environmentId, action, generation: target.generation, confirmedByAgents: c.confirmed };
  },
};
