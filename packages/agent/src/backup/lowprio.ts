/**
 * The low-priority lane: management work (backups, restores, clones) runs as separate
 * processes at `nice 19`, `ionice -c3` (idle IO class) and, where the host has them, inside
 * a cgroup with low CPU/IO weights and a per-job memory bound, so a backup during a sale
 * does not slow the storefront (issue 6). See README.md in this folder for the rationale.
 *
 * Example:
 *   const child = spawnLowPriority('restic', ['snapshots', '--json'], { env: { RESTIC_PASSWORD_FILE: f } });
 *   if (child.lane.degraded.length > 0) log.warn({ reasons: child.lane.degraded }, 'low-priority lane degraded');
 *   child.killTree('SIGKILL'); // the whole job: the process group and everything in its cgroup
 *
 * The child is started through a tiny `sh` wrapper that writes its own pid into the job's
 * cgroup(s) and then `exec`s `nice … ionice … cmd`, so every process of the job is in the
 * cgroup from its first instruction (moving the pid after spawn would race with children).
 */
import { type ChildProcess, type StdioOptions, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface LaneCgroupOptions {
  /** Lane directory name under each controller (default `triplane-low`). Tests use their own. */
  name?: string;
  /** cgroup v1 `cpu.shares` of the lane (default 2; the kernel minimum, 1024 is normal). */
  cpuShares?: number;
  /** cgroup v2 `cpu.weight` of the lane (default 1; 100 is normal). */
  cpuWeight?: number;
  /**
   * `cpu.idle` on the lane (default true, kernel ≥ 5.15, v1 and v2): the whole lane is scheduled
   * like SCHED_IDLE against its siblings — any normal task preempts it at wakeup and it runs only
   * on otherwise idle CPU. Weights alone are not enough: they cap a group's share, but a woken
   * low-weight task still gets its slice before the storefront's next request (measured:
   * cached-page p99 2.63× during a backup with `cpu.shares=2`). When set, the weight above is
   * not written (the kernel refuses weights on an idle group).
   */
  cpuIdle?: boolean;
  /** `blkio.weight` / `blkio.bfq.weight` (v1) or `io.weight` (v2) of the lane, if the host has it (default 10). */
  ioWeight?: number;
  /** Memory bound of each job (its own leaf cgroup), default 1 GiB. */
  memoryLimitBytes?: number;
  /**
   * Block-IO ceilings of each job, bytes/s, on every disk of the host (`blkio.throttle.*_bps_device`
   * on the job's v1 leaf — v1 throttles are not hierarchical, so never on the lane — or `io.max`
   * on v2). Unlike the weights above they work under any IO scheduler (this host's virtio disk
   * runs mq-deadline, where `ionice -c3` and blkio weights do nothing) and bound the page-cache
   * misses a backup makes, which are reads the kernel does on the job's behalf. v1 cannot
   * throttle buffered writes (the kernel's writeback runs as root); restic's `--limit-upload`
   * bounds those.
   */
  ioLimit?: { readBps?: number; writeBps?: number };
}

export interface LowPriorityOptions {
  cwd?: string;
  /** Merged over `process.env`; `undefined` removes a variable. */
  env?: Record<string, string | undefined>;
  /** Default `'pipe'` for all three. */
  stdio?: StdioOptions;
  /** Default 19. */
  nice?: number;
  /** Idle IO class via `ionice -c3` (default true). */
  ionice?: boolean;
  /** `false` disables the cgroup lane; default `{}` (defaults above). */
  cgroup?: false | LaneCgroupOptions;
  /** GOMAXPROCS for Go programs such as restic (default 1; `null` leaves it unset). */
  goMaxProcs?: number | null;
  /** GOGC for Go programs (default 50: a smaller heap for a little more GC CPU; `null` leaves it unset). */
  goGC?: number | null;
}

export interface LaneInfo {
  nice: number;
  ioClass: 'idle' | null;
  /** The job's own leaf cgroup directories (one per v1 controller, one for v2), or null. */
  cgroup: { version: 1 | 2; leaves: string[] } | null;
  /** Why the lane is weaker than asked (not root, no cgroup controller, no ionice…); log these. */
  degraded: string[];
  /** Set when the job's memory bound killed a process (read just before the leaf is removed). */
  oomKilled: boolean;
}

export type LowPriorityChild = ChildProcess & {
  readonly lane: LaneInfo;
  /** Signals the whole job: its process group and every process left in its cgroup. */
  killTree(signal?: NodeJS.Signals): void;
};

export const DEFAULT_LANE_NAME = 'triplane-low';
const DEFAULT_MEMORY_LIMIT = 1024 * 1024 * 1024;

// $1 = number of cgroup.procs files that follow, then the command. `echo $$` writes the
// shell's own pid, which `exec` keeps for nice, ionice and the command itself.
const WRAPPER =
  'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || { echo "triplane-lowprio: cannot join cgroup $1" >&2; exit 125; }; shift; n=$((n-1)); done; exec "$@"';

/** Starts `cmd args` in the low-priority lane. Never throws for a missing lane: see `child.lane.degraded`. */
export function spawnLowPriority(cmd: string, args: readonly string[], opts: LowPriorityOptions = {}): LowPriorityChild {
  const nice = opts.nice ?? 19;
  const degraded: string[] = [];
  const tools = findTools();
  const prefix: string[] = [tools.nice ?? 'nice', '-n', String(nice)];
  let ioClass: LaneInfo['ioClass'] = null;
  if (opts.ionice !== false) {
    if (tools.ionice && ioniceWorks(tools.ionice)) {
      prefix.push(tools.ionice, '-c', '3');
      ioClass = 'idle';
    } else {
      degraded.push(tools.ionice ? 'ionice -c3 is refused on this host' : 'ionice not found (util-linux)');
    }
  }

  let job: JobCgroup | null = null;
  if (opts.cgroup !== false) {
    const made = createJobCgroup(opts.cgroup ?? {});
    if ('reason' in made) degraded.push(made.reason);
    else {
      job = made;
      degraded.push(...made.notes);
    }
  }

  const env: Record<string, string | undefined> = { ...process.env };
  if (opts.goMaxProcs !== null) env.GOMAXPROCS = String(opts.goMaxProcs ?? 1);
  if (opts.goGC !== null) env.GOGC = String(opts.goGC ?? 50);
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }

  const procsFiles = job?.leaves.map((d) => join(d, 'cgroup.procs')) ?? [];
  const child = spawn(
    '/bin/sh',
    ['-c', WRAPPER, 'triplane-lowprio', String(procsFiles.length), ...procsFiles, ...prefix, cmd, ...args],
    {
      cwd: opts.cwd,
      env,
      stdio: opts.stdio ?? 'pipe',
      // Own process group: killTree reaches helpers (e.g. ssh for sftp) even without cgroups.
      detached: true,
    },
  );

  const lane: LaneInfo = {
    nice,
    ioClass,
    cgroup: job ? { version: job.version, leaves: job.leaves } : null,
    degraded,
    oomKilled: false,
  };
  const killTree = (signal: NodeJS.Signals = 'SIGKILL'): void => {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, signal);
      } catch {
        // group already gone
      }
    }
    if (job) signalCgroup(job, signal);
  };
  // Registered before the caller can subscribe, so `lane.oomKilled` is final when their 'exit'/'close' handlers run.
  child.once('exit', () => {
    if (!job) return;
    lane.oomKilled = readOomKilled(job);
    removeJobCgroup(job);
  });
  child.once('error', () => {
    if (job) removeJobCgroup(job);
  });
  return Object.assign(child, { lane, killTree });
}

