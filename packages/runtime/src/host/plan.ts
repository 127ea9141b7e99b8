import { renderContainersConf, renderStorageConf } from './containers-conf.ts';
import type { HostFacts } from './facts.ts';
import { CONTAINERS_SUBID, ensureSubidEntry, TRIPLANE_SUBID } from './subid.ts';

/**
 * Pure planning for `triplane host prepare`: preconditions that stop us (with what to do)
 * and the idempotent actions that bring the host to the state the runtime needs. A host
 * that is already prepared plans zero actions.
 */
export const HOST_PACKAGES = [
  'podman',
  'runc',
  'uidmap',
  'slirp4netns',
  'fuse-overlayfs',
  'catatonit',
  'containernetworking-plugins',
  'iptables',
  'debootstrap',
] as const;

export const CONTAINERS_CONF = '/etc/containers/containers.conf';
export const STORAGE_CONF = '/etc/containers/storage.conf';
export const SUBUID = '/etc/subuid';
export const SUBGID = '/etc/subgid';
/**
 * containers/storage caches "a mount_program (fuse-overlayfs) is in use" here. If it says
 * true while storage.conf has no mount_program (someone tried fuse-overlayfs once), every
 * --userns container fails with `open .../merged/run/.containerenv: permission denied`
 * because id-mapped lower layers get disabled (measured). Removing it makes podman re-probe.
 */
export const OVERLAY_MOUNT_PROGRAM_FLAG = '/var/lib/containers/storage/overlay/.has-mount-program';
/**
 * The edge runs one worker per core, each on its own SO_REUSEPORT listener: with tcp_migrate_req=1
 * the kernel moves connections queued on a closing listener (rolling restart) to another worker's
 * instead of resetting them (Linux ≥ 5.14).
 */
export const TCP_MIGRATE_REQ = '/proc/sys/net/ipv4/tcp_migrate_req';
export const SYSCTL_CONF = '/etc/sysctl.d/60-triplane.conf';
export const SYSCTL_CONTENT =
  '# written by `triplane host prepare`: edge worker restarts drop no queued connection\nnet.ipv4.tcp_migrate_req = 1\n';
export const HOST_FILES = [
  CONTAINERS_CONF,
  STORAGE_CONF,
  SUBUID,
  SUBGID,
  OVERLAY_MOUNT_PROGRAM_FLAG,
  TCP_MIGRATE_REQ,
  SYSCTL_CONF,
] as const;

/** Images (~0.7 GB) + rootfs tarball + a few sites. */
export const DEFAULT_MIN_FREE_BYTES = 4 * 1024 ** 3;

export interface Problem {
  code: `TRIPLANE_ERR_${string}`;
  message: string;
}

export type HostAction =
  | { kind: 'apt-install'; packages: string[] }
  | { kind: 'write-file'; path: string; content: string; mode: number }
  | { kind: 'chmod'; path: string; mode: number }
  | { kind: 'remove-file'; path: string }
  | { kind: 'make-rshared' }
  | { kind: 'sysctl'; path: string; value: string };

export function checkPreconditions(f: HostFacts, minFreeBytes = DEFAULT_MIN_FREE_BYTES): Problem[] {
  const out: Problem[] = [];
  if (f.uid !== 0) {
    out.push({
      code: 'TRIPLANE_ERR_HOST_NOT_ROOT',
      message: 'host preparation installs packages and writes /etc/containers: run it as root (sudo triplane host prepare)',
    });
  }
  if (f.maxUserNamespaces === null || f.maxUserNamespaces < 1000) {
    out.push({
      code: 'TRIPLANE_ERR_HOST_NO_USERNS',
      message: `user namespaces are ${f.maxUserNamespaces === null ? 'not available in this kernel' : `limited to ${f.maxUserNamespaces}`}; every site runs in its own user namespace: set \`sysctl -w user.max_user_namespaces=15000\` (and persist it in /etc/sysctl.d) or use a kernel with CONFIG_USER_NS`,
    });
  }
  if (f.freeBytesStore < minFreeBytes) {
    const gib = (n: number) => (n / 1024 ** 3).toFixed(1);
    out.push({
      code: 'TRIPLANE_ERR_HOST_DISK_FULL',
      message: `only ${gib(f.freeBytesStore)} GiB free for /var/lib/containers; Triplane needs at least ${gib(minFreeBytes)} GiB (images ~0.7 GB plus site data): free space or mount a larger disk there`,
    });
  }
  return out;
}

/** Actions still needed, in order. Subid conflicts are returned as problems. */
export function planHost(f: HostFacts): { actions: HostAction[]; problems: Problem[] } {
  const actions: HostAction[] = [];
  const problems: Problem[] = [];
  const missing = HOST_PACKAGES.filter((p) => !f.packages[p]);
  if (missing.length > 0) actions.push({ kind: 'apt-install', packages: [...missing] });

  const conf = renderContainersConf({ hardNofile: f.hardNofile, hardNproc: f.hardNproc });
  if (f.files[CONTAINERS_CONF] !== conf) actions.push({ kind: 'write-file', path: CONTAINERS_CONF, content: conf, mode: 0o644 });
  const storage = renderStorageConf();
  if (f.files[STORAGE_CONF] !== storage) actions.push({ kind: 'write-file', path: STORAGE_CONF, content: storage, mode: 0o644 });
  if (f.files[OVERLAY_MOUNT_PROGRAM_FLAG]?.trim() === 'true' && !storage.includes('mount_program')) {
    actions.push({ kind: 'remove-file', path: OVERLAY_MOUNT_PROGRAM_FLAG });
  }

  for (const file of [SUBUID, SUBGID]) {
    let content = f.files[file] ?? '';
    let changed = false;
    for (const want of [CONTAINERS_SUBID, TRIPLANE_SUBID]) {
      const d = ensureSubidEntry(content, want, file);
      if (d.kind === 'conflict') problems.push({ code: 'TRIPLANE_ERR_HOST_SUBID_CONFLICT', message: d.message });
      else if (d.kind === 'append') {
        content = d.content;
        changed = true;
      }
    }
    if (changed) actions.push({ kind: 'write-file', path: file, content, mode: 0o644 });
  }

  // Rootless slirp4netns (maintenance, tests) needs it; not persistent without udev (pitfall 3).
  if (f.tunMode !== null && (f.tunMode & 0o666) !== 0o666) actions.push({ kind: 'chmod', path: '/dev/net/tun', mode: 0o666 });
  if (!f.rootShared) actions.push({ kind: 'make-rshared' });
  // an older kernel has no such knob: nothing to do (rolling restarts may then reset a few queued connections)
  const migrate = f.files[TCP_MIGRATE_REQ];
  if (migrate !== null && migrate !== undefined) {
    if (migrate.trim() !== '1') actions.push({ kind: 'sysctl', path: TCP_MIGRATE_REQ, value: '1' });
    if (f.files[SYSCTL_CONF] !== SYSCTL_CONTENT)
      actions.push({ kind: 'write-file', path: SYSCTL_CONF, content: SYSCTL_CONTENT, mode: 0o644 });
  }
  return { actions, problems };
}
