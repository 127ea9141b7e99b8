import { execFile } from 'node:child_process';
import { type Logger, silentLogger } from '@triplane/kernel';
import type { AgentMetricsReport, AssignedEnvironment, ContainerSample } from '@triplane/spec';
import { podIdentity } from '../podman/runtime-spec.ts';
import { type CgroupLocation, locateCgroup, readUsage, type Usage } from './cgroup.ts';

/** A running container of a pod, as `podman ps --pod` lists it. */
export interface PodContainer {
  id: string;
  podName: string;
  /** Full name, `<pod>-<container>`. */
  name: string;
  pid: number;
}

export interface ContainerMetricsOptions {
  /** The environments this server runs and their pod names (from the assignment). */
  environments: () => readonly { id: string; podName: string }[];
  /** Sends one report (the control link's authenticated `POST /agents/{id}/metrics`). */
  post: (report: AgentMetricsReport) => Promise<unknown>;
  intervalMs?: number;
  /** Containers by pod; default `podman ps --pod --format json` (running ones). */
  listContainers?: () => Promise<PodContainer[]>;
  cgroupRoot?: string;
  procRoot?: string;
  logger?: Logger;
  /** Monotonic ms (tests). */
  now?: () => number;
}

interface Tracked {
  environmentId: string;
  container: string;
  loc: CgroupLocation;
  last?: { usage: Usage; at: number };
}

/** The container list is re-read at least this often (a container may have been recreated). */
const RELIST_MS = 60_000;

/**
 * CPU and memory of every container of this server's environments, pushed to the control plane
 * every 10 s (docs/metrics.md). Numbers come from the containers' cgroup files (cgroup.ts: far
 * cheaper than `podman stats`); which container is which comes from `podman ps`, run only when
 * the environments change, a cgroup disappears, or a minute has passed. CPU is the cores used
 * between two samples (a container's first sample only sets the baseline); memory the working set.
 * A failed report is dropped and counted (`stats.dropped`), never retried: its numbers are gauges.
 * Runs beside the reconcile loop and never blocks it.
 *
 * Example:
 *   const m = new ContainerMetrics({ environments: () => envs, post: (r) => link.call('POST', `/agents/${id}/metrics`, r) });
 *   m.start(); …; await m.stop();
 */
export class ContainerMetrics {
  readonly #o: ContainerMetricsOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  #tracked = new Map<string, Tracked>();
  #listedAt = Number.NEGATIVE_INFINITY;
  #listedFor = '';
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  readonly stats = { sent: 0, dropped: 0 };

  constructor(o: ContainerMetricsOptions) {
    this.#o = o;
    this.#log = o.logger ?? silentLogger();
    this.#now = o.now ?? (() => performance.now());
  }

  start(): void {
    if (this.#timer) return;
    void this.tick();
    this.#timer = setInterval(() => void this.tick(), this.#o.intervalMs ?? 10_000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One sample and report (the timer's tick); a tick finding the previous one running is skipped. Never throws. */
  tick(): Promise<void> {
    if (this.#running) return this.#running;
    this.#running = this.#tick().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  /** Samples every tracked container; returns the samples (the report's body). Exposed for tests. */
  async sample(): Promise<ContainerSample[]> {
    const envs = this.#o.environments();
    const key = envs
      .map((e) => `${e.id}=${e.podName}`)
      .sort()
      .join(',');
    if (key !== this.#listedFor || this.#now() - this.#listedAt >= RELIST_MS) await this.#relist(envs, key);
    const out: ContainerSample[] = [];
    let gone = false;
    for (const [id, t] of this.#tracked) {
      const usage = await readUsage(t.loc, this.#o.cgroupRoot);
      const at = this.#now();
      if (!usage) {
        this.#tracked.delete(id);
        gone = true;
        continue;
      }
      if (t.last && at > t.last.at) {
        const cores = (usage.cpuNs - t.last.usage.cpuNs) / ((at - t.last.at) * 1e6);
        // a counter going backwards is a new cgroup under an old id: no value this time
        if (cores >= 0) {
          out.push({
            environmentId: t.environmentId,
            container: t.container,
            cpu: Math.min(4096, Math.round(cores * 10_000) / 10_000),
            memBytes: Math.round(usage.memBytes),
          });
        }
      }
      t.last = { usage, at };
    }
    if (gone) this.#listedAt = Number.NEGATIVE_INFINITY; // re-list next time: recreated containers
    return out;
  }

  async #relist(envs: readonly { id: string; podName: string }[], key: string): Promise<void> {
    this.#listedFor = key;
    this.#listedAt = this.#now();
    const byPod = new Map(envs.map((e) => [e.podName, e.id]));
    if (byPod.size === 0) {
      this.#tracked.clear();
      return;
    }
    let list: PodContainer[];
    try {
      list = await (this.#o.listContainers ?? listPodmanContainers)();
    } catch (e) {
      this.#log.warn({ err: (e as Error).message }, 'container metrics: cannot list containers');
      return;
    }
    const next = new Map<string, Tracked>();
    for (const c of list) {
      const environmentId = byPod.get(c.podName);
      if (!environmentId || c.pid <= 0) continue;
      const old = this.#tracked.get(c.id);
      if (old) {
        next.set(c.id, old);
        continue;
      }
      const loc = await locateCgroup(c.pid, this.#o.procRoot);
      if (!loc) continue;
      const container = c.name.startsWith(`${c.podName}-`) ? c.name.slice(c.podName.length + 1) : c.name;
      if (!/^[A-Za-z0-9_.-]{1,128}$/.test(container)) continue;
      next.set(c.id, { environmentId, container, loc });
    }
    this.#tracked = next;
  }

  async #tick(): Promise<void> {
    try {
      const containers = await this.sample();
      if (containers.length === 0) return;
      await this.#o.post({ containers });
      this.stats.sent++;
    } catch (e) {
      this.stats.dropped++;
      if (this.stats.dropped === 1 || this.stats.dropped % 30 === 0)
        this.#log.warn({ err: (e as Error).message, dropped: this.stats.dropped }, 'container metrics report dropped');
    }
  }
}

interface PsRow {
  Id?: string;
  Names?: string[] | string;
  PodName?: string;
  Pid?: number;
  State?: string;
  IsInfra?: boolean;
}

/** Running, non-infra containers that belong to a pod. */
export function listPodmanContainers(): Promise<PodContainer[]> {
  return new Promise((resolve, reject) => {
    execFile('podman', ['ps', '--pod', '--format', 'json'], { timeout: 30_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout) => {
      if (err) return reject(err);
      try {
        const rows = JSON.parse(stdout || '[]') as PsRow[];
        resolve(
          rows
            .filter((r) => !r.IsInfra && r.State === 'running' && r.PodName && r.Id && (r.Pid ?? 0) > 0)
            .map((r) => ({
              id: r.Id as string,
              podName: r.PodName as string,
              name: (Array.isArray(r.Names) ? r.Names[0] : r.Names) ?? '',
              pid: r.Pid as number,
            })),
        );
      } catch (e) {
        reject(e);
      }
    });
  });
}

/** The pod name the Podman driver gives an environment (podman/runtime-spec.ts). */
export function podNameOf(env: Pick<AssignedEnvironment, 'id' | 'siteName' | 'name' | 'runtime'>): string {
  const { siteId, envName } = podIdentity(env);
  return `${siteId}-${envName}`;
}
