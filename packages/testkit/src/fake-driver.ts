// Type-only imports (erased at runtime).

import type {
  ContainerState,
  ObservedContainer,
  ObservedEnvironment,
  ProbeResult,
  RuntimeDriver,
} from '@triplane/runtime/driver';
import type { AssignedEnvironment } from '@triplane/spec';

/**
 * An in-memory RuntimeDriver for tests, modelling what Podman does on these machines
 * (see shared/specs/runtime-podman.md):
 *   - `apply` creates/replaces the pod (db only without an external database, then redis,
 *     php, web), all running — or `created` when the environment's desiredState is `stopped`.
 *   - `podman kill` (`kill(env, c, 'podman-kill')`) leaves the container `exited`, NOT
 *     restarted by the restart policy; `kill -9` (`'sigkill'`) is restarted by the policy at
 *     once (restarts+1, new pid).
 *   - `crashLoop(env, c)`: the container dies right after every start, and the restart policy
 *     restarts it in a tight loop (no backoff): every `list()` adds `policyRestartsPerList`
 *     restarts — unless it was stopped on purpose (stop/kill).
 *   - `reboot()`: every container is `exited` and nothing restarts it (no systemd).
 *   - `failNext(method, { envId, times, error })`: the next calls throw.
 * Every call is recorded in `calls` (`apply env_1`, `start env_1/php`, …).
 *
 * Example:
 *   const d = new FakeDriver();
 *   await d.apply(env);
 *   d.kill(env.id, 'php', 'podman-kill');
 *   (await d.list())[0].containers.find((c) => c.name === 'php').state; // 'exited'
 */

export type FakeMethod = 'list' | 'apply' | 'stop' | 'remove' | 'start' | 'stopContainer' | 'restart' | 'probe';

interface FakeContainer {
  name: string;
  state: ContainerState;
  restarts: number;
  pid: number;
  exitCode: number | null;
  /** Stopped by a user/platform action: the restart policy leaves it alone. */
  stoppedOnPurpose: boolean;
  crashLoop: boolean;
}

interface FakePod {
  env: AssignedEnvironment;
  generation: number;
  containers: FakeContainer[];
}

interface Fault {
  method: FakeMethod;
  envId: string | undefined;
  times: number;
  error: Error;
}

export class FakeDriver implements RuntimeDriver {
  readonly name = 'fake';
  readonly calls: string[] = [];
  /** Environment id → named volumes that exist (they survive `remove` without purge). */
  readonly volumes = new Map<string, string[]>();
  policyRestartsPerList = 3;
  /** Number of `probe` calls so far. */
  probeCalls = 0;
  #pods = new Map<string, FakePod>();
  #faults: Fault[] = [];
  #badProbe = new Set<string>();
  #nextPid = 1000;

  // ── RuntimeDriver ──────────────────────────────────────────────────────────────────────

