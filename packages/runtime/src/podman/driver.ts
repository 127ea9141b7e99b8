import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../exec.ts';
import { renderPodmanSecret } from '../pod/secret.ts';
import type { TranslatedPod } from '../pod/translate.ts';
import { translateEnvironment } from '../pod/translate.ts';
import type { EnvironmentSpec } from '../pod/types.ts';

/**
 * Thin rootful Podman adapter used by the agent: apply (create or replace) and remove one
 * environment's pod. Level-based and idempotent: `applyEnvironment` twice leaves one pod;
 * `removeEnvironment` on a missing pod is a no-op. Secret values come from the caller (the
 * agent keeps them 0600) and reach podman through a short-lived 0600 file on tmpfs, never argv or logs.
 *
 * Example:
 *   await applyEnvironment(spec, { secrets: { 'db-password': pw, 'wp-salt': salt } });
 */
export const DEFAULT_POD_DIR = '/var/lib/triplane/pods';

export interface ApplyOptions {
  secrets: Record<string, string>;
  podDir?: string;
}

/** Where secret payloads exist for the duration of one `podman secret create` (tmpfs). */
const SECRET_STAGING_DIR = '/run/triplane/secrets';

export async function ensureSecret(name: string, values: Record<string, string>): Promise<void> {
  // Podman 4.3 has no `secret create --replace`; env secrets are resolved when containers
  // are created, so replacing the secret before `kube play --replace` is safe.
  // `podman secret create NAME -` insists on a FIFO for stdin (Node's pipes are socketpairs),
  // so the payload goes through a 0600 file in a 0700 tmpfs dir, removed right after.
  await run('podman', ['secret', 'rm', name], { allowFailure: true });
  await mkdir(SECRET_STAGING_DIR, { recursive: true, mode: 0o700 });
  await chmod(SECRET_STAGING_DIR, 0o700);
  const file = join(SECRET_STAGING_DIR, `${name}.${process.pid}.json`);
  try {
    await writeFile(file, renderPodmanSecret(values), { mode: 0o600, flag: 'w' });
    await run('podman', ['secret', 'create', name, file]);
  } finally {
    await rm(file, { force: true });
  }
}

export async function applyEnvironment(spec: EnvironmentSpec, opts: ApplyOptions): Promise<TranslatedPod & { file: string }> {
  const pod = translateEnvironment(spec);
  const dir = opts.podDir ?? DEFAULT_POD_DIR;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${pod.name}.yaml`);
  await writeFile(file, pod.yaml, { mode: 0o600 });
  await chmod(file, 0o600);
  const secretNames = new Set(Object.values(spec.secrets).map((r) => r.secret));
  for (const s of secretNames) await ensureSecret(s, opts.secrets);
  // conmon inherits podman's cwd and drops an empty `oom` (or `oomKilled`) file there when the
  // kernel OOM-kills a process of the container (measured): keep that out of the caller's cwd.
  await run('podman', [...pod.playArgs, file], { timeoutMs: 5 * 60_000, cwd: dir });
  await applyPodPidsLimit(pod.name, pod.podPidsLimit);
  return { ...pod, file };
}

/**
 * Podman 4.3's `kube play` applies memory/cpu limits per container but no pids limit
 * (neither containers.conf pids_limit nor annotations; measured). The pod's cgroup
 * (cgroupfs, v1) parents all its containers, so one pids.max there caps the environment.
 * Returns the cgroup file written, or null when the host has no pids controller.
 */
export async function applyPodPidsLimit(podName: string, limit: number): Promise<string | null> {
  const r = await run('podman', ['pod', 'inspect', podName, '--format', '{{.CgroupPath}}']);
  const cg = r.stdout.trim();
  if (!cg.startsWith('/') || cg.includes('..')) return null;
  const v1 = `/sys/fs/cgroup/pids${cg}/pids.max`;
  const v2 = `/sys/fs/cgroup${cg}/pids.max`;
  for (const f of [v1, v2]) {
    try {
      await writeFile(f, String(limit));
      return f;
    } catch {
      // try the next layout
    }
  }
  return null;
}

export interface RemoveOptions {
  /** Also delete the environment's volumes and secrets (irreversible). */
  purge?: boolean;
  podDir?: string;
}

export async function removeEnvironment(spec: EnvironmentSpec, opts: RemoveOptions = {}): Promise<void> {
  const pod = translateEnvironment(spec);
  await run('podman', ['pod', 'rm', '-f', '-t', '10', pod.name], { allowFailure: true, timeoutMs: 2 * 60_000 });
  if (!opts.purge) return;
  for (const v of [spec.volumes.wpContent, spec.volumes.dbData])
    if (v) await run('podman', ['volume', 'rm', '-f', v], { allowFailure: true });
  for (const s of new Set(Object.values(spec.secrets).map((r) => r.secret)))
    await run('podman', ['secret', 'rm', s], { allowFailure: true });
  await rm(join(opts.podDir ?? DEFAULT_POD_DIR, `${pod.name}.yaml`), { force: true });
}

export interface ContainerState {
  name: string;
  state: string;
  pid: number;
  restarts: number;
  memoryLimit: number;
}

/** Per-container state of one pod (empty if the pod does not exist). */
export async function podContainers(podName: string): Promise<ContainerState[]> {
  const ps = await run('podman', ['ps', '-a', '--filter', `pod=${podName}`, '--format', '{{.Names}}'], { allowFailure: true });
  const names = ps.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '' && !s.endsWith('-infra'));
  if (names.length === 0) return [];
  const r = await run(
    'podman',
    ['inspect', '--format', '{{.Name}} {{.State.Status}} {{.State.Pid}} {{.RestartCount}} {{.HostConfig.Memory}}', ...names],
    { allowFailure: true },
  );
  return r.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [name = '', state = '', pid = '0', restarts = '0', mem = '0'] = l.trim().split(/\s+/);
      return { name, state, pid: Number(pid), restarts: Number(restarts), memoryLimit: Number(mem) };
    });
}
