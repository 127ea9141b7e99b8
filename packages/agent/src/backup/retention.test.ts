import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import type { ExecContext } from './executor.ts';
import { Restic } from './restic.ts';
import { pruneBackups } from './retention.ts';
import { initFastRepo } from './testing.ts';

/**
 * Retention against a real restic repository, with a fake clock: every backup is two snapshots
 * (db.sql from stdin, the files) stamped with restic's `--time`, one backup a day for 10 days
 * for two environments, plus a backup that straddled midnight. `pruneBackups` with keep-daily 3
 * must keep exactly the 3 newest days of each environment and report the rest as removed.
 */
const DAYS = 10;
const KEEP = 3;
const root = mkdtempSync(join(tmpdir(), 'triplane-retention-'));
after(() => rmSync(root, { recursive: true, force: true }));

async function fixture(name: string) {
  const dir = join(root, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'pw'), 'retention test password\n', { mode: 0o600 });
  const restic = new Restic({
    repository: join(dir, 'repo'),
    passwordFile: join(dir, 'pw'),
    cacheDir: join(dir, 'cache'),
    // normal CPU weight: what is tested here is the policy, not the lane (lowprio.test.ts)
    lane: { nice: 0, cgroup: false },
  });
  await initFastRepo(join(dir, 'repo'), join(dir, 'pw'));
  const files = join(dir, 'wp-content');
  mkdirSync(files);
  /** One backup = its two snapshots (db.sql from stdin, then the files), stamped with `--time`. */
  const take = async (env: string, id: string, dbTime: Date, filesTime: Date, kind = 'scheduled') => {
    const tags = [`backup=${id}`, `env=${env}`, 'site=site_0000000000000000', `kind=${kind}`];
    await restic.backupStdin(Readable.from([Buffer.from(`-- dump of ${id}\n-- Dump completed\n`)]), {
      filename: 'db.sql',
      tags,
      host: 'triplane',
      time: dbTime,
    });
    writeFileSync(join(files, 'changing.txt'), id);
    await restic.backupPaths([files], { tags, host: 'triplane', time: filesTime });
  };
  const ctx = {
    restic,
    emit: () => undefined,
    signal: new AbortController().signal,
    stateDir: dir,
  } as unknown as ExecContext;
  const leftIds = async () => {
    const left = await restic.snapshots();
    return [...new Set(left.map((s) => s.tags.find((t) => t.startsWith('backup='))?.slice(7)))].sort();
  };
  return { restic, take, ctx, leftIds };
}

const day0 = Date.parse('2026-11-01T03:00:00.000Z');

describe('backup retention (restic forget --keep-daily, per environment)', () => {
  it('keeps the newest days of each environment, drops both halves of older backups', async () => {
    const { restic, take, ctx, leftIds } = await fixture('daily');
    const backups: { env: string; id: string; day: number }[] = [];
    for (const env of ['env_aaaaaaaaaaaaaaaa', 'env_bbbbbbbbbbbbbbbb']) {
      for (let d = 0; d < DAYS; d++) {
        const id = `bak_${env.slice(4, 8)}day${String(d).padStart(8, '0')}`;
        const t = new Date(day0 + d * 86_400_000);
        await take(env, id, t, new Date(t.getTime() + 60_000));
        backups.push({ env, id, day: d });
      }
    }
    // A backup of env a that started at 23:59:30 on the last day (9) and finished its files after
    // midnight: its db.sql is the last of day 9, its files the only ones of day 10. Per group
    // (db / files) keep-daily 3 then keeps db days 7–9 and files days 8–10, so day 7 (files gone)
    // and day 9's regular backup (db gone) each lose one half — and must go entirely.
    const straddle = 'bak_straddle00000000';
    await take(
      'env_aaaaaaaaaaaaaaaa',
      straddle,
      new Date(day0 + DAYS * 86_400_000 - 3 * 3_600_000 - 30_000),
      new Date(day0 + DAYS * 86_400_000 - 3 * 3_600_000 + 30_000),
    );
    const r = await pruneBackups(ctx, { keepDaily: KEEP });
    const keptA = backups.filter((b) => b.env.endsWith('a') && b.day >= DAYS - KEEP + 1 && b.day <= DAYS - 2).map((b) => b.id);
    const keptB = backups.filter((b) => b.env.endsWith('b') && b.day >= DAYS - KEEP).map((b) => b.id);
    const kept = [...keptA, straddle, ...keptB].sort();
    assert.deepEqual(
      r.removedBackupIds,
      backups
        .map((b) => b.id)
        .filter((id) => !kept.includes(id))
        .sort(),
    );
    assert.deepEqual(await leftIds(), kept);
    const left = await restic.snapshots();
    assert.equal(left.length, 2 * kept.length, 'both snapshots of every kept backup, nothing else');
    assert.equal(r.kept, left.length);
    // A second run removes nothing.
    assert.deepEqual((await pruneBackups(ctx, { keepDaily: KEEP })).removedBackupIds, []);
    await restic.check();
  });

  it('manual and safety backups are not counted as days: kept 7 days, pre-delete 30', async () => {
    const { take, ctx, leftIds } = await fixture('kinds');
    const env = 'env_cccccccccccccccc';
    const at = (d: number, h = 0) => new Date(day0 + d * 86_400_000 + h * 3_600_000);
    const ids = (prefix: string, days: number[]) => days.map((d) => `bak_${prefix}${String(d).padStart(10, '0')}`);
    for (let d = 0; d < DAYS; d++) {
      await take(env, ids('sched', [d])[0] as string, at(d), at(d, 0.1));
      // the same day, after the scheduled one: a manual backup and a restore's safety backup
      await take(env, ids('manua', [d])[0] as string, at(d, 5), at(d, 5.1), 'manual');
      await take(env, ids('prere', [d])[0] as string, at(d, 6), at(d, 6.1), 'pre-restore');
    }
    await take('env_dddddddddddddddd', 'bak_predelete000000', at(0, 8), at(0, 8.1), 'pre-delete');
    // "now" is day 10, 04:00: 7 days back is day 3, 04:00.
    const r = await pruneBackups(ctx, { keepDaily: KEEP, now: at(10, 1).getTime() });
    const kept = [
      ...ids('sched', [7, 8, 9]),
      ...ids('manua', [3, 4, 5, 6, 7, 8, 9]),
      ...ids('prere', [3, 4, 5, 6, 7, 8, 9]),
      'bak_predelete000000',
    ].sort();
    assert.deepEqual(await leftIds(), kept);
    assert.deepEqual(
      r.removedBackupIds,
      [...ids('sched', [0, 1, 2, 3, 4, 5, 6]), ...ids('manua', [0, 1, 2]), ...ids('prere', [0, 1, 2])].sort(),
    );
    // 31 days later the pre-delete backup goes too.
    const later = await pruneBackups(ctx, { keepDaily: KEEP, now: at(31, 9).getTime() });
    assert.ok(later.removedBackupIds.includes('bak_predelete000000'));
  });
});
