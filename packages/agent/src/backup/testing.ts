import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Tests only: `restic init` a repository under a tight CPU quota. restic calibrates its scrypt
 * KDF at init to ~0.5 s of CPU, paid again by every later command; under the quota it picks its
 * cheapest parameters, so tests that run restic dozens of times take seconds, not minutes.
 * Without root (no cgroup) it is a plain init.
 */
export async function initFastRepo(dir: string, passwordFile: string): Promise<void> {
  const quota = `/sys/fs/cgroup/cpu/triplane-test-kdf-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const useQuota = process.getuid?.() === 0 && existsSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us');
  if (useQuota) {
    mkdirSync(quota, { recursive: true });
    writeFileSync(join(quota, 'cpu.cfs_period_us'), '10000');
    writeFileSync(join(quota, 'cpu.cfs_quota_us'), '1000');
  }
  try {
    const script = useQuota ? `echo $$ > ${quota}/cgroup.procs && exec "$@"` : 'exec "$@"';
    const p = spawn('sh', ['-c', script, 'sh', 'restic', `--repo=${dir}`, `--password-file=${passwordFile}`, 'init'], {
      stdio: 'ignore',
    });
    const code = await new Promise((resolve) => p.once('exit', resolve));
    if (code !== 0) throw new Error(`restic init of ${dir} exited ${String(code)}`);
  } finally {
    if (useQuota) rmdirSync(quota);
  }
}

/** The triplane/mariadb site image, when this host can run it (root and the image built), else undefined. */
export function mariadbTestImage(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const r = spawnSync('podman', ['images', '--format', '{{.Repository}}:{{.Tag}}'], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  return r.stdout.split('\n').find((l) => l.startsWith('localhost/triplane/mariadb:'));
}

/** Starts a throwaway MariaDB container (database and user `wp`, no network) and waits until it answers. */
export async function startTestMariadb(image: string, name: string): Promise<void> {
  const run = spawnSync(
    'podman',
    [
      'run',
      '-d',
      '--rm',
      '--network',
      'none',
      '--name',
      name,
      '-e',
      'MARIADB_DATABASE=wp',
      '-e',
      'MARIADB_USER=wp',
      '-e',
      'MARIADB_PASSWORD=pw',
      image,
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  if (run.status !== 0) throw new Error(`podman run: ${run.stderr}`);
  const until = Date.now() + 90_000;
  for (;;) {
    const r = spawnSync('podman', ['exec', name, 'mariadb', '-e', 'SELECT 1'], { timeout: 10_000 });
    if (r.status === 0) return;
    if (Date.now() > until) throw new Error(`mariadb did not start: ${r.stderr?.toString()}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}
