import { readdir, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { type Logger, silentLogger, TriplaneError, writeFileAtomic } from '@triplane/kernel';
import {
  applyEnvironment,
  computeImageTags,
  generateEnvironmentSecrets,
  type EnvironmentSpec as RuntimeSpec,
  removeEnvironment,
  run,
  translateEnvironment,
} from '@triplane/runtime';
import {
  type ObservedContainer,
  type ObservedEnvironment,
  type ProbeResult,
  type RuntimeDriver,
  toContainerState,
} from '@triplane/runtime/driver';
import type { AssignedEnvironment } from '@triplane/spec';
import { locateCgroup, readUsage } from './metrics/cgroup.ts';
import { toRuntimeSpec } from './podman/runtime-spec.ts';

/**
 * The real RuntimeDriver: one pod per environment, `podman kube play --replace` (through
 * `@triplane/runtime`'s pure translation and its apply/remove helpers), rootful with
 * `--userns=auto` on the environment's uid slot (the runtime's decision: one image store,
 * kernel-enforced memory/pids limits on cgroup v1, uids no other site shares).
 *
 * What it keeps in the agent's state dir:
 *   pods/<envId>.json      the record of what was applied (pod name, generation, runtime spec) —
 *                          `list()` is "records ∩ what podman shows", so pods are found again
 *                          after an agent restart or a reboot
 *   pods/<pod>.yaml        the pod YAML given to kube play (written by the runtime)
 *   secrets/<envId>.json   the environment's DB password and salts (0600, generated once,
 *                          never logged; removed with `purge`)
 *
 * Usage numbers (cpu/memory) come from the containers' cgroup files, at most every
 * `statsEveryMs`; 0 before the second sample.
 *
 * Example:
 *   const d = new PodmanDriver({ stateDir: '/var/lib/triplane/agent' });
 *   await d.apply(env); await d.list(); await d.probe(env.id);
 */
export interface PodmanDriverOptions {
  stateDir: string;
  /** Image tags (`web`, `php`, `redis`, `mariadb`); default: runtime's computeImageTags(). */
  images?: Record<string, string>;
  /** Address web ports are published on. Default 127.0.0.1. */
  webHostIp?: string;
  probePath?: string;
  probeTimeoutMs?: number;
  /** 0 disables usage sampling. Default 30 s. */
  statsEveryMs?: number;
  logger?: Logger;
}

interface PodRecord {
  envId: string;
  podName: string;
  generation: number;
  webPort: number;
  webHostIp: string;
  /** Host header for the health probe (the primary domain), or null. */
  host: string | null;
  spec: RuntimeSpec;
  appliedAt: string;
}

interface PsEntry {
  Id?: string;
  Names?: string[] | string;
  State?: string;
  Pid?: number;
  PodName?: string;
  ExitCode?: number;
  IsInfra?: boolean;
  Restarts?: number;
}

const ENV_ID = /^[a-z]{2,8}_[0-9a-z]{16}$/;

/** One HTTP GET; any answer below 500 is healthy (a redirect or the install page is fine). */
export function httpProbe(o: {
  host: string;
  port: number;
  path: string;
  hostHeader: string | null;
  timeoutMs: number;
}): Promise<ProbeResult> {
  const started = performance.now();
  const ms = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    const headers: Record<string, string> = { 'user-agent': 'triplane-agent-probe' };
    if (o.hostHeader) headers.host = o.hostHeader;
    const req = request(
      { host: o.host, port: o.port, path: o.path, method: 'GET', headers, timeout: o.timeoutMs, agent: false },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        resolve({ ok: status > 0 && status < 500, status, latencyMs: ms() });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ ok: false, latencyMs: ms(), error: (e as NodeJS.ErrnoException).code ?? e.message }));
    req.end();
  });
}

export class PodmanDriver implements RuntimeDriver {
  readonly name = 'podman';
  readonly #o: PodmanDriverOptions;
  readonly #log: Logger;
  readonly #podDir: string;
  readonly #secretDir: string;
  #images: Record<string, string> | undefined;
  #stats = new Map<string, { cpuPercent: number; memoryBytes: number }>();
  #statsAt = 0;
  #statsRunning = false;
  #cpuPrev = new Map<string, { cpuNs: number; at: number }>();

  constructor(o: PodmanDriverOptions) {
    this.#o = o;
    this.#log = o.logger ?? silentLogger();
    this.#podDir = join(o.stateDir, 'pods');
    this.#secretDir = join(o.stateDir, 'secrets');
    this.#images = o.images;
  }

  // ── records ────────────────────────────────────────────────────────────────────────────

