import assert from 'node:assert/strict';
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { TriplaneError } from '@triplane/kernel';
import { spawnLowPriority } from './lowprio.ts';
import { type Progress, Restic } from './restic.ts';
import { classifyResticFailure, redact } from './restic-errors.ts';
import { initFastRepo } from './testing.ts';

const execFileAsync = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const LANE = `triplane-low-test-r${process.pid}`;
const root = mkdtempSync(join(tmpdir(), 'triplane-restic-'));
const passwordFile = join(root, 'password');
writeFileSync(passwordFile, 'correct horse battery staple\n', { mode: 0o600 });
const otherPasswordFile = join(root, 'other-password');
writeFileSync(otherPasswordFile, 'not the password\n', { mode: 0o600 });

/**
 * A template repository that each test copies. restic calibrates its scrypt KDF at `init`
 * to ~0.5 s of CPU, paid again by every later command; initialising the template under a
 * tight CPU quota makes restic pick its cheapest parameters, so the ~80 restic runs below
 * cost seconds instead of a minute (the ensureInit test still does a real, full init).
 */
async function makeTemplate(): Promise<string> {
  const dir = join(root, 'template');
  await initFastRepo(dir, passwordFile);
  return dir;
}

let template: Promise<string>;
let seq = 0;

function newRestic(repository: string, extra: Partial<ConstructorParameters<typeof Restic>[0]> = {}): Restic {
  return new Restic({
    repository,
    passwordFile,
    cacheDir: join(root, `cache-${++seq}`),
    // The lane's nice/ionice/cgroup mechanics are lowprio.test.ts's subject. Here restic runs
    // in a test lane at normal CPU weight: on a busy shared CI box an idle-priority restic is
    // starved for minutes, which is the lane working, not a test result.
    lane: { nice: 0, cgroup: { name: LANE, cpuShares: 1024, cpuIdle: false } },
    killGraceMs: 2000,
    ...extra,
  });
}

async function freshRepo(into?: string): Promise<{ dir: string; restic: Restic }> {
  const dir = into ?? join(root, `repo-${++seq}`);
  cpSync(await template, dir, { recursive: true });
  return { dir, restic: newRestic(dir) };
}

function sha256(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Lock files proper (restic writes `<id>-tmp-<n>` first, then renames). */
function locks(dir: string): string[] {
  return readdirSync(join(dir, 'locks')).filter((n) => /^[0-9a-f]{64}$/.test(n));
}

function resticPids(dir: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.includes(`--repo=${dir}\0`)) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<TriplaneError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof TriplaneError, `expected TriplaneError, got ${String(e)}`);
    assert.equal(e.code, code, `${e.code}: ${e.message} ${JSON.stringify(e.details)}`);
    return e;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

function producer(script: string): ChildProcess {
  return spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'ignore'] });
}