  async list(): Promise<ObservedEnvironment[]> {
    this.#fault('list', undefined);
    const out: ObservedEnvironment[] = [];
    for (const [id, pod] of [...this.#pods].sort(([a], [b]) => (a < b ? -1 : 1))) {
      for (const c of pod.containers) {
        if (c.crashLoop && !c.stoppedOnPurpose) {
          c.restarts += this.policyRestartsPerList;
          c.state = 'exited';
          c.exitCode = 1;
          c.pid = 0;
        }
      }
      out.push({ id, generation: pod.generation, containers: pod.containers.map((c) => this.#observed(c)) });
    }
    return out;
  }

  async apply(env: AssignedEnvironment): Promise<void> {
    this.calls.push(`apply ${env.id}@${env.generation}`);
    this.#fault('apply', env.id);
    const names = env.externalDatabase ? ['redis', 'php', 'web'] : ['db', 'redis', 'php', 'web'];
    const previous = this.#pods.get(env.id);
    const start = env.desiredState !== 'stopped';
    this.#pods.set(env.id, {
      env: structuredClone(env),
      generation: env.generation,
      containers: names.map((name) => {
        const crashLoop = previous?.containers.find((c) => c.name === name)?.crashLoop ?? false;
        const c: FakeContainer = {
          name,
          state: start ? 'running' : 'created',
          restarts: 0,
          pid: start ? this.#nextPid++ : 0,
          exitCode: null,
          stoppedOnPurpose: !start,
          crashLoop,
        };
        if (start && crashLoop) this.#die(c);
        return c;
      }),
    });
    const vols = [`${env.id}-content`, ...(env.externalDatabase ? [] : [`${env.id}-db`])];
    this.volumes.set(env.id, [...new Set([...(this.volumes.get(env.id) ?? []), ...vols])]);
  }

  async stop(envId: string): Promise<void> {
    this.calls.push(`stop ${envId}`);
    this.#fault('stop', envId);
    for (const c of this.#pods.get(envId)?.containers ?? []) this.#stopOne(c);
  }

  async remove(envId: string, opts: { purge: boolean }): Promise<void> {
    this.calls.push(`remove ${envId}${opts.purge ? ' purge' : ''}`);
    this.#fault('remove', envId);
    this.#pods.delete(envId);
    if (opts.purge) this.volumes.delete(envId);
  }

  async startContainer(envId: string, container: string): Promise<void> {
    this.calls.push(`start ${envId}/${container}`);
    this.#fault('start', envId);
    const c = this.#container(envId, container);
    c.stoppedOnPurpose = false;
    if (c.state === 'running') return;
    c.state = 'running';
    c.pid = this.#nextPid++;
    c.exitCode = null;
    if (c.crashLoop) this.#die(c);
  }

  async stopContainer(envId: string, container: string): Promise<void> {
    this.calls.push(`stopContainer ${envId}/${container}`);
    this.#fault('stopContainer', envId);
    this.#stopOne(this.#container(envId, container));
  }

  async restartContainer(envId: string, container: string): Promise<void> {
    this.calls.push(`restart ${envId}/${container}`);
    this.#fault('restart', envId);
    const c = this.#container(envId, container);
    c.stoppedOnPurpose = false;
    c.state = 'running';
    c.pid = this.#nextPid++;
    c.exitCode = null;
    if (c.crashLoop) this.#die(c);
  }

  async probe(envId: string): Promise<ProbeResult> {
    this.probeCalls++;
    this.#fault('probe', envId);
    const pod = this.#pods.get(envId);
    if (!pod) return { ok: false, latencyMs: 0, error: 'connection refused' };
    if (this.#badProbe.has(envId)) return { ok: false, status: 500, latencyMs: 1 };
    const web = pod.containers.find((c) => c.name === 'web');
    const php = pod.containers.find((c) => c.name === 'php');
    if (web?.state !== 'running') return { ok: false, latencyMs: 0, error: 'connection refused' };
    if (php?.state !== 'running') return { ok: false, status: 502, latencyMs: 1 };
    return { ok: true, status: 200, latencyMs: 1 };
  }

  // ── fault injection and inspection ─────────────────────────────────────────────────────

  /** `podman-kill`: exited, not restarted. `sigkill` (kill -9 of PID 1): the policy restarts it. */
  kill(envId: string, container: string, mode: 'podman-kill' | 'sigkill'): void {
    const c = this.#container(envId, container);
    if (mode === 'podman-kill') {
      c.state = 'exited';
      c.exitCode = 137;
      c.pid = 0;
      c.stoppedOnPurpose = true;
      return;
    }
    if (c.state !== 'running') return;
    if (c.crashLoop) {
      this.#die(c);
      return;
    }
    c.restarts++;
    c.pid = this.#nextPid++;
  }

  /** The container dies right after every start until `crashLoop(…, false)`. */
  crashLoop(envId: string, container: string, on = true): void {
    const c = this.#container(envId, container);
    c.crashLoop = on;
    if (on && c.state === 'running') this.#die(c);
  }

  /** A host reboot without systemd: every container is down and nothing restarts it. */
  reboot(): void {
    for (const pod of this.#pods.values())
      for (const c of pod.containers) {
        c.state = 'exited';
        c.pid = 0;
        c.exitCode = 0;
        c.stoppedOnPurpose = true;
      }
  }

  /** The next `times` calls of `method` (for `envId`, or any) throw `error`. */
  failNext(method: FakeMethod, o: { envId?: string; times?: number; error?: Error } = {}): void {
    this.#faults.push({
      method,
      envId: o.envId,
      times: o.times ?? 1,
      error: o.error ?? new Error(`injected ${method} failure`),
    });
  }

  /** The HTTP probe of `envId` answers 500 until turned off. */
  failProbe(envId: string, on = true): void {
    if (on) this.#badProbe.add(envId);
    else this.#badProbe.delete(envId);
  }

  /** A copy of a container's state (undefined when absent). */
  container(envId: string, name: string): ObservedContainer | undefined {
    const c = this.#pods.get(envId)?.containers.find((x) => x.name === name);
    return c ? this.#observed(c) : undefined;
  }

  /** The spec the pod of `envId` was last applied with. */
  applied(envId: string): AssignedEnvironment | undefined {
    return this.#pods.get(envId)?.env;
  }

  has(envId: string): boolean {
    return this.#pods.has(envId);
  }

  /** Environment ids present. */
  ids(): string[] {
    return [...this.#pods.keys()].sort();
  }

  /** Clear the call log. */
  resetCalls(): void {
    this.calls.length = 0;
  }

  // ── internals ──────────────────────────────────────────────────────────────────────────

  #observed(c: FakeContainer): ObservedContainer {
    return {
      name: c.name,
      state: c.state,
      restarts: c.restarts,
      pid: c.pid,
      exitCode: c.exitCode,
      cpuPercent: c.state === 'running' ? 1.5 : 0,
      memoryBytes: c.state === 'running' ? 32 * 1024 * 1024 : 0,
    };
  }

  #die(c: FakeContainer): void {
    c.state = 'exited';
    c.exitCode = 1;
    c.pid = 0;
  }

  #stopOne(c: FakeContainer): void {
    if (c.state === 'running') c.exitCode = 0;
    c.state = c.state === 'created' ? 'created' : 'exited';
    c.pid = 0;
    c.stoppedOnPurpose = true;
  }

  #container(envId: string, name: string): FakeContainer {
    const c = this.#pods.get(envId)?.containers.find((x) => x.name === name);
    if (!c) throw new Error(`no container ${envId}/${name}`);
    return c;
  }

  #fault(method: FakeMethod, envId: string | undefined): void {
    const i = this.#faults.findIndex((f) => f.method === method && (f.envId === undefined || f.envId === envId));
    if (i < 0) return;
    const f = this.#faults[i] as Fault;
    f.times--;
    if (f.times <= 0) this.#faults.splice(i, 1);
    if (method !== 'list' && method !== 'probe') this.calls.push(`  ! ${method} failed`);
    throw f.error;
  }
}