// ---------------------------------------------------------------------------------------------
// tools

let toolsCache: { nice: string | null; ionice: string | null } | null = null;
let ioniceOk: boolean | null = null;

function findTools(): { nice: string | null; ionice: string | null } {
  if (toolsCache) return toolsCache;
  const dirs = (process.env.PATH ?? '/usr/bin:/bin').split(delimiter).concat(['/usr/bin', '/bin', '/usr/sbin', '/sbin']);
  const find = (name: string): string | null => {
    for (const d of dirs) {
      const p = join(d, name);
      try {
        if (statSync(p).isFile()) return p;
      } catch {
        // not here
      }
    }
    return null;
  };
  toolsCache = { nice: find('nice'), ionice: find('ionice') };
  return toolsCache;
}

// Some sandboxes refuse ioprio_set; then ionice would fail the job instead of just not lowering IO.
function ioniceWorks(ionice: string): boolean {
  if (ioniceOk === null) ioniceOk = spawnSync(ionice, ['-c', '3', 'true'], { stdio: 'ignore' }).status === 0;
  return ioniceOk;
}

// ---------------------------------------------------------------------------------------------
// cgroups

interface JobCgroup {
  version: 1 | 2;
  leaves: string[];
  /** v1: the memory leaf, v2: the only leaf. */
  memoryLeaf: string | null;
  /** Parts of the lane the host lacks (e.g. no IO weight without CFQ/BFQ). */
  notes: string[];
}

