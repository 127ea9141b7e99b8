import { createHash } from 'node:crypto';
import { type Clock, type Logger, silentLogger, systemClock, TriplaneError } from '@triplane/kernel';
import { parseServerIds } from '../desired/rows.ts';
import { AGENT_JOB_KINDS } from '../jobs/agent-kinds.ts';
import { enqueueJob } from '../jobs/enqueue.ts';
import type { Store } from '../store/store.ts';
import { enqueueBackup } from './backups.ts';

/**
 * The backup schedule: every running environment gets one `scheduled` backup a day, at a time
 * inside the window (UTC) chosen by a hash of its id (jitter: 500 sites don't all start at
 * 02:00, and the same site backs up at the same time every day); each app server gets one
 * retention run (`backup.prune`, restic forget --prune with the policy) a day after the window,
 * and a `restic check` with a read-data subset once a week.
 *
 * Every enqueue carries an idempotency key with the UTC date (`backup:scheduled:<env>:<day>`),
 * so the tick is safe to run in every control-plane replica and after restarts: a day's backup
 * is queued once. A tick missed (control plane down in the window) is caught up on the next tick
 * the same day.
 */
export interface BackupPolicy {
  /** Window start and end, minutes after 00:00 UTC (end may wrap past midnight). */
  windowStartMin: number;
  windowEndMin: number;
  keepDaily: number;
  keepWeekly: number;
  keepMonthly: number;
  /** restic check --read-data-subset, e.g. '5%'. */
  checkSubset: string;
  /** Day of the week (0 = Sunday) of the repository check. */
  checkWeekday: number;
}

export const DEFAULT_BACKUP_POLICY: BackupPolicy = {
  windowStartMin: 2 * 60,
  windowEndMin: 5 * 60,
  keepDaily: 7,
  keepWeekly: 0,
  keepMonthly: 0,
  checkSubset: '5%',
  checkWeekday: 0,
};

/** `02:00-05:00` → minutes; errors name the problem. */
export function parseWindow(s: string): { windowStartMin: number; windowEndMin: number } {
  const m = /^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$/.exec(s.trim());
  const mins = m ? [Number(m[1]) * 60 + Number(m[2]), Number(m[3]) * 60 + Number(m[4])] : [];
  const [a, b] = mins;
  if (a === undefined || b === undefined || a >= 1440 || b > 1440 || a === b || Number(m?.[2]) > 59 || Number(m?.[4]) > 59) {
    throw new TriplaneError(
      'TRIPLANE_ERR_VALIDATION',
      `backup window must look like 02:00-05:00 (UTC), got ${JSON.stringify(s)}`,
    );
  }
  return { windowStartMin: a, windowEndMin: b };
}

const DAY = 86_400_000;

function windowLength(p: BackupPolicy): number {
  return (p.windowEndMin - p.windowStartMin + 1440) % 1440 || 1440;
}

/** Minutes into the window for this environment: stable per id, spread uniformly. */
export function jitterMinutes(id: string, p: BackupPolicy): number {
  const h = createHash('sha256').update(id).digest().readUInt32BE(0);
  return h % windowLength(p);
}

/** The UTC day (YYYY-MM-DD) a due time belongs to, and its epoch ms, for `now`. */
export function dueToday(id: string, now: number, p: BackupPolicy): { day: string; at: number } {
  const dayStart = Math.floor(now / DAY) * DAY;
  let at = dayStart + (p.windowStartMin + jitterMinutes(id, p)) * 60_000;
  // A window that wraps past midnight: the slot after midnight belongs to the previous day's run.
  if (at - dayStart >= DAY) at -= DAY;
  return { day: new Date(dayStart).toISOString().slice(0, 10), at };
}

