import { run } from '../exec.ts';

/** Thin podman image adapter (rootful: one image store for every site environment). */
export async function imageExists(tag: string): Promise<boolean> {
  const r = await run('podman', ['image', 'exists', tag], { allowFailure: true });
  return r.code === 0;
}

export async function importTarball(tar: string, tag: string, changes: string[]): Promise<void> {
  const args = ['import'];
  for (const c of changes) args.push('--change', c);
  args.push(tar, tag);
  await run('podman', args, { timeoutMs: 10 * 60_000 });
}

export interface BuildArgs {
  contextDir: string;
  tag: string;
  buildArgs: Record<string, string>;
  labels: Record<string, string>;
  onLine?: (line: string) => void;
}

export async function buildImage(b: BuildArgs): Promise<void> {
  // --layers: buildah caches each instruction, so a recipe change that only touches a
  // config file re-runs from that instruction on (seconds) instead of the whole apt install.
  const args = ['build', '--layers=true', '--pull=never', '--network=host', '-f', 'Containerfile', '-t', b.tag];
  for (const [k, v] of Object.entries(b.buildArgs)) args.push('--build-arg', `${k}=${v}`);
  for (const [k, v] of Object.entries(b.labels)) args.push('--label', `${k}=${v}`);
  args.push('.');
  await run('podman', args, { cwd: b.contextDir, onLine: b.onLine, timeoutMs: 30 * 60_000 });
}

/** Tags of `repo` (e.g. localhost/triplane/php) present in the store. */
export async function listTags(repo: string): Promise<string[]> {
  const r = await run('podman', ['images', '--format', '{{.Repository}}:{{.Tag}}', '--filter', `reference=${repo}`], {
    allowFailure: true,
  });
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(`${repo}:`));
}

/** Removes dangling intermediate build images left by removed tags (best effort). */
export async function pruneDangling(): Promise<void> {
  await run('podman', ['image', 'prune', '-f'], { allowFailure: true });
}

/** Best effort: an image still used by a container is kept (podman refuses). */
export async function removeImage(tag: string): Promise<boolean> {
  const r = await run('podman', ['rmi', tag], { allowFailure: true });
  return r.code === 0;
}
