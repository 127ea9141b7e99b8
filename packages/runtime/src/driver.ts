import type { AssignedEnvironment } from '@triplane/spec';

/**
 * The runtime driver contract: the only way the agent touches containers. Two
 * implementations: `PodmanDriver` (./podman-driver.ts, `podman kube play` underneath) and
 * testkit's `FakeDriver` (in memory, with fault injection). The reconcile engine is written
 * against this interface only.
 *
 * Every method is idempotent and keyed by the environment id:
 *   - `list()` returns what is ACTUALLY on this host (never what was asked for), one entry per
 *     environment pod the driver manages, with the generation it was last applied at.
 *   - `apply(env)` creates or replaces the environment's pod so that it runs `env` (same spec
 *     twice = one pod). It records `env.generation` so `list()` reports it. Data volumes survive.
 *     When `env.desiredState` is `stopped` the pod is created but its containers are not started.
 *   - `stop(envId)` stops every container of the pod (on purpose: the restart policy must not
 *     bring them back, and neither does the engine). No-op when absent.
 *   - `remove(envId, { purge })` removes the pod; with `purge` also its volumes and secrets
 *     (irreversible). No-op when absent.
 *   - `startContainer` / `stopContainer` / `restartContainer` act on one container by its short
 *     name (`php`, `web`, `db`, `redis`).
 *   - `probe(envId)` is one HTTP health probe of the environment's web port.
 * Faults throw (a `TriplaneError`, ideally); the engine retries with backoff. An error whose
 * `details.retryable === false` (e.g. TRIPLANE_ERR_POD_SPEC_INVALID) is terminal for that
 * generation: the environment reports `failed` until its generation changes.
 *
 * Example:
 *   const d: RuntimeDriver = new PodmanDriver({ stateDir: '/var/lib/triplane/agent' });
 *   await d.apply(assignment.environments[0]);
 *   const [env] = await d.list();
 *   // { id: 'env_…', generation: 3, containers: [{ name: 'php', state: 'running', restarts: 0, pid: 4242, … }] }
 *   if (env.containers.some((c) => c.state === 'exited')) await d.startContainer(env.id, 'php');
 *   await d.probe(env.id); // { ok: true, status: 200, latencyMs: 12 }
 */
export interface RuntimeDriver {
  /** Stable name for logs, e.g. `podman`, `fake`. */
  readonly name: string;
  list(): Promise<ObservedEnvironment[]>;
  apply(env: AssignedEnvironment): Promise<void>;
  stop(envId: string): Promise<void>;
  remove(envId: string, opts: { purge: boolean }): Promise<void>;
  startContainer(envId: string, container: string): Promise<void>;
  stopContainer(envId: string, container: string): Promise<void>;
  restartContainer(envId: string, container: string): Promise<void>;
  probe(envId: string): Promise<ProbeResult>;
}

/**
 * Container states as podman names them. `exited`/`stopped`/`created` are "not running";
 * `stopping`/`removing` are transitions the engine waits out.
 */
export type ContainerState = 'created' | 'running' | 'paused' | 'stopping' | 'exited' | 'stopped' | 'removing' | 'unknown';

export interface ObservedContainer {
  /** Short name inside the pod: `web`, `php`, `redis`, `db`. */
  name: string;
  state: ContainerState;
  /** Restarts done by the runtime's restart policy since the container was created. */
  restarts: number;
  /** Host pid of the container's PID 1; 0 when not running. */
  pid: number;
  exitCode: number | null;
  /** Cheap usage numbers when the driver has them, else 0. */
  cpuPercent: number;
  memoryBytes: number;
}

export interface ObservedEnvironment {
  id: string;
  /** The generation last applied (what `apply` recorded); null when unknown. */
  generation: number | null;
  containers: ObservedContainer[];
}

export interface ProbeResult {
  ok: boolean;
  /** HTTP status when there was an answer. */
  status?: number;
  latencyMs: number;
  error?: string;
}

/** Not running, and not on its way to running or gone. */
export function isDown(c: Pick<ObservedContainer, 'state'>): boolean {
  return c.state === 'exited' || c.state === 'stopped' || c.state === 'created' || c.state === 'unknown';
}

/** Map a podman state string to ContainerState. */
export function toContainerState(s: string): ContainerState {
  const v = s.toLowerCase();
  switch (v) {
    case 'created':
    case 'running':
    case 'paused':
    case 'stopping':
    case 'exited':
    case 'stopped':
    case 'removing':
      return v;
    case 'configured':
    case 'initialized':
      return 'created';
    default:
      return 'unknown';
  }
}