  async #records(): Promise<PodRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.#podDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: PodRecord[] = [];
    for (const n of names.sort()) {
      if (!n.endsWith('.json') || !ENV_ID.test(n.slice(0, -5))) continue;
      try {
        out.push(JSON.parse(await readFile(join(this.#podDir, n), 'utf8')) as PodRecord);
      } catch (e) {
        this.#log.warn({ file: n, err: (e as Error).message }, 'unreadable pod record ignored');
      }
    }
    return out;
  }

  async #record(envId: string): Promise<PodRecord | undefined> {
    if (!ENV_ID.test(envId)) return undefined;
    try {
      return JSON.parse(await readFile(join(this.#podDir, `${envId}.json`), 'utf8')) as PodRecord;
    } catch {
      return undefined;
    }
  }

  async #requireRecord(envId: string): Promise<PodRecord> {
    const r = await this.#record(envId);
    if (!r) throw new TriplaneError('TRIPLANE_ERR_NOT_FOUND', `no pod for environment ${envId} on this host`);
    return r;
  }

  async #secrets(envId: string): Promise<Record<string, string>> {
    const file = join(this.#secretDir, `${envId}.json`);
    try {
      const v = JSON.parse(await readFile(file, 'utf8')) as Record<string, string>;
      if (v && typeof v === 'object') return v;
    } catch {
      // first apply: generate below
    }
    const fresh = generateEnvironmentSecrets();
    await writeFileAtomic(file, JSON.stringify(fresh));
    return fresh;
  }

  async #imageTags(): Promise<Record<string, string>> {
    if (!this.#images) this.#images = await computeImageTags();
    return this.#images;
  }

  // ── RuntimeDriver ──────────────────────────────────────────────────────────────────────

  async list(): Promise<ObservedEnvironment[]> {
    const records = await this.#records();
    if (records.length === 0) return [];
    const ps = await run('podman', ['ps', '-a', '--pod', '--format', 'json'], { timeoutMs: 60_000 });
    let entries: PsEntry[] = [];
    try {
      entries = JSON.parse(ps.stdout || '[]') as PsEntry[];
    } catch {
      throw new TriplaneError('TRIPLANE_ERR_COMMAND_FAILED', 'podman ps: unreadable output');
    }
    // `--pod` fills PodName; the container name (`<pod>-<container>`) is the fallback.
    const podOf = (e: PsEntry): string | undefined => {
      if (e.PodName) return e.PodName;
      const full = Array.isArray(e.Names) ? (e.Names[0] ?? '') : (e.Names ?? '');
      return records.find((r) => full.startsWith(`${r.podName}-`))?.podName;
    };
    const wanted = new Set(records.map((r) => r.podName));
    const mine = entries
      .map((e) => ({ ...e, PodName: podOf(e) }))
      .filter((e) => e.PodName !== undefined && wanted.has(e.PodName) && !e.IsInfra);
    // RestartCount is not in `podman ps` on 4.3: one inspect for every container.
    const restarts = new Map<string, number>();
    const ids = mine.map((e) => e.Id).filter((x): x is string => typeof x === 'string');
    if (ids.length > 0) {
      const r = await run('podman', ['inspect', '--format', '{{.Id}} {{.RestartCount}}', ...ids], {
        allowFailure: true,
        timeoutMs: 60_000,
      });
      for (const line of r.stdout.split('\n')) {
        const [id, n] = line.trim().split(/\s+/);
        if (id && n) restarts.set(id, Number(n) || 0);
      }
    }
    this.#sampleStats(mine);
    return records.map((rec) => {
      const containers: ObservedContainer[] = mine
        .filter((e) => e.PodName === rec.podName)
        .map((e) => {
          const full = Array.isArray(e.Names) ? (e.Names[0] ?? '') : (e.Names ?? '');
          const name = full.startsWith(`${rec.podName}-`) ? full.slice(rec.podName.length + 1) : full;
          const state = toContainerState(e.State ?? '');
          const usage = this.#stats.get(e.Id ?? '');
          return {
            name,
            state,
            restarts: restarts.get(e.Id ?? '') ?? e.Restarts ?? 0,
            pid: state === 'running' ? (e.Pid ?? 0) : 0,
            exitCode: state === 'running' ? null : (e.ExitCode ?? null),
            cpuPercent: usage?.cpuPercent ?? 0,
            memoryBytes: usage?.memoryBytes ?? 0,
          };
        });
      return { id: rec.envId, generation: rec.generation, containers };
    });
  }

  /**
   * Refresh usage numbers in the background (never delays list()), from the containers' cgroup
   * files (metrics/cgroup.ts): `podman stats` cost ~0.25 cores for a second on every call, on the
   * storefront's CPUs. CPU is the average since the previous sample; 0 on a container's first.
   */
  #sampleStats(entries: readonly { Id?: string; Pid?: number }[]): void {
    const every = this.#o.statsEveryMs ?? 30_000;
    if (every <= 0 || entries.length === 0 || this.#statsRunning || Date.now() - this.#statsAt < every) return;
    this.#statsRunning = true;
    (async () => {
      const next = new Map<string, { cpuPercent: number; memoryBytes: number }>();
      const prevCpu = new Map<string, { cpuNs: number; at: number }>();
      for (const e of entries) {
        if (!e.Id || !e.Pid) continue;
        const loc = await locateCgroup(e.Pid);
        const u = loc ? await readUsage(loc) : undefined;
        if (!u) continue;
        const at = performance.now();
        const prev = this.#cpuPrev.get(e.Id);
        const cpuPercent = prev && at > prev.at ? Math.max(0, (u.cpuNs - prev.cpuNs) / 1e6 / (at - prev.at)) * 100 : 0;
        prevCpu.set(e.Id, { cpuNs: u.cpuNs, at });
        next.set(e.Id, { cpuPercent: Math.round(cpuPercent * 100) / 100, memoryBytes: u.memBytes });
      }
      this.#cpuPrev = prevCpu;
      this.#stats = next;
    })()
      .catch(() => {})
      .finally(() => {
        this.#statsAt = Date.now();
        this.#statsRunning = false;
      });
  }

  async apply(env: AssignedEnvironment): Promise<void> {
    const webHostIp = this.#o.webHostIp ?? '127.0.0.1';
    const spec = toRuntimeSpec(env, { images: await this.#imageTags(), webHostIp });
    const pod = translateEnvironment(spec); // validates: an invalid spec is a terminal error
    const previous = await this.#record(env.id);
    if (previous && previous.podName !== pod.name) {
      await removeEnvironment(previous.spec, { podDir: this.#podDir });
    }
    const secrets = await this.#secrets(env.id);
    await applyEnvironment(spec, { secrets, podDir: this.#podDir });
    // kube play always starts the pod; a stopped environment is stopped right after.
    if (env.desiredState === 'stopped') await run('podman', ['pod', 'stop', '-t', '10', pod.name], { timeoutMs: 120_000 });
    const record: PodRecord = {
      envId: env.id,
      podName: pod.name,
      generation: env.generation,
      webPort: env.runtime.webPort,
      webHostIp,
      host: env.domains[0] ?? null,
      spec,
      appliedAt: new Date().toISOString(),
    };
    await writeFileAtomic(join(this.#podDir, `${env.id}.json`), `${JSON.stringify(record, null, 2)}\n`);
  }

  async stop(envId: string): Promise<void> {
    const rec = await this.#record(envId);
    if (!rec) return;
    const r = await run('podman', ['pod', 'stop', '-t', '10', rec.podName], { allowFailure: true, timeoutMs: 120_000 });
    if (r.code !== 0 && !/no pod with name or id/i.test(r.stderr)) {
      throw new TriplaneError('TRIPLANE_ERR_COMMAND_FAILED', `podman pod stop ${rec.podName}: ${r.stderr.trim().slice(-500)}`);
    }
  }

  async remove(envId: string, opts: { purge: boolean }): Promise<void> {
    const rec = await this.#record(envId);
    if (rec) await removeEnvironment(rec.spec, { purge: opts.purge, podDir: this.#podDir });
    if (opts.purge) await rm(join(this.#secretDir, `${envId}.json`), { force: true });
    await rm(join(this.#podDir, `${envId}.json`), { force: true });
  }

  async #containerCmd(envId: string, container: string, args: string[]): Promise<void> {
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(container)) throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'bad container name');
    const rec = await this.#requireRecord(envId);
    await run('podman', [...args, `${rec.podName}-${container}`], { timeoutMs: 120_000 });
  }

  startContainer(envId: string, container: string): Promise<void> {
    return this.#containerCmd(envId, container, ['start']);
  }

  stopContainer(envId: string, container: string): Promise<void> {
    return this.#containerCmd(envId, container, ['stop', '-t', '10']);
  }

  restartContainer(envId: string, container: string): Promise<void> {
    return this.#containerCmd(envId, container, ['restart', '-t', '10']);
  }

  async probe(envId: string): Promise<ProbeResult> {
    const rec = await this.#record(envId);
    if (!rec) return { ok: false, latencyMs: 0, error: 'no pod record' };
    const host = rec.webHostIp === '0.0.0.0' ? '127.0.0.1' : rec.webHostIp;
    return httpProbe({
      host,
      port: rec.webPort,
      path: this.#o.probePath ?? '/',
      hostHeader: rec.host,
      timeoutMs: this.#o.probeTimeoutMs ?? 5000,
    });
  }
}
