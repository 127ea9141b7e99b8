import { chmod, cp, lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../exec.ts';
import type { RootfsRecipe } from './recipe.ts';
import { renderSourcesList } from './recipe.ts';

/**
 * The rootfs step: `debootstrap --variant=minbase` into a work dir, overlay the recipe's
 * files (policy-rc.d, dpkg path excludes, apt settings), write sources.list with
 * -updates/-security, prune caches/docs, and pack it as a tarball cached under
 * /var/cache/triplane/rootfs-<hash>.tar (the hash covers every input, so the tarball is
 * reused until the recipe changes). A crash leaves only the work dir, removed next run.
 */
export interface RootfsBuild {
  recipe: RootfsRecipe;
  overlayDir: string;
  cacheDir: string;
  hash: string;
  onLine?: (line: string) => void;
}

export function rootfsTarballPath(cacheDir: string, hash: string): string {
  return join(cacheDir, `rootfs-${hash}.tar`);
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** debootstrap mounts proc/sys inside the target; never rm -rf through a live mount. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = (await readFile('/proc/self/mounts', 'utf8'))
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await run('umount', ['-l', m], { allowFailure: true });
}

export async function removeWorkDir(dir: string): Promise<void> {
  if (!(await exists(dir))) return;
  await unmountUnder(dir);
  await rm(dir, { recursive: true, force: true });
}

async function copyOverlay(src: string, dst: string): Promise<void> {
  for (const name of await readdir(src)) {
    const s = join(src, name);
    const d = join(dst, name);
    const st = await lstat(s);
    if (st.isDirectory()) {
      await mkdir(d, { recursive: true });
      await copyOverlay(s, d);
    } else {
      await rm(d, { force: true });
      await cp(s, d, { verbatimSymlinks: true });
      if (!st.isSymbolicLink()) await chmod(d, st.mode & 0o7777);
    }
  }
}

async function emptyDir(dir: string): Promise<void> {
  if (!(await exists(dir))) return;
  for (const name of await readdir(dir)) await rm(join(dir, name), { recursive: true, force: true });
}

export async function buildRootfsTarball(b: RootfsBuild): Promise<{ path: string; cached: boolean }> {
  const out = rootfsTarballPath(b.cacheDir, b.hash);
  if (await exists(out)) return { path: out, cached: true };
  await mkdir(b.cacheDir, { recursive: true, mode: 0o700 });
  const work = join(b.cacheDir, `work-rootfs-${b.hash}`);
  await removeWorkDir(work);
  try {
    await mkdir(work, { recursive: true });
    await run(
      'debootstrap',
      [`--variant=${b.recipe.variant}`, `--components=${b.recipe.components.join(',')}`, b.recipe.suite, work, b.recipe.mirror],
      { onLine: b.onLine ? (l) => b.onLine?.(l) : undefined, timeoutMs: 20 * 60_000 },
    );
    await unmountUnder(work);
    await copyOverlay(b.overlayDir, work);
    await writeFile(join(work, 'etc/apt/sources.list'), renderSourcesList(b.recipe));
    for (const p of b.recipe.prune) await emptyDir(join(work, p));
    // podman provides these at run time; don't ship the build host's copies.
    for (const f of ['etc/resolv.conf', 'etc/hostname']) await rm(join(work, f), { force: true });
    const tmp = `${out}.tmp`;
    await run('tar', ['--numeric-owner', '--xattrs', '-C', work, '-cf', tmp, '.'], { timeoutMs: 10 * 60_000 });
    await rename(tmp, out);
    return { path: out, cached: false };
  } finally {
    await removeWorkDir(work);
  }
}
