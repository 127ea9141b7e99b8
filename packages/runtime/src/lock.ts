import { open, readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { TriplaneError } from './errors.ts';

/**
 * A pid lock file: one image build (or host preparation) per host at a time. A lock left by a dead process
 * (crash, reboot) is taken over, so a rerun after a crash never hangs.
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

export async function withLock<T>(path: string, waitMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      if (!alive(holder) || holder === process.pid) {
        await rm(path, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new TriplaneError('TRIPLANE_ERR_LOCKED', `${path} is held by pid ${holder}; another image build is running`);
      }
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}
