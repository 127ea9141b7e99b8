import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before } from 'node:test';
import { acquireLock } from '@triplane/kernel';

export const PODMAN_TEST_LOCK = join(tmpdir(), 'triplane-podman-tests.lock');

/**
 * Call at the top of every test file that drives Podman: the files then run one at a time
 * while the rest of the suite runs in parallel. Concurrent `podman kube play`s from several
 * test processes were seen to hang on Podman's own locks on a loaded 2-core host, and the
 * files share host resources (web ports from 20000, uid slots).
 * The lock is held until this test process exits (the pid lock goes stale then), so it is never
 * released before the file's own cleanup has finished.
 */
export function podmanTestsOneAtATime(): void {
  // Waiting for the lock is not this file's run time: the hook may wait as long as the lock does.
  before(
    async () => {
      const t0 = Date.now();
      await acquireLock(PODMAN_TEST_LOCK, { waitMs: 30 * 60_000, what: 'another test file that drives Podman' });
      process.stderr.write(`# podman test lock acquired after ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${process.pid})\n`);
    },
    { timeout: 31 * 60_000 },
  );
}
