import { TriplaneError } from '@triplane/kernel';
import type { JobHandler } from '../handler.ts';

/**
 * `store.integrity-check` (platform job, low lane): runs the store's integrity check
 * (SQLite `PRAGMA integrity_check` + `foreign_key_check`; PostgreSQL: unvalidated
 * constraints) and reports what it found. Read-only and safe to run any time; a
 * platform administrator starts it with `POST /api/v1/jobs {"kind":"store.integrity-check"}`.
 * A store with problems fails the job (terminal: retrying will not fix it) with the list.
 */
export const storeIntegrityCheck: JobHandler<Record<string, never>> = {
  kind: 'store.integrity-check',
  lane: 'low',
  maxAttempts: 2,
  leaseMs: 5 * 60_000,
  async run(ctx) {
    await ctx.progress(5, `checking the ${ctx.store.dialect} store`);
    const { ok, problems } = await ctx.store.integrityCheck();
    for (const p of problems.slice(0, 100)) await ctx.log('error', p);
    if (!ok) {
      throw new TriplaneError('TRIPLANE_ERR_STORE', `the store has ${problems.length} integrity problem(s)`, {
        retryable: false,
        problems: problems.slice(0, 100),
      });
    }
    await ctx.log('info', 'integrity check clean');
    return { ok, dialect: ctx.store.dialect, problems: [] };
  },
};
