/**
 * Renders /etc/containers/containers.conf and /etc/containers/storage.conf exactly as
 * measured in shared/specs/runtime-podman.md (pitfalls 1, 2 and 4). Pure.
 *
 * The ulimits must stay at or below the host's hard limits because CAP_SYS_RESOURCE is
 * missing on these VMs (podman's built-in 1048576/4194304 fail with setrlimit EPERM);
 * `hardNofile`/`hardNproc` clamp the defaults when a host has lower hard limits.
 */
export interface ContainersConfInput {
  /** Host hard limits (`ulimit -Hn`, `ulimit -Hu`); `null` = unlimited. */
  hardNofile: number | null;
  hardNproc: number | null;
}

export const DEFAULT_NOFILE = 16384;
export const DEFAULT_NPROC = 8192;

function clamp(want: number, hard: number | null): number {
  return hard === null ? want : Math.min(want, hard);
}

export function renderContainersConf(input: ContainersConfInput): string {
  const nofile = clamp(DEFAULT_NOFILE, input.hardNofile);
  const nproc = clamp(DEFAULT_NPROC, input.hardNproc);
  return `# Written by \`triplane host prepare\`; rewritten when it differs. Do not edit by hand.
# Facts behind every line: shared/specs/runtime-podman.md.
[containers]
# Podman's defaults (1048576/4194304) exceed the host hard limits and CAP_SYS_RESOURCE is
# missing here -> "setrlimit RLIMIT_NOFILE: Operation not permitted". Stay below them.
default_ulimits = [
  "nofile=${nofile}:${nofile}",
  "nproc=${nproc}:${nproc}",
]
# No journald (PID 1 is not systemd).
log_driver = "k8s-file"

[engine]
# crun fails with "cgroups in hybrid mode not supported".
runtime = "runc"
# No systemd -> cgroupfs and file events.
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
# Pinned: podman 4.3 would pick netavark on a fresh store if it were installed; the
# platform is measured on CNI (bridge + portmap for hostIP 127.0.0.1 ports).
network_backend = "cni"
`;
}

export function renderStorageConf(): string {
  return `# Written by \`triplane host prepare\`; rewritten when it differs. Do not edit by hand.
# Without this file rootless podman silently uses vfs (a full copy per layer).
[storage]
driver = "overlay"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"

[storage.options.overlay]
mountopt = "nodev"
`;
}
