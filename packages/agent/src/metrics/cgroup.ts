import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * CPU and memory of one container, read from its cgroup files — no `podman stats`.
 *
 * Why: measured on this host (runc, cgroupfs manager, cgroup v1 hybrid), `podman stats --no-stream
 * --format json` costs ~0.7 s wall, ~0.16 s CPU and a 35 MB process per call, i.e. ~1.6 % of a core
 * at one call every 10 s; reading the three cgroup files of a container costs well under 1 ms.
 *
 * Where: a container's cgroup is named in /proc/<pid>/cgroup of its PID 1 (whatever the cgroup
 * manager: cgroupfs puts it at /libpod_parent/<pod id>/libpod-<container id>). Both layouts:
 *   v1 (hybrid here)  cpuacct/<path>/cpuacct.usage (ns), memory/<path>/memory.usage_in_bytes and memory.stat
 *   v2 (unified)      <path>/cpu.stat `usage_usec`, <path>/memory.current and memory.stat
 * Memory is the working set, as the kubelet and `docker stats` count it: usage minus inactive file
 * pages (page cache the kernel can drop at once), so a container that read big files doesn't look full.
 */
export interface CgroupLocation {
  /** v1: cgroup path per controller (`cpuacct`, `memory`); v2: the unified path. */
  cpuacct?: string;
  memory?: string;
  unified?: string;
}

export interface Usage {
  /** Cumulative CPU time, ns. */
  cpuNs: number;
  /** Working set, bytes. */
  memBytes: number;
}

/** Parses /proc/<pid>/cgroup (`hierarchy-id:controllers:path` lines). */
export function parseProcCgroup(text: string): CgroupLocation {
  const out: CgroupLocation = {};
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.+)$/.exec(line.trim());
    if (!m) continue;
    const [, , controllers, path] = m as unknown as [string, string, string, string];
    if (controllers === '') out.unified = path;
    for (const c of controllers.split(',')) {
      if (c === 'cpuacct') out.cpuacct = path;
      if (c === 'memory') out.memory = path;
    }
  }
  return out;
}

export async function locateCgroup(pid: number, procRoot = '/proc'): Promise<CgroupLocation | undefined> {
  try {
    return parseProcCgroup(await readFile(join(procRoot, String(pid), 'cgroup'), 'utf8'));
  } catch {
    return undefined; // the process is gone
  }
}

function statValue(stat: string, key: string): number | undefined {
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(stat);
  return m ? Number(m[1]) : undefined;
}

const num = (s: string) => {
  const n = Number(s.trim());
  if (!Number.isFinite(n)) throw new Error(`not a number: ${s.slice(0, 40)}`);
  return n;
};

/** Current usage, or undefined when the cgroup is gone (container stopped or recreated). */
export async function readUsage(loc: CgroupLocation, cgroupRoot = '/sys/fs/cgroup'): Promise<Usage | undefined> {
  try {
    if (loc.cpuacct && loc.memory) {
      const mem = join(cgroupRoot, 'memory', loc.memory);
      const [cpu, usage, stat] = await Promise.all([
        readFile(join(cgroupRoot, 'cpuacct', loc.cpuacct, 'cpuacct.usage'), 'utf8'),
        readFile(join(mem, 'memory.usage_in_bytes'), 'utf8'),
        readFile(join(mem, 'memory.stat'), 'utf8'),
      ]);
      const inactive = statValue(stat, 'total_inactive_file') ?? 0;
      return { cpuNs: num(cpu), memBytes: Math.max(0, num(usage) - inactive) };
    }
    if (loc.unified !== undefined) {
      const dir = join(cgroupRoot, loc.unified);
      const [cpuStat, current, stat] = await Promise.all([
        readFile(join(dir, 'cpu.stat'), 'utf8'),
        readFile(join(dir, 'memory.current'), 'utf8'),
        readFile(join(dir, 'memory.stat'), 'utf8'),
      ]);
      const usec = statValue(cpuStat, 'usage_usec');
      if (usec === undefined) return undefined;
      return { cpuNs: usec * 1000, memBytes: Math.max(0, num(current) - (statValue(stat, 'inactive_file') ?? 0)) };
    }
    return undefined;
  } catch {
    return undefined;
  }
}