interface Mounts {
  /** v1 controller → { mount point, mount root } */
  v1: Map<string, { mountPoint: string; root: string }>;
  v2: { mountPoint: string; root: string } | null;
}

let seq = 0;
// pid alone is not unique across restarts (an agent that is pid 1 in its container always has it).
const INSTANCE = Date.now().toString(36);

function readMounts(): Mounts {
  const v1 = new Map<string, { mountPoint: string; root: string }>();
  let v2: Mounts['v2'] = null;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    // id parent maj:min root mountpoint opts [optional…] - fstype source superopts
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const root = unescapeMount(left[3] ?? '/');
    const mountPoint = unescapeMount(left[4] ?? '');
    if (right[0] === 'cgroup2') v2 ??= { mountPoint, root };
    else if (right[0] === 'cgroup') {
      for (const opt of (right[2] ?? '').split(',')) {
        if ((opt === 'cpu' || opt === 'blkio' || opt === 'memory') && !v1.has(opt)) v1.set(opt, { mountPoint, root });
      }
    }
  }
  return { v1, v2 };
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
}

/** This process's cgroup path per v1 controller, and the v2 path under key ''. */
function readSelfCgroups(): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const ctrls = m[1] ?? '';
    const path = m[2] ?? '/';
    if (ctrls === '') out.set('', path);
    for (const c of ctrls.split(',')) if (c) out.set(c, path);
  }
  return out;
}

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function notRootHint(): string {
  return process.getuid?.() === 0 ? '' : ' (not running as root)';
}

function writeIfExists(file: string, value: string): boolean {
  if (!existsSync(file)) return false;
  writeFileSync(file, value);
  return true;
}

// A disk the kernel refuses to throttle is noted; the job still runs.
function throttle(file: string, value: string, missing: string[]): void {
  try {
    if (!writeIfExists(file, value)) missing.push(`IO throttle (${file.split('/').pop()} missing)`);
  } catch (e) {
    missing.push(`IO throttle on ${value.split(' ')[0]} (${errMsg(e)})`);
  }
}

/**
 * Sets the lane's `cpu.idle` to `want`; true when the lane is now idle (its weight must then not be
 * written). A kernel without `cpu.idle` (< 5.15) is noted, and the lane falls back to weights.
 */
function setCpuIdle(lane: string, want: boolean, missing: string[]): boolean {
  const file = join(lane, 'cpu.idle');
  if (!existsSync(file)) {
    if (want) missing.push('cpu.idle (kernel < 5.15: weights only)');
    return false;
  }
  writeFileSync(file, want ? '1' : '0');
  return want;
}

/**
 * A cgroup v1 cpu group beside the lane (`<cpu mount>/<name>`, `cpu.idle=1`, else the minimum
 * weight) for single threads of other processes lent to the lane (db-thread.ts). Not a job leaf:
 * those are signalled as a whole, and v1 lists a process in `cgroup.procs` as soon as any one of
 * its threads is in the group. Null where threads can't be placed one by one (v2, no cpu
 * controller, not root).
 */
export function threadLaneGroup(name: string): { path: string; cpuMount: string } | null {
  const m = readMounts().v1.get('cpu');
  if (!m) return null;
  const path = join(m.mountPoint, name);
  try {
    mkdirSync(path, { recursive: true });
    if (!setCpuIdle(path, true, [])) writeFileSync(join(path, 'cpu.shares'), '2');
  } catch {
    return null;
  }
  return { path, cpuMount: m.mountPoint };
}

function createJobCgroup(o: LaneCgroupOptions): JobCgroup | { reason: string } {
  const name = o.name ?? DEFAULT_LANE_NAME;
  if (!/^[A-Za-z0-9._-]+$/.test(name)) return { reason: `invalid cgroup lane name ${JSON.stringify(name)}` };
  let mounts: Mounts;
  let self: Map<string, string>;
  try {
    mounts = readMounts();
    self = readSelfCgroups();
  } catch (e) {
    return { reason: `cgroups unreadable: ${errMsg(e)}` };
  }
  const leafName = `job-${process.pid}-${INSTANCE}-${++seq}`;
  const memoryLimit = String(Math.floor(o.memoryLimitBytes ?? DEFAULT_MEMORY_LIMIT));
  // Hybrid hosts bind cpu/blkio/memory to v1 hierarchies; use v2 only when those are not there.
  if (mounts.v1.size > 0) return createV1(mounts, self, name, leafName, o, memoryLimit);
  if (mounts.v2) return createV2(mounts.v2.mountPoint, name, leafName, o, memoryLimit);
  return { reason: 'no cgroup controllers mounted' };
}

