import { open, readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { TriplaneError } from './errors.ts';

/**
 * A pid lock file: one holder per host at a time (an image build, a host preparation, a test
 * file that drives Podman). A lock left by a dead process (crash, reboot) is taken over, so a
 * rerun after a crash never hangs.
 *
 * Example:
 *   const release = await acquireLock('/var/cache/triplane/images.lock', { waitMs: 3_600_000, what: 'an image build' });
 *   try { … } finally { await release(); }
 */
function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function acquireLock(path: string, o: { waitMs: number; what?: string }): Promise<() => Promise<void>> {
  const deadline = Date.now() + o.waitMs;
  for (;;) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      return () => rm(path, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      if (!alive(holder) || holder === process.pid) {
        await rm(path, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new TriplaneError(
          'TRIPLANE_ERR_LOCKED',
          `${path} is held by pid ${holder}; ${o.what ?? 'another holder'} is running`,
        );
      }
      await sleep(250);
    }
  }
}

export async function withLock<T>(path: string, waitMs: number, fn: () => Promise<T>, what?: string): Promise<T> {
  const release = await acquireLock(path, what === undefined ? { waitMs } : { waitMs, what });
  try {
    return await fn();
  } finally {
    await release();
  }
}
