/**
 * The backup's pace on the server, measured in bench/RESULTS.md ("backup, session 6"): without
 * ceilings a full backup read and wrote 20–30 MB/s and the storefront's p99 rose 1.3–1.4× during
 * its files phase under a paced load; reads ≤ 12 MiB/s and repository writes ≤ 12 MiB/s brought
 * that to noise level (0.97× cached, 1.21× uncached), at ~90 s per GB for a first full backup.
 * Incremental backups read only changed files and barely notice. Restores are never slowed.
 *
 * - `TRIPLANE_BACKUP_IO_READ_MIB` (default 12): disk reads of backup/prune/check, per job
 *   (cgroup blkio throttle, every disk).
 * - `TRIPLANE_BACKUP_IO_WRITE_MIB` (default 0 = off): the same for writes. Off because on ext4 a
 *   throttled fsync holds the journal that the database's own commits wait on (measured 2.4×
 *   worse cached p99 with 8 MiB/s).
 * - `TRIPLANE_BACKUP_LIMIT_UPLOAD_KIB` (default 12288): restic's own `--limit-upload`, in user
 *   space, so no kernel lock is held while it waits.
 * 0 turns any of them off; a malformed value counts as unset.
 */
export const BACKUP_PACE_DEFAULTS = { readMiB: 12, writeMiB: 0, uploadKiB: 12 * 1024 };

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
