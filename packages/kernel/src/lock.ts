import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TriplaneError } from './errors.ts';

/**
 * A host-wide lock: one holder at a time (an image build, a host preparation, a test file that
 * drives Podman). The kernel arbitrates: holding it means having bound an abstract Unix socket
 * whose name is derived from `path`, and the kernel frees that name the moment the holder exits,
 * however it exits (crash, SIGKILL, reboot). So a rerun never hangs on a dead holder, and two
 * waiters can never both take over a dead holder's lock — the race a pid file has between
 * "the holder is dead" and "remove its file" (two waiters each removed the other's fresh lock
 * and ran together; so did one that read the file between its creation and its pid being
 * written). Node has no flock(2); an abstract socket is the kernel lock it does have.
 * The file at `path` only says who holds it (its pid), for people and error messages.
 *
 * Scope: abstract socket names are per network namespace, so every holder must run in the host's
 * (all of Triplane's host-side processes do). Linux only, as is the rest of the platform.
 *
 * Example:
 *   const release = await acquireLock('/var/cache/triplane/images.lock', { waitMs: 3_600_000, what: 'an image build' });
 *   try { … } finally { await release(); }
 */
export async function acquireLock(path: string, o: { waitMs: number; what?: string }): Promise<() => Promise<void>> {
  const name = `\0triplane-lock:${createHash('sha256').update(resolve(path)).digest('hex').slice(0, 40)}`;
  const deadline = Date.now() + o.waitMs;
  for (;;) {
    const server = await bind(name);
    if (server) {
      // Never keeps the process alive: a lock held "until exit" ends with the process.
      server.unref();
      await writeFile(path, String(process.pid), { mode: 0o600 }).catch(() => undefined);
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        // The file first: once the name is free, the next holder writes its own pid there.
        await rm(path, { force: true });
        await new Promise<void>((r) => server.close(() => r()));
      };
    }
    if (Date.now() > deadline) {
      const holder = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10);
      throw new TriplaneError(
        'TRIPLANE_ERR_LOCKED',
        `${path} is held${Number.isInteger(holder) ? ` by pid ${holder}` : ''}; ${o.what ?? 'another holder'} is running`,
      );
    }
    await sleep(250);
  }
}

/** The bound server, or undefined when another process holds the name. */
function bind(name: string): Promise<Server | undefined> {
  return new Promise((resolvePromise, reject) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') resolvePromise(undefined);
      else reject(e);
    });
    s.listen({ path: name, exclusive: true }, () => resolvePromise(s));
  });
}

export async function withLock<T>(path: string, waitMs: number, fn: () => Promise<T>, what?: string): Promise<T> {
  const release = await acquireLock(path, what === undefined ? { waitMs } : { waitMs, what });
  try {
    return await fn();
  } finally {
    await release();
  }
}
