import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { withLock } from '@triplane/kernel';
import { TriplaneError } from '../errors.ts';
import { run } from '../exec.ts';
import { gatherFacts } from './facts.ts';
import type { HostAction } from './plan.ts';
import { checkPreconditions, DEFAULT_MIN_FREE_BYTES, HOST_FILES, HOST_PACKAGES, planHost } from './plan.ts';

/**
 * `triplane host prepare`: idempotent; gathers facts, stops on a failed precondition
 * with a message saying what to do, then applies only the missing actions. Safe to run
 * at every `make up`/`make test` and at boot (it redoes /dev/net/tun and the rshared mount,
 * which do not survive a reboot here).
 *
 * Example:
 *   const r = await prepareHost({ onProgress: (m) => console.error(m) });
 *   r.applied // [] on a prepared host
 */
export interface PrepareOptions {
  onProgress?: (message: string) => void;
  /** Only report what would be done. */
  dryRun?: boolean;
  minFreeBytes?: number;
}

export interface PrepareResult {
  applied: HostAction[];
  dryRun: boolean;
}

function describe(a: HostAction): string {
  switch (a.kind) {
    case 'apt-install':
      return `apt-get install ${a.packages.join(' ')}`;
    case 'write-file':
      return `write ${a.path}`;
    case 'chmod':
      return `chmod ${a.mode.toString(8)} ${a.path}`;
    case 'make-rshared':
      return 'mount --make-rshared /';
    case 'remove-file':
      return `remove stale ${a.path}`;
    case 'sysctl':
      return `sysctl ${a.path.replace('/proc/sys/', '').replaceAll('/', '.')}=${a.value}`;
  }
}

async function writeAtomic(path: string, content: string, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.triplane-tmp`;
  await writeFile(tmp, content, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

async function apply(a: HostAction, log: (m: string) => void): Promise<void> {
  switch (a.kind) {
    case 'apt-install': {
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      const install = () =>
        run('apt-get', ['install', '-y', '--no-install-recommends', '-o', 'Dpkg::Options::=--force-confold', ...a.packages], {
          env,
          allowFailure: true,
          timeoutMs: 20 * 60_000,
        });
      let r = await install();
      if (r.code !== 0) {
        log('apt-get install failed; running apt-get update and retrying');
        await run('apt-get', ['update'], { env, allowFailure: true, timeoutMs: 10 * 60_000 });
        r = await install();
      }
      if (r.code !== 0) {
        throw new TriplaneError(
          'TRIPLANE_ERR_HOST_APT_FAILED',
          `apt-get install ${a.packages.join(' ')} failed (check the apt sources and network): ${r.stderr.trim().split('\n').slice(-5).join(' | ')}`,
        );
      }
      return;
    }
    case 'write-file':
      await writeAtomic(a.path, a.content, a.mode);
      return;
    case 'chmod':
      await chmod(a.path, a.mode);
      return;
    case 'make-rshared':
      await run('mount', ['--make-rshared', '/']);
      return;
    case 'remove-file':
      await rm(a.path, { force: true });
      return;
    case 'sysctl':
      await writeFile(a.path, `${a.value}\n`);
      return;
  }
}

/** Serialises concurrent preparations (parallel test files, agent + CLI): apt holds a lock too. */
export const PREPARE_LOCK = '/run/triplane/host-prepare.lock';

export async function prepareHost(opts: PrepareOptions = {}): Promise<PrepareResult> {
  if (process.getuid?.() === 0 && !opts.dryRun) {
    await mkdir(dirname(PREPARE_LOCK), { recursive: true, mode: 0o755 });
    return withLock(PREPARE_LOCK, 30 * 60_000, () => prepareUnlocked(opts));
  }
  return prepareUnlocked(opts);
}

async function prepareUnlocked(opts: PrepareOptions): Promise<PrepareResult> {
  const log = opts.onProgress ?? (() => {});
  const facts = await gatherFacts(HOST_PACKAGES, HOST_FILES);
  const pre = checkPreconditions(facts, opts.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES);
  const first = pre[0];
  if (first) throw new TriplaneError(first.code, first.message, { problems: pre });
  // Package installs change nothing else we plan on, but the conf files must be written
  // after podman's package exists (it owns /etc/containers).
  const { actions, problems } = planHost(facts);
  const conflict = problems[0];
  if (conflict) throw new TriplaneError(conflict.code, conflict.message, { problems });
  if (opts.dryRun) {
    for (const a of actions) log(`would ${describe(a)}`);
    return { applied: actions, dryRun: true };
  }
  for (const a of actions) {
    log(describe(a));
    await apply(a, log);
  }
  return { applied: actions, dryRun: false };
}
