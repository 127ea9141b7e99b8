/**
 * The backup's pace on the server: ceilings an operator can set on the agent, all off by default.
 *
 * - `TRIPLANE_BACKUP_IO_READ_MIB`: disk reads of backup/prune/check, per job (cgroup blkio
 *   throttle on every disk).
 * - `TRIPLANE_BACKUP_IO_WRITE_MIB`: the same for writes. On ext4 a throttled `fsync` holds the
 *   journal that the database's own commits wait on (measured: cached p99 2.4× with 8 MiB/s).
 * - `TRIPLANE_BACKUP_LIMIT_UPLOAD_KIB`: restic's own `--limit-upload` (user space, no kernel lock
 *   held while it waits): for a metered link or a slow repository disk.
 *
 * Off by default because they did not help the storefront here (bench/RESULTS.md, "backup,
 * session 6"): with reads and uploads at 12 MiB/s the storefront's pooled p99 during a full
 * backup was 1.47–1.85× (cached) against 1.06–1.10× unpaced, and the backup took 228 s instead
 * of 165 s. The lane's `cpu.idle`, nice 19 and the dump's thread lending do the isolation; a
 * longer backup only stretches whatever remains. Restores are never paced. 0 or unset = off; a
 * malformed value counts as unset.
 */
export const BACKUP_PACE_DEFAULTS = { readMiB: 0, writeMiB: 0, uploadKiB: 0 };

function numberOr(v: string | undefined, dflt: number): number {
  if (v === undefined || v.trim() === '') return dflt;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? n : dflt;
}

export function uploadKiB(env: NodeJS.ProcessEnv): number {
  return Math.round(numberOr(env.TRIPLANE_BACKUP_LIMIT_UPLOAD_KIB, BACKUP_PACE_DEFAULTS.uploadKiB));
}

/** Disk ceilings of restic's background commands, bytes/s; see LaneCgroupOptions.ioLimit. */
export function backupIoLimit(env: NodeJS.ProcessEnv): { readBps?: number; writeBps?: number } {
  const readBps = Math.round(numberOr(env.TRIPLANE_BACKUP_IO_READ_MIB, BACKUP_PACE_DEFAULTS.readMiB) * 1024 * 1024);
  const writeBps = Math.round(numberOr(env.TRIPLANE_BACKUP_IO_WRITE_MIB, BACKUP_PACE_DEFAULTS.writeMiB) * 1024 * 1024);
  return { ...(readBps ? { readBps } : {}), ...(writeBps ? { writeBps } : {}) };
}
