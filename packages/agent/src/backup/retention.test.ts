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

describe('backup retention (restic forget --keep-daily, per environment)', () => {
  it('keeps the newest days of each environment, drops both halves of older backups', async () => {
    writeFileSync(join(root, 'pw'), 'retention test password\n', { mode: 0o600 });
    const restic = new Restic({
      repository: join(root, 'repo'),
      passwordFile: join(root, 'pw'),
      cacheDir: join(root, 'cache'),
      // normal CPU weight: what is tested here is the policy, not the lane (lowprio.test.ts)
      lane: { nice: 0, cgroup: false },
    });
    await initFastRepo(join(root, 'repo'), join(root, 'pw'));
    const files = join(root, 'wp-content');
    mkdirSync(files);
    const day0 = Date.parse('2026-11-01T03:00:00.000Z');
    const backups: { env: string; id: string; day: number }[] = [];
    const take = async (env: string, id: string, dbTime: Date, filesTime: Date) => {
      const tags = [`backup=${id}`, `env=${env}`, 'site=site_0000000000000000', 'kind=scheduled'];
      await restic.backupStdin(Readable.from([Buffer.from(`-- dump of ${id}\n-- Dump completed\n`)]), {
        filename: 'db.sql',
        tags,
        host: 'triplane',
        time: dbTime,
      });
      writeFileSync(join(files, 'changing.txt'), id);
      await restic.backupPaths([files], { tags, host: 'triplane', time: filesTime });
    };
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
    const events: unknown[] = [];
    const ctx = {
      restic,
      emit: (e: unknown) => events.push(e),
      signal: new AbortController().signal,
      stateDir: root,
    } as unknown as ExecContext;
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
    const left = await restic.snapshots();
    const leftIds = [...new Set(left.map((s) => s.tags.find((t) => t.startsWith('backup='))?.slice(7)))].sort();
    assert.deepEqual(leftIds, kept);
    assert.equal(left.length, 2 * kept.length, 'both snapshots of every kept backup, nothing else');
    assert.equal(r.kept, left.length);
    // A second run removes nothing.
    assert.deepEqual((await pruneBackups(ctx, { keepDaily: KEEP })).removedBackupIds, []);
    await restic.check();
  });
});