function createV1(
  mounts: Mounts,
  self: Map<string, string>,
  name: string,
  leafName: string,
  o: LaneCgroupOptions,
  memoryLimit: string,
): JobCgroup | { reason: string } {
  const leaves: string[] = [];
  let memoryLeaf: string | null = null;
  const missing: string[] = [];
  try {
    for (const ctrl of ['cpu', 'blkio', 'memory'] as const) {
      const m = mounts.v1.get(ctrl);
      if (!m) {
        missing.push(ctrl);
        continue;
      }
      // Weights are relative to siblings, so the cpu/blkio lane sits at the top of the hierarchy
      // beside the site pods' groups. The memory bound nests under our own memory cgroup so a
      // job can never escape a limit the operator put on the agent.
      let parent = m.mountPoint;
      if (ctrl === 'memory') {
        const mine = self.get('memory') ?? '/';
        const rel = m.root === '/' ? mine : mine.startsWith(m.root) ? mine.slice(m.root.length) : '/';
        parent = join(m.mountPoint, rel);
      }
      const lane = join(parent, name);
      mkdirSync(lane, { recursive: true });
      if (ctrl === 'cpu' && !setCpuIdle(lane, o.cpuIdle ?? true, missing)) {
        writeFileSync(join(lane, 'cpu.shares'), String(o.cpuShares ?? 2));
      }
      if (ctrl === 'blkio') {
        const w = String(Math.max(10, o.ioWeight ?? 10));
        if (!writeIfExists(join(lane, 'blkio.weight'), w) && !writeIfExists(join(lane, 'blkio.bfq.weight'), w)) {
          missing.push('blkio weight (no CFQ/BFQ scheduler)');
        }
      }
      sweepStaleLeaves(lane);
      const leaf = join(lane, leafName);
      mkdirSync(leaf);
      leaves.push(leaf);
      if (ctrl === 'memory') {
        writeFileSync(join(leaf, 'memory.limit_in_bytes'), memoryLimit);
        memoryLeaf = leaf;
      }
      if (ctrl === 'blkio' && o.ioLimit) {
        for (const dev of blockDisks()) {
          if (o.ioLimit.readBps) throttle(join(leaf, 'blkio.throttle.read_bps_device'), `${dev} ${o.ioLimit.readBps}`, missing);
          if (o.ioLimit.writeBps)
            throttle(join(leaf, 'blkio.throttle.write_bps_device'), `${dev} ${o.ioLimit.writeBps}`, missing);
        }
      }
    }
  } catch (e) {
    removeJobCgroup({ version: 1, leaves, memoryLeaf, notes: [] });
    return { reason: `cgroup lane unavailable${notRootHint()}: ${errMsg(e)}` };
  }
  if (leaves.length === 0) return { reason: 'no cpu/blkio/memory cgroup controller' };
  return { version: 1, leaves, memoryLeaf, notes: missing.map((m) => `cgroup v1 lane without ${m}`) };
}

