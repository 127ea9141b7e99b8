/**
 * Lends the MariaDB server thread that serves a backup's dump to the low-priority lane.
 *
 * mariadb-dump runs in the lane (executor.ts, execLow), but much of a dump's CPU is the server's:
 * the connection's thread in mariadbd reads the pages, builds the rows and writes them to the
 * socket — at the storefront's priority, in the db container's cgroup. cgroup v1 places threads,
 * not processes, so that one thread joins an idle-class group beside the lane for the dump's
 * duration (cpu controller only, plus nice 19) and is put back afterwards.
 *
 *   const lent = await lendDumpThread({ mariadbdPid, sql });   // after the dump's first bytes
 *   …
 *   lent?.restore();                                           // as soon as mariadb-dump exited
 *
 * Why it is safe enough, and what it costs:
 * - its own group (`triplane-low-db`), never a job leaf: job leaves are signalled as a whole
 *   (killTree), and v1 lists mariadbd in a group's `cgroup.procs` once one of its threads is in it;
 * - MariaDB keeps a finished connection's thread for the next one (`thread_cache_size`), so the
 *   thread goes back right after mariadb-dump exits (a reused thread can be idle-class for those
 *   few milliseconds), and `returnLentThreads()` puts back whatever a crash left behind: before
 *   every dump and when the agent starts;
 * - an idle-class thread that holds an InnoDB latch makes a storefront query that needs the same
 *   latch wait until it runs again. InnoDB releases page latches before a row goes to the client,
 *   and a query blocked on a latch leaves its CPU free for the holder, so such waits stay short.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { join } from 'node:path';
import { threadLaneGroup } from './lowprio.ts';

export const DB_THREAD_GROUP = 'triplane-low-db';

export interface LentThread {
  /** Host thread id. */
  tid: number;
  /** Puts the thread back into its cgroup and priority; never throws (a gone thread is fine). */
  restore(): void;
}

/** The thread's cgroup path for the cpu controller (relative to the controller's mount). */
function cpuCgroupOf(statusDir: string): string | null {
  try {
    for (const line of readFileSync(join(statusDir, 'cgroup'), 'utf8').split('\n')) {
      const m = /^\d+:([^:]*):(.*)$/.exec(line);
      if (m?.[1]?.split(',').includes('cpu')) return m[2] ?? null;
    }
  } catch {
    // gone
  }
  return null;
}

/** Host thread ids of `pid` by their id in the process's own pid namespace (the `NSpid` line). */
function threadsByNsTid(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      const ns = /^NSpid:\s+(.+)$/m
        .exec(readFileSync(`/proc/${pid}/task/${t}/status`, 'utf8'))?.[1]
        ?.trim()
        .split(/\s+/);
      const inner = Number(ns?.[ns.length - 1]);
      if (Number.isInteger(inner)) out.set(inner, Number(t));
    } catch {
      // thread exited
    }
  }
  return out;
}

function moveThread(cpuMount: string, cgroupPath: string, tid: number): void {
  writeFileSync(join(cpuMount, cgroupPath, 'tasks'), String(tid));
}

/**
 * Puts every thread found in the lent-thread group back into its process's cpu cgroup at nice 0
 * (what mariadbd runs at). Returns how many it moved.
 */
export function returnLentThreads(): number {
  const g = threadLaneGroup(DB_THREAD_GROUP);
  if (!g) return 0;
  let moved = 0;
  let tids: string[] = [];
  try {
    tids = readFileSync(join(g.path, 'tasks'), 'utf8').split('\n').filter(Boolean);
  } catch {
    return 0;
  }
  for (const t of tids) {
    const tid = Number(t);
    try {
      const tgid = Number(/^Tgid:\s+(\d+)$/m.exec(readFileSync(`/proc/${tid}/status`, 'utf8'))?.[1]);
      const home = cpuCgroupOf(`/proc/${tgid}`) ?? '/';
      moveThread(g.cpuMount, home === `/${DB_THREAD_GROUP}` ? '/' : home, tid);
      setPriority(tid, 0);
      moved++;
    } catch {
      // exited meanwhile
    }
  }
  return moved;
}

/**
 * Finds the server thread of the dump's connection — the one root connection over the local
 * socket other than the query's own (the storefront connects as the site's user over TCP, and
 * the agent runs one job per environment at a time) — and moves it into the lent-thread group at
 * nice 19. Null (nothing moved) when the host can't place threads or the connection isn't found.
 */
export async function lendDumpThread(o: {
  mariadbdPid: number;
  /** Runs SQL as root in the db container and returns tab-separated rows. */
  sql: (statements: string) => Promise<string>;
}): Promise<LentThread | null> {
  const g = threadLaneGroup(DB_THREAD_GROUP);
  if (!g) return null;
  returnLentThreads();
  const rows = await o.sql(
    "SELECT TID FROM information_schema.PROCESSLIST WHERE USER = 'root' AND HOST = 'localhost' AND ID <> CONNECTION_ID() AND COMMAND <> 'Daemon';",
  );
  const nsTids = rows
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
  if (nsTids.length !== 1) return null;
  const tid = threadsByNsTid(o.mariadbdPid).get(nsTids[0] as number);
  if (tid === undefined) return null;
  const home = cpuCgroupOf(`/proc/${o.mariadbdPid}/task/${tid}`);
  if (!home) return null;
  let nice = 0;
  try {
    nice = getPriority(tid);
    moveThread(g.cpuMount, g.path.slice(g.cpuMount.length) || '/', tid);
    setPriority(tid, 19);
  } catch {
    return null;
  }
  let restored = false;
  return {
    tid,
    restore() {
      if (restored) return;
      restored = true;
      try {
        moveThread(g.cpuMount, home, tid);
        setPriority(tid, nice);
      } catch {
        // the thread (or the container's group) is gone: returnLentThreads() sweeps what is left
        returnLentThreads();
      }
    },
  };
}
