import { readlinkSync } from 'node:fs';

/**
 * `nsenter` arguments that run a command in a running container's user, mount, network, uts and
 * ipc namespaces, as the container's root, in this process's cgroups (see execLow in
 * executor.ts for why not `podman exec`). Namespaces the container shares with us are left out:
 * entering one's own user namespace fails with EINVAL (a container without `--userns`).
 *
 * Not the pid namespace: entering it makes nsenter fork and stay as a middleman that stops itself
 * whenever its child stops, and a SIGSTOP/SIGCONT of the job could leave it stopped for good,
 * never reaping the dump. Without it nsenter execs straight into the command.
 */
export function nsenterArgs(pid: number, argv: readonly string[]): string[] {
  const flags: string[] = [];
  for (const [ns, flag] of [
    ['user', '--user'],
    ['mnt', '--mount'],
    ['net', '--net'],
    ['uts', '--uts'],
    ['ipc', '--ipc'],
  ] as const) {
    let same = false;
    try {
      same = readlinkSync(`/proc/${pid}/ns/${ns}`) === readlinkSync(`/proc/self/ns/${ns}`);
    } catch {
      // unreadable: let nsenter try and report
    }
    if (!same) flags.push(flag);
  }
  return ['--target', String(pid), ...flags, '--root', '--wd', ...argv];
}