describe('restic', () => {
  before(() => {
    template = makeTemplate();
    template.catch(() => undefined);
  });

  after(() => {
    for (const m of execFileSync('sh', ['-c', `grep ' ${root}' /proc/mounts | cut -d' ' -f2 || true`], {
      encoding: 'utf8',
    }).split('\n')) {
      if (m) execFileSync('umount', [m]);
    }
    rmSync(root, { recursive: true, force: true });
    for (const c of ['cpu', 'blkio']) {
      try {
        rmdirSync(`/sys/fs/cgroup/${c}/${LANE}`);
      } catch {
        // not created or not root
      }
    }
    try {
      const mine = /^\d+:memory:(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '/';
      rmdirSync(join('/sys/fs/cgroup/memory', mine, LANE));
    } catch {
      // not created
    }
  });

  it('ensureInit creates the repository once; a wrong password is an error, never a re-init', async () => {
    const dir = join(root, 'init-repo');
    const restic = newRestic(dir);
    assert.deepEqual(await restic.ensureInit(), { created: true });
    const config = readFileSync(join(dir, 'config'));
    const keys = readdirSync(join(dir, 'keys'));
    assert.deepEqual(await restic.ensureInit(), { created: false });
    const wrong = newRestic(dir, { passwordFile: otherPasswordFile });
    await rejectsWith(wrong.ensureInit(), 'TRIPLANE_ERR_BACKUP_WRONG_PASSWORD');
    await rejectsWith(wrong.snapshots(), 'TRIPLANE_ERR_BACKUP_WRONG_PASSWORD');
    assert.deepEqual(readFileSync(join(dir, 'config')), config);
    assert.deepEqual(readdirSync(join(dir, 'keys')), keys);
    await rejectsWith(newRestic(join(root, 'no-such-repo')).snapshots(), 'TRIPLANE_ERR_BACKUP_REPO_NOT_FOUND');
  });

  it('streams stdin into a snapshot and dumps the same bytes back (file and tar)', async () => {
    const { dir } = await freshRepo();
    // With an upload cap (TRIPLANE_BACKUP_LIMIT_UPLOAD_KIB): restic accepts it on every command.
    const restic = newRestic(dir, { limitUploadKiB: 512 * 1024 });
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const progress: Progress[] = [];
    const snap = await restic.backupStdin(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), {
      filename: 'db.sql',
      tags: ['site:shop', 'kind:manual'],
      host: 'shop',
      onProgress: (p) => progress.push(p),
    });
    assert.match(snap.snapshotId, /^[0-9a-f]{64}$/);
    assert.equal(snap.totalBytesProcessed, data.length);
    assert.ok(snap.dataAdded >= data.length, 'random data does not dedupe');
    assert.equal(progress.at(-1)?.percent, 100);

    const list = await restic.snapshots({ tags: ['site:shop'] });
    assert.deepEqual(
      list.map((s) => [s.id, s.hostname, s.paths, s.tags.sort()]),
      [[snap.snapshotId, 'shop', ['/db.sql'], ['kind:manual', 'site:shop']]],
    );
    assert.deepEqual(await restic.snapshots({ tags: ['site:shop', 'kind:scheduled'] }), []);

    assert.equal(sha256(await readAll(restic.dumpFile(snap.snapshotId, '/db.sql'))), sha256(data));
    // The tar holds db.sql with the same bytes: header name at 0, octal size at 124, data after 512.
    const tar = await readAll(restic.dumpTar(snap.shortId));
    const entries = new Map<string, Buffer>();
    for (let off = 0; off + 512 <= tar.length; ) {
      const name = tar
        .subarray(off, off + 100)
        .toString('utf8')
        .replace(/\0.*$/s, '');
      if (!name) break;
      const size = Number.parseInt(
        tar
          .subarray(off + 124, off + 136)
          .toString('utf8')
          .replace(/\0.*$/s, '')
          .trim() || '0',
        8,
      );
      entries.set(name.replace(/^\/+/, ''), tar.subarray(off + 512, off + 512 + size));
      off += 512 + Math.ceil(size / 512) * 512;
    }
    assert.equal(sha256(entries.get('db.sql') ?? Buffer.alloc(0)), sha256(data));

    const stats = await restic.stats();
    assert.equal(stats.snapshotCount, 1);
    assert.ok(stats.totalSize >= data.length);
  });

  it('a producer that dies mid-stream fails the backup and leaves no snapshot', async () => {
    const { dir, restic } = await freshRepo();
    const before = await restic.snapshots();
    const meta = { filename: 'db.sql', tags: ['t'], host: 'h' };

    // A process that writes 2 MiB, then fails: its stdout ends normally (EOF) before the exit
    // code is known — exactly the case where restic would save the truncated stream.
    const dump = producer('head -c 2097152 /dev/urandom; exit 3');
    const e1 = await rejectsWith(restic.backupStdin(dump, meta), 'TRIPLANE_ERR_BACKUP_SOURCE_FAILED');
    assert.match(e1.message, /code 3/);

    // A stream that errors half way.
    let n = 0;
    const broken = new Readable({
      read() {
        if (++n > 8) this.destroy(new Error('connection to mariadb lost'));
        else this.push(randomBytes(256 * 1024));
      },
    });
    const e2 = await rejectsWith(restic.backupStdin(broken, meta), 'TRIPLANE_ERR_BACKUP_SOURCE_FAILED');
    assert.match(e2.message, /connection to mariadb lost/);

    // The stream ended, but the caller's own check of the producer failed.
    await rejectsWith(
      restic.backupStdin(Readable.from([randomBytes(1024)]), {
        ...meta,
        sourceDone: Promise.reject(new Error('no "Dump completed" trailer')),
      }),
      'TRIPLANE_ERR_BACKUP_SOURCE_FAILED',
    );

    // A producer that exited before we got it: node has already thrown its output away.
    const late = producer('head -c 1000 /dev/urandom');
    await new Promise((resolve) => late.once('close', resolve));
    await rejectsWith(restic.backupStdin(late, meta), 'TRIPLANE_ERR_BACKUP_SOURCE_FAILED');
    // An empty dump is no backup.
    await rejectsWith(restic.backupStdin(Readable.from([]), meta), 'TRIPLANE_ERR_BACKUP_SOURCE_FAILED');

    assert.deepEqual(await restic.snapshots(), before);
    assert.deepEqual(locks(dir), [], 'restic was stopped with SIGINT and removed its lock');
    assert.deepEqual(resticPids(dir), []);

    // Control: the same producer exiting 0 gives a snapshot.
    const ok = await restic.backupStdin(producer('head -c 100000 /dev/urandom'), meta);
    assert.equal((await restic.snapshots()).length, before.length + 1);
    assert.equal(ok.totalBytesProcessed, 100000);
  });

  it('backs up paths and restores them with contents, modes and owners', async () => {
    const { restic } = await freshRepo();
    const src = join(root, 'site-files');
    mkdirSync(join(src, 'wp-content/uploads/2026'), { recursive: true });
    const files: Record<string, { mode: number; uid: number; gid: number }> = {
      'wp-config.php': { mode: 0o640, uid: 1234, gid: 2345 },
      'wp-content/uploads/2026/photo.jpg': { mode: 0o644, uid: 1234, gid: 1234 },
      'wp-content/run.sh': { mode: 0o755, uid: 0, gid: 0 },
      'wp-content/cache/page.html': { mode: 0o600, uid: 33, gid: 33 },
    };
    for (const [rel, m] of Object.entries(files)) {
      mkdirSync(join(src, rel, '..'), { recursive: true });
      writeFileSync(join(src, rel), randomBytes(10_000 + rel.length * 1000));
      chmodSync(join(src, rel), m.mode);
      if (isRoot) chownSync(join(src, rel), m.uid, m.gid);
    }
    symlinkSync('wp-content/uploads', join(src, 'uploads-link'));
    const snap = await restic.backupPaths([src], {
      tags: ['site:shop', 'part:files'],
      host: 'shop',
      excludes: [join(src, 'wp-content/cache')],
      time: new Date('2026-03-04T05:06:07Z'),
    });
    assert.equal(snap.time, '2026-03-04T05:06:07Z');
    assert.equal(snap.filesNew, 3);

    const target = join(root, 'restored');
    await restic.restore(snap.snapshotId, target);
    for (const [rel, m] of Object.entries(files)) {
      const got = join(target, src, rel);
      if (rel.startsWith('wp-content/cache')) {
        assert.equal(existsSync(got), false, 'excluded');
        continue;
      }
      assert.equal(sha256(readFileSync(got)), sha256(readFileSync(join(src, rel))), rel);
      const st = statSync(got);
      assert.equal(st.mode & 0o7777, m.mode, `${rel} mode`);
      if (isRoot) assert.deepEqual([st.uid, st.gid], [m.uid, m.gid], `${rel} owner`);
    }
    assert.equal(lstatSync(join(target, src, 'uploads-link')).isSymbolicLink(), true);

    // include: just one file
    const partial = join(root, 'restored-partial');
    await restic.restore(snap.snapshotId, partial, { include: [join(src, 'wp-config.php')] });
    assert.equal(existsSync(join(partial, src, 'wp-config.php')), true);
    assert.equal(existsSync(join(partial, src, 'wp-content/run.sh')), false);

    await rejectsWith(restic.backupPaths([join(root, 'nope')], { tags: ['t'], host: 'h' }), 'TRIPLANE_ERR_BACKUP_SOURCE_FAILED');
    assert.equal((await restic.snapshots()).length, 1);
  });

  it('retention with a fake clock keeps exactly the last snapshot of the 7 newest days', async () => {
    const { dir, restic } = await freshRepo();
    const src = join(root, 'retention-src');
    mkdirSync(src);
    writeFileSync(join(src, 'f'), 'x');
    const day0 = Date.parse('2026-05-01T00:00:00Z');
    const at = (day: number, hour: number) => new Date(day0 + day * 86_400_000 + hour * 3_600_000);
    const tags = ['site:shop', 'env:live'];
    // One snapshot a day for 20 days at 03:00, plus a manual one at 15:00 on some days.
    const times = [...Array.from({ length: 20 }, (_, d) => at(d, 3)), at(15, 15), at(18, 15), at(19, 15), at(3, 15)];
    const made = new Map<string, Date>();
    // The fixture comes from restic itself (one process per snapshot, four at a time: backups
    // share the repository lock; backupPaths' `time` is covered above). Our forget is under test.
    const rawBackup = async (tagList: string[], time: Date): Promise<string> => {
      const { stdout } = await execFileAsync(
        'restic',
        [
          `--repo=${dir}`,
          `--password-file=${passwordFile}`,
          '--no-cache',
          'backup',
          '--json',
          '--host=shop',
          `--tag=${tagList.join(',')}`,
          `--time=${time.toISOString().slice(0, 19).replace('T', ' ')}`,
          src,
        ],
        { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } },
      );
      const short = JSON.parse(stdout.trim().split('\n').pop() ?? '{}').snapshot_id as string;
      return readdirSync(join(dir, 'snapshots')).find((n) => n.startsWith(short))!;
    };
    const queue = [...times];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let t = queue.shift(); t; t = queue.shift()) made.set(await rawBackup(tags, t), t);
      }),
    );
    // Another environment's snapshot must not be touched by this policy.
    const other = { snapshotId: await rawBackup(['site:shop', 'env:staging'], at(0, 1)) };

    const res = await restic.forget({ keepDaily: 7 }, { tags, groupBy: 'host,tags' });
    // Expected independently of restic: per UTC day the latest snapshot, for the 7 newest days.
    const lastOfDay = new Map<string, [string, number]>();
    for (const [id, t] of made) {
      const day = t.toISOString().slice(0, 10);
      const cur = lastOfDay.get(day);
      if (!cur || cur[1] < t.getTime()) lastOfDay.set(day, [id, t.getTime()]);
    }
    const expected = [...lastOfDay.entries()]
      .sort((x, y) => (x[0] < y[0] ? 1 : -1))
      .slice(0, 7)
      .map(([, [id]]) => id)
      .sort();
    assert.equal(expected.length, 7);
    assert.deepEqual(res.kept.map((s) => s.id).sort(), expected);
    assert.equal(res.removed.length, times.length - 7);
    const left = await restic.snapshots();
    assert.deepEqual(left.map((s) => s.id).sort(), [...expected, other.snapshotId].sort());
    // spot check: day 19's survivor is the 15:00 manual one, day 16's the 03:00 scheduled one
    assert.ok(left.some((x) => x.time === '2026-05-20T15:00:00Z'));
    assert.ok(left.some((x) => x.time === '2026-05-17T03:00:00Z'));
    assert.ok(!left.some((x) => x.time === '2026-05-20T03:00:00Z'));
    await restic.check();
    await rejectsWith(restic.forget({}, { tags }), 'TRIPLANE_ERR_VALIDATION');
  });

  it('a damaged pack file fails check with REPO_CORRUPT (altered: read-data; deleted: at once)', async () => {
    const { dir, restic } = await freshRepo();
    await restic.backupStdin(Readable.from([randomBytes(200_000)]), { filename: 'db.sql', tags: ['t'], host: 'h' });
    await restic.check({ readDataSubset: '100%' });
    const packs = readdirSync(join(dir, 'data'), { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile())
      .map((d) => join(d.parentPath, d.name))
      .sort((a, b) => statSync(b).size - statSync(a).size);
    const big = packs[0]!;
    chmodSync(big, 0o600);
    const bytes = readFileSync(big);
    bytes.writeUInt32LE((bytes.readUInt32LE(1000) ^ 0xffffffff) >>> 0, 1000);
    writeFileSync(big, bytes);
    const e = await rejectsWith(restic.check({ readDataSubset: '100%' }), 'TRIPLANE_ERR_BACKUP_REPO_CORRUPT');
    assert.match(String((e.details as { stderrTail: string }).stderrTail), /Pack ID does not match|ciphertext/);

    rmSync(big);
    const t0 = Date.now();
    await rejectsWith(restic.check(), 'TRIPLANE_ERR_BACKUP_REPO_CORRUPT');
    // restic alone would retry the missing pack for ~15 minutes.
    assert.ok(Date.now() - t0 < 15_000, `took ${Date.now() - t0} ms`);
    assert.deepEqual(resticPids(dir), []);
  });

  it('maps a missing snapshot, a missing path and bad ids to stable codes', async () => {
    const { restic } = await freshRepo();
    const snap = await restic.backupStdin(Readable.from([Buffer.from('hello')]), { filename: 'db.sql', tags: ['t'], host: 'h' });
    await rejectsWith(restic.restore('deadbeef', join(root, 'nowhere')), 'TRIPLANE_ERR_BACKUP_SNAPSHOT_NOT_FOUND');
    await rejectsWith(readAll(restic.dumpFile('deadbeef', '/db.sql')), 'TRIPLANE_ERR_BACKUP_SNAPSHOT_NOT_FOUND');
    await rejectsWith(readAll(restic.dumpFile(snap.snapshotId, '/other.sql')), 'TRIPLANE_ERR_BACKUP_PATH_NOT_FOUND');
    assert.throws(() => restic.dumpFile('--repo=/etc', '/x'), { code: 'TRIPLANE_ERR_VALIDATION' });
    await rejectsWith(
      restic.backupStdin(Readable.from(['x']), { filename: 'a', tags: ['a,b'], host: 'h' }),
      'TRIPLANE_ERR_VALIDATION',
    );
    await rejectsWith(restic.check({ readDataSubset: '; rm -rf /' }), 'TRIPLANE_ERR_VALIDATION');
  });

  it('a full disk fails with NO_SPACE and leaves the existing snapshots intact', {
    skip: isRoot ? false : 'needs root to mount a tmpfs',
  }, async () => {
    const mnt = join(root, 'small');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
    try {
      const { dir, restic } = await freshRepo(join(mnt, 'repo'));
      const first = await restic.backupStdin(Readable.from([Buffer.from('precious')]), {
        filename: 'db.sql',
        tags: ['t'],
        host: 'h',
      });
      await rejectsWith(
        restic.backupStdin(Readable.from([randomBytes(10 * 1024 * 1024)]), { filename: 'big.sql', tags: ['t'], host: 'h' }),
        'TRIPLANE_ERR_BACKUP_NO_SPACE',
      );
      assert.deepEqual(
        (await restic.snapshots()).map((s) => s.id),
        [first.snapshotId],
      );
      await restic.check({ readDataSubset: '100%' });
      assert.equal((await readAll(restic.dumpFile(first.snapshotId, '/db.sql'))).toString(), 'precious');
      assert.deepEqual(locks(dir), []);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

  it('cancelling stops restic promptly, leaves no snapshot, no process and no lock', async () => {
    const { dir, restic } = await freshRepo();
    const endless = new Readable({
      read() {
        setTimeout(() => this.push(randomBytes(64 * 1024)), 5);
      },
    });
    const ac = new AbortController();
    let sawProgress = false;
    const run = restic.backupStdin(endless, {
      filename: 'db.sql',
      tags: ['t'],
      host: 'h',
      signal: ac.signal,
      onProgress: () => {
        sawProgress = true;
      },
    });
    const t0 = Date.now();
    while (!sawProgress && Date.now() - t0 < 20_000) await sleep(50);
    assert.ok(sawProgress, 'restic was running');
    const tAbort = Date.now();
    ac.abort();
    await rejectsWith(run, 'TRIPLANE_ERR_BACKUP_CANCELLED');
    assert.ok(Date.now() - tAbort < 5000, `cancel took ${Date.now() - tAbort} ms`);
    assert.equal(endless.destroyed, true);
    assert.deepEqual(resticPids(dir), []);
    assert.deepEqual(locks(dir), []);
    assert.deepEqual(await restic.snapshots(), []);
    // An already-aborted signal never starts restic.
    await rejectsWith(restic.snapshots({ signal: AbortSignal.abort() }), 'TRIPLANE_ERR_BACKUP_CANCELLED');
  });

  it('runs restic itself in the low-priority lane (nice 19, idle IO, GOMAXPROCS=1, cgroup when root)', async () => {
    const { dir } = await freshRepo();
    const restic = newRestic(dir, { lane: { cgroup: { name: LANE } } }); // the production lane settings
    const ac = new AbortController();
    const run = restic.backupStdin(
      new Readable({
        read() {
          setTimeout(() => this.push(randomBytes(16 * 1024)), 20);
        },
      }),
      { filename: 'db.sql', tags: ['t'], host: 'h', signal: ac.signal },
    );
    try {
      let pid: number | undefined;
      const t0 = Date.now();
      while (Date.now() - t0 < 30_000) {
        pid = resticPids(dir).find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'restic');
        if (pid) break;
        await sleep(20);
      }
      assert.ok(pid, 'restic started');
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      assert.equal(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]), 19, 'nice');
      assert.match(execFileSync('ionice', ['-p', String(pid)], { encoding: 'utf8' }), /^idle/);
      assert.ok(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes('GOMAXPROCS=1'));
      if (isRoot && existsSync('/sys/fs/cgroup/cpu/cpu.shares')) {
        assert.match(readFileSync(`/proc/${pid}/cgroup`, 'utf8'), new RegExp(`:cpu:/${LANE}/job-`));
      }
    } finally {
      ac.abort();
      await rejectsWith(run, 'TRIPLANE_ERR_BACKUP_CANCELLED');
    }
  });

  it('a live lock is respected; a stale lock of a killed restic does not wedge the next run', async () => {
    const { dir, restic } = await freshRepo();
    // A raw restic holding its lock (stdin never ends), killed with SIGKILL: its lock stays behind.
    const victim = spawnLowPriority(
      'restic',
      [`--repo=${dir}`, `--password-file=${passwordFile}`, '--no-cache', 'backup', '--stdin'],
      {
        cgroup: false,
        stdio: ['pipe', 'ignore', 'ignore'],
      },
    );
    const t0 = Date.now();
    while (locks(dir).length === 0 && Date.now() - t0 < 20_000) await sleep(20);
    assert.equal(locks(dir).length, 1);
    // While its owner lives, the lock is respected: `unlock` leaves it, the caller gets REPO_LOCKED.
    await rejectsWith(restic.check(), 'TRIPLANE_ERR_BACKUP_REPO_LOCKED');
    assert.equal(locks(dir).length, 1);
    victim.killTree('SIGKILL');
    await new Promise((resolve) => victim.once('close', resolve));
    assert.equal(locks(dir).length, 1, 'the killed restic left its lock');

    await restic.check(); // exclusive: needs the stale lock gone
    await restic.backupStdin(Readable.from(['after']), { filename: 'db.sql', tags: ['t'], host: 'h' });
    assert.equal((await restic.forget({ keepLast: 1 }, { tags: ['t'], prune: false })).kept.length, 1);
    await restic.prune();
    assert.deepEqual(locks(dir), []);
  });

  it('never puts secrets into errors', () => {
    const e = classifyResticFailure({
      op: 'snapshots',
      stderr: 'Fatal: unable to open repo at rest:https://backup:hunter2hunter2@10.0.0.1/x: secret AKIASECRETKEY9 denied',
      exitCode: 1,
      signal: null,
      secrets: ['AKIASECRETKEY9'],
    });
    assert.equal(e.code, 'TRIPLANE_ERR_BACKUP_FAILED');
    const text = JSON.stringify(e.toJSON());
    assert.doesNotMatch(text, /hunter2|AKIASECRETKEY9/);
    assert.match(text, /backup:\*\*\*@/);
    assert.equal(redact('s3 key abcd1234 and abcd1234x', ['abcd1234', 'abcd1234x']), 's3 key *** and ***');
  });
});