function createV2(
  mountPoint: string,
  name: string,
  leafName: string,
  o: LaneCgroupOptions,
  memoryLimit: string,
): JobCgroup | { reason: string } {
  let leaf: string | null = null;
  try {
    const available = readFileSync(join(mountPoint, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
    const wanted = ['cpu', 'io', 'memory'].filter((c) => available.includes(c));
    if (wanted.length === 0) return { reason: 'cgroup v2 without cpu/io/memory controllers' };
    const enable = (dir: string): void => {
      for (const c of wanted) {
        try {
          writeFileSync(join(dir, 'cgroup.subtree_control'), `+${c}`);
        } catch {
          // already enabled, or refused (no-internal-processes rule); the weight write below will tell
        }
      }
    };
    enable(mountPoint);
    const lane = join(mountPoint, name);
    mkdirSync(lane, { recursive: true });
    const idleMissing: string[] = [];
    if (!setCpuIdle(lane, o.cpuIdle ?? true, idleMissing)) writeIfExists(join(lane, 'cpu.weight'), String(o.cpuWeight ?? 1));
    writeIfExists(join(lane, 'io.weight'), `default ${o.ioWeight ?? 10}`);
    enable(lane);
    sweepStaleLeaves(lane);
    leaf = join(lane, leafName);
    mkdirSync(leaf);
    writeIfExists(join(leaf, 'memory.max'), memoryLimit);
    if (o.ioLimit && (o.ioLimit.readBps || o.ioLimit.writeBps)) {
      const lim = `${o.ioLimit.readBps ? ` rbps=${o.ioLimit.readBps}` : ''}${o.ioLimit.writeBps ? ` wbps=${o.ioLimit.writeBps}` : ''}`;
      for (const dev of blockDisks()) throttle(join(leaf, 'io.max'), `${dev}${lim}`, idleMissing);
    }
    const notes = ['cpu', 'io', 'memory', ...idleMissing]
      .filter((c) => !wanted.includes(c))
      .map((c) => `cgroup v2 lane without ${c}`);
    return { version: 2, leaves: [leaf], memoryLeaf: leaf, notes };
  } catch (e) {
    if (leaf) removeJobCgroup({ version: 2, leaves: [leaf], memoryLeaf: leaf, notes: [] });
    return { reason: `cgroup lane unavailable${notRootHint()}: ${errMsg(e)}` };
  }
}

/**
 * `MAJ:MIN` of the host's disks (what throttles accept; partitions are refused), without the
 * virtual ones that carry no site data: loop, ram, zram, device-mapper stacks are throttled
 * through their disks anyway.
 */
export function blockDisks(sysBlock = '/sys/block'): string[] {
  let names: string[];
  try {
    names = readdirSync(sysBlock);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names) {
    if (/^(loop|ram|zram|dm-|sr|nbd)/.test(n)) continue;
    try {
      const dev = readFileSync(join(sysBlock, n, 'dev'), 'utf8').trim();
      if (/^\d+:\d+$/.test(dev)) out.push(dev);
    } catch {
      // vanished
    }
  }
  return out;
}

// Leaves of an agent that died (its pid is gone) and are empty can go; rmdir refuses busy ones.
function sweepStaleLeaves(lane: string): void {
  let names: string[];
  try {
    names = readdirSync(lane);
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^job-(\d+)-([0-9a-z]+)-\d+$/.exec(n);
    if (!m) continue;
    const owner = Number(m[1]);
    if (owner === process.pid ? m[2] === INSTANCE : pidAlive(owner)) continue;
    try {
      rmdirSync(join(lane, n));
    } catch {
      // still has processes
    }
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function cgroupPids(job: JobCgroup): number[] {
  const pids = new Set<number>();
  for (const leaf of job.leaves) {
    try {
      for (const s of readFileSync(join(leaf, 'cgroup.procs'), 'utf8').split('\n')) {
        const n = Number(s);
        if (s !== '' && Number.isInteger(n) && n > 0) pids.add(n);
      }
    } catch {
      // leaf gone
    }
  }
  return [...pids];
}

function signalCgroup(job: JobCgroup, signal: NodeJS.Signals): void {
  if (job.version === 2 && signal === 'SIGKILL') {
    try {
      if (writeIfExists(join(job.leaves[0] ?? '', 'cgroup.kill'), '1')) return;
    } catch {
      // fall back to signalling each pid
    }
  }
  for (const pid of cgroupPids(job)) {
    try {
      process.kill(pid, signal);
    } catch {
      // exited meanwhile
    }
  }
}

function readOomKilled(job: JobCgroup): boolean {
  if (!job.memoryLeaf) return false;
  try {
    const file = job.version === 1 ? 'memory.oom_control' : 'memory.events';
    const m = /^oom_kill (\d+)$/m.exec(readFileSync(join(job.memoryLeaf, file), 'utf8'));
    return m !== null && Number(m[1]) > 0;
  } catch {
    return false;
  }
}

// The job is over: anything it left behind (helpers, daemons) goes with it, then the leaf.
function removeJobCgroup(job: JobCgroup, attempt = 0): void {
  if (attempt === 0) signalCgroup(job, 'SIGKILL');
  const busy: string[] = [];
  for (const leaf of job.leaves) {
    try {
      rmdirSync(leaf);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EBUSY') busy.push(leaf);
    }
  }
  // Killed processes leave the cgroup a moment after the signal.
  if (busy.length > 0 && attempt < 40) {
    setTimeout(() => removeJobCgroup({ ...job, leaves: busy }, attempt + 1), 50).unref();
  }
}
