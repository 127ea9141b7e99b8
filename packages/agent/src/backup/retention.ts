import type { ExecContext } from './executor.ts';
import type { RetentionPolicy, Snapshot } from './restic.ts';

/**
 * The retention run of one app server's repository (`backup.prune` job): for each environment
 * (tag `env=<id>`), `restic forget` with the policy over its **scheduled** backups, grouped by
 * path — so the `db.sql` snapshots and the files snapshots each keep their N daily/weekly/monthly.
 * Other kinds are not in that count (keep-daily keeps one backup per day, so a manual or a
 * pre-restore backup taken the same day as the scheduled one would go at once): manual, safety
 * (`pre-restore`, `pre-push`) and `clone` backups are kept `keepOtherDays` days (default 7),
 * `pre-delete` backups — all that is left of a deleted site — `keepPreDeleteDays` (default 30).
 * Then any backup that lost
 * one of its two snapshots (a backup that straddled midnight can fall on two days) loses the
 * other one too, and one `restic prune` frees the data. Returns the backup ids that are gone so
 * the control plane marks them `pruned`.
 *
 * restic's `--keep-daily N` keeps the last snapshot of each of the N most recent days that have
 * snapshots, counted by snapshot time — not by "now" — so a server that was off for a week
 * still keeps its last 7 days of backups.
 */
export async function pruneBackups(
  ctx: ExecContext,
  params: Record<string, unknown>,
): Promise<{ removedBackupIds: string[]; kept: number }> {
  const num = (v: unknown, d: number) => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : d);
  const policy: RetentionPolicy = {
    keepDaily: num(params.keepDaily, 7),
    keepWeekly: num(params.keepWeekly, 0),
    keepMonthly: num(params.keepMonthly, 0),
  };
  const now = num(params.now, Date.now());
  const keepOtherDays = num(params.keepOtherDays, 7);
  const keepPreDeleteDays = num(params.keepPreDeleteDays, 30);
  ctx.emit({ type: 'progress', percent: 2, message: 'listing snapshots' });
  await ctx.restic.ensureInit({ signal: ctx.signal });
  const all = await ctx.restic.snapshots({ signal: ctx.signal });
  const tagValue = (s: Snapshot, key: string) => s.tags.find((t) => t.startsWith(`${key}=`))?.slice(key.length + 1);
  const envs = [...new Set(all.map((s) => tagValue(s, 'env')).filter((x): x is string => !!x))].sort();
  const removed: Snapshot[] = [];
  for (const [i, env] of envs.entries()) {
    ctx.emit({ type: 'progress', percent: 5 + (70 * i) / Math.max(1, envs.length), message: `retention for ${env}` });
    if (!all.some((s) => tagValue(s, 'env') === env && tagValue(s, 'kind') === 'scheduled')) continue;
    const r = await ctx.restic.forget(policy, {
      tags: [`env=${env}`, 'kind=scheduled'],
      groupBy: 'paths',
      prune: false,
      signal: ctx.signal,
    });
    removed.push(...r.removed);
  }
  // Every other kind: by age.
  const expired = all.filter((s) => {
    const kind = tagValue(s, 'kind');
    if (!kind || kind === 'scheduled') return false;
    const days = kind === 'pre-delete' ? keepPreDeleteDays : keepOtherDays;
    return now - Date.parse(s.time) > days * 86_400_000;
  });
  if (expired.length) {
    await ctx.restic.forgetIds(
      expired.map((s) => s.id),
      { signal: ctx.signal },
    );
    removed.push(...expired);
  }
  const removedIds = new Set(removed.map((s) => s.id));
  const gone = new Set(removed.map((s) => tagValue(s, 'backup')).filter((x): x is string => !!x));
  // The other half of a backup that lost one snapshot.
  const orphans = all.filter((s) => !removedIds.has(s.id) && gone.has(tagValue(s, 'backup') ?? ''));
  if (orphans.length)
    await ctx.restic.forgetIds(
      orphans.map((s) => s.id),
      { signal: ctx.signal },
    );
  if (removed.length || orphans.length) {
    ctx.emit({ type: 'progress', percent: 80, message: 'pruning unreferenced data' });
    await ctx.restic.prune({ signal: ctx.signal });
  }
  ctx.emit({
    type: 'log',
    level: 'info',
    message: `retention (scheduled: keep daily ${policy.keepDaily}, weekly ${policy.keepWeekly}, monthly ${policy.keepMonthly}; others ${keepOtherDays} days, pre-delete ${keepPreDeleteDays} days): ${removed.length + orphans.length} snapshots of ${gone.size} backups removed`,
  });
  ctx.emit({ type: 'progress', percent: 100, message: 'retention applied' });
  return { removedBackupIds: [...gone].sort(), kept: all.length - removed.length - orphans.length };
}