/** One pass: enqueue what is due now. Returns what it queued (new jobs only). */
export async function scheduleTick(
  store: Store,
  o: { clock?: Clock; policy?: BackupPolicy; logger?: Logger } = {},
): Promise<{ backups: number; prunes: number; checks: number }> {
  const clock = o.clock ?? systemClock;
  const p = o.policy ?? DEFAULT_BACKUP_POLICY;
  const now = clock.now();
  const out = { backups: 0, prunes: 0, checks: 0 };
  const envs = await store.db
    .selectFrom('environments')
    .innerJoin('sites', 'sites.id', 'environments.site_id')
    .selectAll('environments')
    .where('environments.desired_state', '=', 'running')
    .where('environments.status', '=', 'running')
    .execute();
  const servers = new Set<string>();
  for (const e of envs) {
    const serverId = parseServerIds(e.server_ids)[0];
    if (!serverId) continue;
    servers.add(serverId);
    const due = dueToday(e.id, now, p);
    if (now < due.at) continue;
    const site = await store.db.selectFrom('sites').selectAll().where('id', '=', e.site_id).executeTakeFirst();
    if (!site) continue;
    const created = await store.transaction(async (trx) => {
      const r = await enqueueBackup(trx, {
        env: e,
        site,
        kind: 'scheduled',
        createdBy: 'system',
        idempotencyKey: `backup:scheduled:${e.id}:${due.day}`,
        clock,
      });
      return r.created;
    });
    if (created) out.backups++;
  }
  // Retention once a day per server, after the window; the check once a week.
  const dayStart = Math.floor(now / DAY) * DAY;
  const day = new Date(dayStart).toISOString().slice(0, 10);
  const afterWindow = dayStart + ((p.windowEndMin % 1440) + 30) * 60_000;
  if (now >= afterWindow) {
    for (const serverId of servers) {
      const created = await store.transaction(async (trx) => {
        let n = 0;
        const prune = AGENT_JOB_KINDS['backup.prune'];
        const r = await enqueueJob(trx, {
          kind: 'backup.prune',
          lane: prune?.lane ?? 'low',
          maxAttempts: prune?.maxAttempts ?? 3,
          params: { keepDaily: p.keepDaily, keepWeekly: p.keepWeekly, keepMonthly: p.keepMonthly },
          serverId,
          createdBy: 'system',
          idempotencyKey: `backup:prune:${serverId}:${day}`,
          clock,
        });
        if (r.created) n |= 1;
        if (new Date(dayStart).getUTCDay() === p.checkWeekday) {
          const check = AGENT_JOB_KINDS['backup.check'];
          const c = await enqueueJob(trx, {
            kind: 'backup.check',
            lane: check?.lane ?? 'low',
            maxAttempts: check?.maxAttempts ?? 2,
            params: { readDataSubset: p.checkSubset },
            serverId,
            createdBy: 'system',
            idempotencyKey: `backup:check:${serverId}:${day}`,
            clock,
          });
          if (c.created) n |= 2;
        }
        return n;
      });
      if (created & 1) out.prunes++;
      if (created & 2) out.checks++;
    }
  }
  if (out.backups + out.prunes + out.checks > 0) (o.logger ?? silentLogger()).info(out, 'backup schedule: jobs queued');
  return out;
}

/** Run `scheduleTick` every `everyMs` (default 60 s) until stopped. Errors are logged, never fatal. */
export function startBackupScheduler(
  store: Store,
  o: { clock?: Clock; policy?: BackupPolicy; logger?: Logger; everyMs?: number } = {},
): { stop(): Promise<void> } {
  const log = o.logger ?? silentLogger();
  let running: Promise<unknown> = Promise.resolve();
  const tick = () => {
    running = scheduleTick(store, o).catch((e: unknown) =>
      log.warn({ err: e instanceof Error ? e.message : String(e) }, 'backup schedule tick failed'),
    );
  };
  const t = setInterval(tick, o.everyMs ?? 60_000);
  t.unref();
  tick();
  return {
    async stop() {
      clearInterval(t);
      await running;
    },
  };
}
