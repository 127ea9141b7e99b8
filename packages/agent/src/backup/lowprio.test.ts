import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { blockDisks, type LowPriorityChild, spawnLowPriority } from './lowprio.ts';

const isRoot = process.getuid?.() === 0;
const hasV1Cpu = existsSync('/sys/fs/cgroup/cpu/cpu.shares');
// A lane of our own, so the tests never disturb a real agent's `triplane-low`.
const LANE = `triplane-low-test-${process.pid}`;

async function until(what: string, fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Field 19 of /proc/<pid>/stat (after the parenthesised comm). */
function niceOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

/** Running, i.e. neither gone nor a zombie waiting for init to reap it. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function exited(child: LowPriorityChild): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

describe('low-priority lane', () => {
  it('runs the command at nice 19, idle IO class, with GOMAXPROCS=1 and GOGC set', async () => {
    const child = spawnLowPriority('sleep', ['30'], { cgroup: false });
    try {
      const pid = child.pid!;
      // sh → nice → ionice → sleep keep one pid; wait for the last exec.
      await until('exec of sleep', () => comm(pid) === 'sleep');
      assert.equal(niceOf(pid), 19);
      assert.match(execFileSync('ionice', ['-p', String(pid)], { encoding: 'utf8' }), /^idle/);
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      assert.ok(env.includes('GOMAXPROCS=1'), 'GOMAXPROCS=1');
      assert.ok(env.includes('GOGC=50'), 'GOGC=50');
      assert.equal(child.lane.nice, 19);
      assert.equal(child.lane.ioClass, 'idle');
      assert.equal(child.lane.cgroup, null);
    } finally {
      child.killTree('SIGKILL');
      await exited(child);
    }
  });

  it('passes stdio and the exit code through, and honours env overrides', async () => {
    const child = spawnLowPriority('sh', ['-c', 'cat; echo "$GOMAXPROCS $FOO" >&2; exit 7'], {
      cgroup: false,
      goMaxProcs: 2,
      env: { FOO: 'bar' },
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (b) => {
      out += b;
    });
    child.stderr!.on('data', (b) => {
      err += b;
    });
    child.stdin!.end('hello');
    const r = await exited(child);
    await until('stdio drained', () => out.length > 0 && err.length > 0, 2000);
    assert.equal(r.code, 7);
    assert.equal(out, 'hello');
    assert.equal(err.trim(), '2 bar');
  });

  it('puts the whole job in a cgroup with low weights and a memory bound, and removes it afterwards', {
    skip: !isRoot || !hasV1Cpu ? 'needs root and cgroup v1 cpu' : false,
  }, async () => {
    // A leaf left by an agent that died (its pid is gone) is swept by the next spawn.
    const deadPid = spawnSync('true').pid;
    const staleLeaf = `/sys/fs/cgroup/cpu/${LANE}/job-${deadPid}-old-1`;
    mkdirSync(staleLeaf, { recursive: true });
    const child = spawnLowPriority('sh', ['-c', 'sleep 30 & wait'], {
      cgroup: { name: LANE, memoryLimitBytes: 256 * 1024 * 1024 },
    });
    assert.equal(existsSync(staleLeaf), false, 'stale leaf swept');
    const pid = child.pid!;
    try {
      assert.deepEqual(
        child.lane.degraded.filter((d) => !d.includes('blkio weight')),
        [],
      );
      assert.ok(child.lane.cgroup, 'cgroup lane');
      const leaves = child.lane.cgroup.leaves;
      const cpuLeaf = leaves.find((l) => l.startsWith('/sys/fs/cgroup/cpu/'));
      const memLeaf = leaves.find((l) => l.includes('/memory/'));
      assert.ok(cpuLeaf && memLeaf);
      await until('sleep child started', () => readFileSync(`${cpuLeaf}/cgroup.procs`, 'utf8').trim().split('\n').length >= 2);
      // The wrapper joined before exec, so the process and its child are both inside.
      const procs = readFileSync(`${cpuLeaf}/cgroup.procs`, 'utf8').trim().split('\n').map(Number);
      assert.ok(procs.includes(pid), 'main pid in the cpu leaf');
      assert.ok(readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(`/${LANE}/job-`));
      if (existsSync(`/sys/fs/cgroup/cpu/${LANE}/cpu.idle`)) {
        // An idle lane: SCHED_IDLE against the storefront's groups (the kernel then reports weight 3).
        assert.equal(readFileSync(`/sys/fs/cgroup/cpu/${LANE}/cpu.idle`, 'utf8').trim(), '1');
      } else {
        assert.equal(readFileSync(`/sys/fs/cgroup/cpu/${LANE}/cpu.shares`, 'utf8').trim(), '2');
      }
      assert.equal(readFileSync(`${memLeaf}/memory.limit_in_bytes`, 'utf8').trim(), String(256 * 1024 * 1024));
      const grandchild = procs.find((p) => p !== pid)!;
      assert.equal(niceOf(grandchild), 19, 'children inherit nice');

      child.killTree('SIGKILL');
      await exited(child);
      // killTree reaches the background sleep too, and the leaves go away.
      await until('leaves removed', () => leaves.every((l) => !existsSync(l)));
      assert.ok(!alive(grandchild), 'the background sleep was killed');
    } finally {
      child.killTree('SIGKILL');
      await exited(child);
      await until('leaves removed', () => child.lane.cgroup?.leaves.every((l) => !existsSync(l)) ?? true).catch(() => undefined);
      for (const c of ['cpu', 'blkio']) execFileSync('rmdir', [`/sys/fs/cgroup/${c}/${LANE}`], { stdio: 'ignore' });
      const memLane = child.lane.cgroup?.leaves.find((l) => l.includes('/memory/'));
      if (memLane) execFileSync('rmdir', [memLane.slice(0, memLane.lastIndexOf('/'))], { stdio: 'ignore' });
    }
  });

  it('reports a job killed by its memory bound', {
    skip: !isRoot || !hasV1Cpu ? 'needs root and cgroup v1' : false,
  }, async () => {
    // mawk doubling a string to 256 MiB: anonymous memory only, so the bound kills it at once
    // (a program whose own code pages get evicted would thrash for seconds first).
    const child = spawnLowPriority('awk', ['BEGIN { s = "x"; for (i = 0; i < 28; i++) s = s s; print length(s) }'], {
      // Full CPU weight: this is about the memory bound, and a starved awk takes long to get there.
      nice: 0,
      cgroup: { name: LANE, memoryLimitBytes: 16 * 1024 * 1024, cpuShares: 1024, cpuIdle: false },
    });
    try {
      const r = await exited(child);
      assert.equal(r.signal, 'SIGKILL');
      assert.equal(child.lane.oomKilled, true);
    } finally {
      await until('leaves removed', () => child.lane.cgroup?.leaves.every((l) => !existsSync(l)) ?? true).catch(() => undefined);
      for (const c of ['cpu', 'blkio']) {
        try {
          execFileSync('rmdir', [`/sys/fs/cgroup/${c}/${LANE}`], { stdio: 'ignore' });
        } catch {
          // already gone
        }
      }
      const memLane = child.lane.cgroup?.leaves.find((l) => l.includes('/memory/'));
      if (memLane) execFileSync('rmdir', [memLane.slice(0, memLane.lastIndexOf('/'))], { stdio: 'ignore' });
    }
  });

  it("ioLimit throttles the job's disk reads on its own leaf", {
    skip:
      !isRoot || !existsSync('/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device')
        ? 'needs root and the cgroup v1 blkio controller'
        : blockDisks().length === 0
          ? 'no disk in /sys/block'
          : false,
  }, async () => {
    // 24 MiB read with O_DIRECT (so from the disk, not the page cache) at a ceiling of 8 MiB/s: ≥ 2 s.
    // The file must sit on a real disk: /tmp may be tmpfs.
    const dir = mkdtempSync(join('/var/tmp', 'triplane-throttle-'));
    const file = join(dir, 'data');
    writeFileSync(file, Buffer.alloc(24 * 1024 * 1024, 7));
    const onDisk = spawnSync('stat', ['-f', '-c', '%T', file], { encoding: 'utf8' }).stdout.trim();
    let child: LowPriorityChild | undefined;
    try {
      if (onDisk === 'tmpfs') return;
      child = spawnLowPriority('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M', 'iflag=direct'], {
        cgroup: { name: LANE, ioLimit: { readBps: 8 * 1024 * 1024 } },
      });
      const leaf = child.lane.cgroup?.leaves.find((l) => l.includes('/blkio/'));
      assert.ok(leaf, JSON.stringify(child.lane));
      const rules = readFileSync(join(leaf, 'blkio.throttle.read_bps_device'), 'utf8');
      for (const dev of blockDisks()) assert.match(rules, new RegExp(`^${dev} ${8 * 1024 * 1024}$`, 'm'));
      const t0 = Date.now();
      let err = '';
      child.stderr?.on('data', (d) => {
        err += d;
      });
      const r = await exited(child);
      assert.equal(r.code, 0, err);
      assert.ok(Date.now() - t0 >= 2000, `24 MiB read at 8 MiB/s took only ${Date.now() - t0} ms: ${err}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      const leaves = child?.lane.cgroup?.leaves ?? [];
      await until('leaves removed', () => leaves.every((l) => !existsSync(l))).catch(() => undefined);
      for (const lane of leaves.map((l) => l.slice(0, l.lastIndexOf('/')))) {
        try {
          execFileSync('rmdir', [lane], { stdio: 'ignore' });
        } catch {
          // already gone
        }
      }
    }
  });

  it('without root falls back to nice+ionice and says why', {
    skip: !isRoot ? 'needs root to switch to nobody' : false,
  }, async () => {
    // A child node process as `nobody` runs the same code: it may not write to /sys/fs/cgroup.
    const script = `
      import { spawnLowPriority } from ${JSON.stringify(new URL('./lowprio.ts', import.meta.url).pathname)};
      const c = spawnLowPriority('true', [], { cgroup: { name: 'triplane-low-test-nobody' } });
      c.on('exit', (code) => { console.log(JSON.stringify({ code, lane: c.lane })); });
    `;
    const out = execFileSync(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', script],
      {
        encoding: 'utf8',
        cwd: '/',
      },
    );
    const r = JSON.parse(out) as { code: number; lane: { cgroup: unknown; degraded: string[]; nice: number } };
    assert.equal(r.code, 0);
    assert.equal(r.lane.cgroup, null);
    assert.equal(r.lane.nice, 19);
    assert.ok(
      r.lane.degraded.some((d) => /not running as root/.test(d)),
      r.lane.degraded.join('; '),
    );
  });
});
