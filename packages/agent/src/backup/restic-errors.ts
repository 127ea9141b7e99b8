/**
 * restic failures → TriplaneError with stable codes. restic 0.14 exits 1 for nearly every
 * fatal error (the distinct exit codes came in 0.17), so the class of failure is read from
 * its stderr; the patterns below were taken from restic 0.14.0's real output (see the tests).
 *
 * Example:
 *   throw classifyResticFailure({ op: 'check', stderr, exitCode: 1, signal: null, secrets });
 *   // → TriplaneError('TRIPLANE_ERR_BACKUP_REPO_CORRUPT', 'restic check: the repository is damaged', { stderrTail })
 */
import { TriplaneError } from '@triplane/kernel';

/** Codes thrown by the backup layer (stable; the executor and API switch on them). */
export const BACKUP_ERROR_CODES = {
  repoNotFound: 'TRIPLANE_ERR_BACKUP_REPO_NOT_FOUND',
  repoCorrupt: 'TRIPLANE_ERR_BACKUP_REPO_CORRUPT',
  repoLocked: 'TRIPLANE_ERR_BACKUP_REPO_LOCKED',
  wrongPassword: 'TRIPLANE_ERR_BACKUP_WRONG_PASSWORD',
  snapshotNotFound: 'TRIPLANE_ERR_BACKUP_SNAPSHOT_NOT_FOUND',
  pathNotFound: 'TRIPLANE_ERR_BACKUP_PATH_NOT_FOUND',
  noSpace: 'TRIPLANE_ERR_BACKUP_NO_SPACE',
  sourceFailed: 'TRIPLANE_ERR_BACKUP_SOURCE_FAILED',
  failed: 'TRIPLANE_ERR_BACKUP_FAILED',
  cancelled: 'TRIPLANE_ERR_BACKUP_CANCELLED',
} as const;

export type BackupErrorCode = (typeof BACKUP_ERROR_CODES)[keyof typeof BACKUP_ERROR_CODES];

interface Rule {
  code: BackupErrorCode;
  test: RegExp;
  message: string;
}

// Order matters: a full disk while writing a lock is NO_SPACE, not LOCKED.
const RULES: readonly Rule[] = [
  {
    code: BACKUP_ERROR_CODES.noSpace,
    test: /no space left on device|disk quota exceeded/i,
    message: 'no space left on the device (repository, restore target or temp dir)',
  },
  { code: BACKUP_ERROR_CODES.wrongPassword, test: /wrong password or no key found/i, message: 'wrong repository password' },
  {
    code: BACKUP_ERROR_CODES.repoNotFound,
    test: /Is there a repository at the following location\?|unable to open config file/i,
    message: 'no restic repository at the configured location',
  },
  {
    code: BACKUP_ERROR_CODES.repoLocked,
    test: /repository is already locked/i,
    message: 'the repository is locked by another running restic process',
  },
  {
    code: BACKUP_ERROR_CODES.snapshotNotFound,
    test: /no matching ID found|invalid id ".*"|no snapshot found|snapshot .* not found/i,
    message: 'snapshot not found',
  },
  { code: BACKUP_ERROR_CODES.sourceFailed, test: /snapshot is empty/i, message: 'the backup source produced no data' },
  { code: BACKUP_ERROR_CODES.pathNotFound, test: /path ".*" not found in snapshot/i, message: 'path not found in the snapshot' },
  {
    code: BACKUP_ERROR_CODES.repoCorrupt,
    test: /repository contains errors|ciphertext verification failed|Pack ID does not match|pack [0-9a-f]+: does not exist|Load\(<data\/[0-9a-f]+>.*no such file or directory|unexpected EOF|invalid data returned|wrong (pack|blob) (size|length)/i,
    message: 'the repository is damaged',
  },
];

/**
 * Lines restic prints while it retries a read that cannot succeed: watching for them lets
 * the caller stop restic at once instead of after its ~15 minutes of backoff.
 */
export function fatalWhileRunning(line: string): BackupErrorCode | null {
  if (/no space left on device/i.test(line)) return BACKUP_ERROR_CODES.noSpace;
  if (/^pack [0-9a-f]+: does not exist/.test(line)) return BACKUP_ERROR_CODES.repoCorrupt;
  if (/^Load\(<data\/[0-9a-f]+>.*returned error, retrying.*no such file or directory/.test(line))
    return BACKUP_ERROR_CODES.repoCorrupt;
  return null;
}

export interface ResticFailure {
  op: string;
  stderr: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Values that must never appear in an error (env secrets, repository URL credentials). */
  secrets?: readonly string[];
  /** A code already decided while restic ran (fatalWhileRunning). */
  code?: BackupErrorCode;
  oomKilled?: boolean;
}

export function classifyResticFailure(f: ResticFailure): TriplaneError {
  const tail = stderrTail(f.stderr, f.secrets ?? []);
  const details = {
    op: f.op,
    exitCode: f.exitCode,
    signal: f.signal,
    stderrTail: tail,
    ...(f.oomKilled ? { oomKilled: true } : {}),
  };
  if (f.code) {
    const rule = RULES.find((r) => r.code === f.code);
    return new TriplaneError(f.code, `restic ${f.op}: ${rule?.message ?? 'failed'}`, details);
  }
  for (const r of RULES) {
    if (r.test.test(f.stderr)) return new TriplaneError(r.code, `restic ${f.op}: ${r.message}`, details);
  }
  if (f.exitCode === 127) return new TriplaneError(BACKUP_ERROR_CODES.failed, `restic ${f.op}: restic binary not found`, details);
  const why = f.oomKilled
    ? 'killed by the job memory bound'
    : f.signal
      ? `killed by ${f.signal}`
      : `exit code ${f.exitCode ?? 'unknown'}`;
  return new TriplaneError(BACKUP_ERROR_CODES.failed, `restic ${f.op} failed (${why})`, details);
}

const TAIL_LINES = 20;
const TAIL_CHARS = 2000;

/** The last lines of restic's stderr, with secrets and URL credentials masked. */
export function stderrTail(stderr: string, secrets: readonly string[]): string {
  let s = stderr
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '')
    .slice(-TAIL_LINES)
    .join('\n');
  if (s.length > TAIL_CHARS) s = s.slice(-TAIL_CHARS);
  return redact(s, secrets);
}

export function redact(s: string, secrets: readonly string[]): string {
  let out = s;
  // Longest first, so a secret containing another is masked whole.
  for (const secret of [...secrets].filter((x) => x.length >= 4).sort((a, b) => b.length - a.length)) {
    out = out.split(secret).join('***');
  }
  // user:password@ in rest:/s3:/sftp: URLs
  return out.replace(/(\/\/|sftp:)([^/@\s:]+):([^@\s/]+)@/g, '$1$2:***@');
}
