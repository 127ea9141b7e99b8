/**
 * One restic repository, driven through the restic CLI (Debian `restic`, 0.14+) in the
 * low-priority lane. Every method maps restic failures to TriplaneError codes
 * (restic-errors.ts), reports progress from restic's `--json` status lines where restic has
 * them, and stops restic when `signal` aborts (TRIPLANE_ERR_BACKUP_CANCELLED).
 *
 * Example:
 *   const repo = new Restic({ repository: '/var/lib/triplane/backups', passwordFile: '/etc/triplane/restic.pw' });
 *   await repo.ensureInit();
 *   const dump = spawnLowPriority('mariadb-dump', ['--single-transaction', 'shop']);
 *   const snap = await repo.backupStdin(dump, { filename: 'db.sql', tags: ['site:shop'], host: 'shop' });
 *   repo.dumpFile(snap.snapshotId, '/db.sql').pipe(out);
 *
 * A stdin backup never sees EOF unless its producer succeeded (see backupStdin and README.md),
 * so a dying mariadb-dump can never become a listed snapshot.
 */
import type { ChildProcess } from 'node:child_process';
import { lstat, readdir } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { TriplaneError } from '@triplane/kernel';
import { type LowPriorityChild, type LowPriorityOptions, spawnLowPriority } from './lowprio.ts';
import { BACKUP_ERROR_CODES, type BackupErrorCode, classifyResticFailure, fatalWhileRunning, redact } from './restic-errors.ts';

export interface ResticOptions {
  /** A local directory, `sftp:user@host:/path`, `s3:https://host/bucket`, `rest:…`. */
  repository: string;
  passwordFile: string;
  /** Backend credentials and the like (`AWS_ACCESS_KEY_ID`…); masked in every error. */
  env?: Record<string, string>;
  cacheDir?: string;
  /** restic executable (default `restic` from PATH). */
  binary?: string;
  /** Concurrent backend operations (`-o <backend>.connections`); default 1 local, 2 remote. */
  connections?: number;
  /** The low-priority lane (nice, ionice, cgroup, GOMAXPROCS…); see lowprio.ts. */
  lane?: LowPriorityOptions;
  /**
   * `--limit-upload` (KiB/s) for every command: bounds what restic writes to the repository, and
   * so the kernel's writeback of it, which runs outside the low-priority lane (bench/RESULTS.md).
   */
  limitUploadKiB?: number;
  /**
   * Disk ceilings (bytes/s) for the commands that run behind the storefront's back — backup,
   * forget/prune, check — as `LaneCgroupOptions.ioLimit`. Never for restore and dump: those are
   * someone waiting on an incident.
   */
  backgroundIo?: { readBps?: number; writeBps?: number };
  /** How long restic gets to remove its lock after SIGINT before it is killed (default 3000 ms). */
  killGraceMs?: number;
  /** restic status lines per second (default 1). */
  progressFps?: number;
}

export interface Progress {
  /** 0..100; 0 while unknown (a stdin backup has no total). */
  percent: number;
  message: string;
}

export interface RunOptions {
  signal?: AbortSignal;
  onProgress?(p: Progress): void;
}

export interface Snapshot {
  id: string;
  shortId: string;
  /** ISO 8601, as restic recorded it. */
  time: string;
  hostname: string;
  username: string;
  tags: string[];
  paths: string[];
  tree: string;
  parent?: string;
}

export interface BackupResult {
  /** The full snapshot id, confirmed by listing it after restic finished. */
  snapshotId: string;
  shortId: string;
  time: string;
  dataAdded: number;
  totalBytesProcessed: number;
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
}

export interface BackupCommon extends RunOptions {
  tags: string[];
  host: string;
  /** Snapshot time (default now); retention counts days by this time. */
  time?: Date;
}

export interface BackupStdinOptions extends BackupCommon {
  /** Name of the file in the snapshot (stored as `/<filename>`). */
  filename: string;
  /** Extra success condition of the producer; EOF reaches restic only after it resolves. */
  sourceDone?: Promise<unknown>;
}

export interface BackupPathsOptions extends BackupCommon {
  excludes?: string[];
}

export interface RetentionPolicy {
  keepLast?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
}

export interface ForgetOptions extends RunOptions {
  /** Only snapshots carrying all of these tags. */
  tags?: string[];
  host?: string;
  /** restic `--group-by` (default `host,tags`). */
  groupBy?: string;
  /** Remove unreferenced data too (default true). */
  prune?: boolean;
}

export interface ForgetResult {
  kept: Snapshot[];
  removed: Snapshot[];
}

export interface RepoStats {
  /** Bytes of all blobs stored (restic `stats --mode raw-data`). */
  totalSize: number;
  totalUncompressedSize?: number;
  blobCount: number;
  snapshotCount: number;
}

interface ExecOptions {
  signal?: AbortSignal | undefined;
  stdin?: boolean;
  onStdoutLine?: (line: string) => void;
  /** Stream stdout to the caller instead of buffering it. */
  rawStdout?: boolean;
  /** restic's prune refuses to repack with fewer than two backend connections. */
  minConnections?: number;
  /** Runs behind the storefront's back: `backgroundIo` applies. */
  background?: boolean;
}

interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  cancelled: boolean;
  fatalCode: BackupErrorCode | null;
  oomKilled: boolean;
  spawnError: Error | null;
}

interface Exec {
  child: LowPriorityChild;
  result: Promise<ExecResult>;
  /** Stops restic (SIGINT so it drops its lock, SIGKILL after the grace period). */
  stop(): void;
}

const STDERR_KEEP = 64 * 1024;
const CLOSED = Symbol('restic exited');
const SNAPSHOT_ID = /^(latest|[0-9a-f]{4,64})$/;

export class Restic {
  readonly repository: string;
  readonly #o: ResticOptions;
  readonly #secrets: string[];

  constructor(opts: ResticOptions) {
    if (!opts.repository) throw new TriplaneError('TRIPLANE_ERR_CONFIG', 'restic: repository is required');
    if (!opts.passwordFile) throw new TriplaneError('TRIPLANE_ERR_CONFIG', 'restic: passwordFile is required');
    this.repository = opts.repository;
    this.#o = opts;
    this.#secrets = Object.values(opts.env ?? {});
  }

  /** Creates the repository only when none is there. A wrong password is an error, never a re-init. */
  async ensureInit(opts: RunOptions = {}): Promise<{ created: boolean }> {
    try {
      await this.#run('init', ['cat', 'config', '--no-lock'], opts);
      return { created: false };
    } catch (e) {
      if (!isCode(e, BACKUP_ERROR_CODES.repoNotFound)) throw e;
    }
    opts.onProgress?.({ percent: 0, message: 'creating repository' });
    try {
      await this.#run('init', ['init'], { signal: opts.signal });
      return { created: true };
    } catch (e) {
      // Another agent created it meanwhile (restic init never overwrites a config): re-check.
      if (isCode(e, BACKUP_ERROR_CODES.cancelled)) throw e;
      try {
        await this.#run('init', ['cat', 'config', '--no-lock'], opts);
      } catch {
        throw e;
      }
      return { created: false };
    }
  }

  /**
   * Streams `source` into a snapshot as `/<filename>`. The source is a Readable, or a
   * ChildProcess whose stdout is read and whose exit code must be 0. restic only gets EOF
   * after the stream ended cleanly, the producer exited 0 and `sourceDone` resolved;
   * otherwise restic is stopped while its stdin is still open — it cannot have written a
   * snapshot — and TRIPLANE_ERR_BACKUP_SOURCE_FAILED is thrown. On any failure the source
   * stream is destroyed (a producer process then gets EPIPE); killing it stays the caller's job.
   */
  async backupStdin(source: Readable | ChildProcess, opts: BackupStdinOptions): Promise<BackupResult> {
    // Awaited only after the stream ends; until then its rejection must not count as unhandled.
    opts.sourceDone?.catch(() => undefined);
    const producer = isChildProcess(source) ? source : null;
    const stream = producer ? producer.stdout : (source as Readable);
    if (!stream) throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'backupStdin: the producer has no stdout pipe');
    // A stream someone else already reads (or node resumed after its producer exited) would
    // reach restic with holes: refuse it rather than snapshot a partial dump.
    if (stream.readableFlowing === true || stream.readableEnded || stream.destroyed) {
      throw new TriplaneError(
        BACKUP_ERROR_CODES.sourceFailed,
        'backup source was already consumed; pass the producer right after spawning it',
        {
          op: 'backup',
        },
      );
    }
    // Start reading now: node resumes (and so discards) a child's unread stdout when the child
    // exits, which would silently truncate a fast dump while we unlock. A pending read keeps a
    // 'readable' listener on the stream, and resume() is a no-op then.
    const chunks = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
    const firstChunk = chunks.next();
    firstChunk.catch(() => undefined);
    if (!opts.filename || opts.filename.includes('\0') || opts.filename.startsWith('/')) {
      stream.destroy();
      throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'backupStdin: filename must be a relative name', {
        filename: opts.filename,
      });
    }
    try {
      checkTagsHost(opts);
      throwIfAborted(opts.signal);
      // The stream can be read only once, so a stale lock must be gone before restic starts.
      if (await this.#mayHaveLocks()) await this.unlock({ signal: opts.signal });
    } catch (e) {
      stream.destroy();
      throw e;
    }

    const args = ['backup', '--json', '--stdin', `--stdin-filename=${opts.filename}`, ...snapshotMeta(opts)];
    let summary: Record<string, unknown> | null = null;
    const exec = this.#exec(args, {
      signal: opts.signal,
      stdin: true,
      background: true,
      onStdoutLine: (line) => {
        summary = handleBackupLine(line, opts.onProgress) ?? summary;
      },
    });
    const stdin = exec.child.stdin as Writable;
    stdin.on('error', () => {
      // EPIPE once restic is gone; the exit status tells why
    });

    let sourceError: unknown = null;
    // Every wait also ends when restic does (full disk, cancel…): then the source is abandoned.
    const closed = exec.result.then((): typeof CLOSED => CLOSED);
    const pump = async (): Promise<void> => {
      try {
        const producerExit = producer ? waitExit(producer) : null;
        for (
          let next = await Promise.race([firstChunk, closed]);
          next !== CLOSED;
          next = await Promise.race([chunks.next(), closed])
        ) {
          if (next.done) break;
          if (!stdin.write(next.value) && (await Promise.race([once(stdin, 'drain'), closed])) === CLOSED) return;
        }
        if (producerExit) {
          const exit = await Promise.race([producerExit, closed]);
          if (exit === CLOSED) return;
          if (exit.code !== 0)
            throw new Error(`producer exited with ${exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`}`);
        }
        if (opts.sourceDone && (await Promise.race([opts.sourceDone, closed])) === CLOSED) return;
      } catch (e) {
        sourceError = e;
        // Stop restic BEFORE its stdin closes: EOF would make it save the truncated stream.
        exec.stop();
        return;
      }
      stdin.end();
    };
    const pumped = pump();
    const r = await exec.result;
    await pumped;
    if (!stream.destroyed && (r.exitCode !== 0 || sourceError)) stream.destroy();
    stdin.destroy();

    const got = summary as Record<string, unknown> | null;
    const shortId = typeof got?.snapshot_id === 'string' ? got.snapshot_id : null;
    if (sourceError || r.cancelled || r.exitCode !== 0) {
      // Unreachable while EOF is withheld, but a snapshot of a failed source must never stay listed.
      if (shortId && r.exitCode === 0) await this.forgetIds([shortId]).catch(() => undefined);
      if (r.cancelled) throw cancelledError('backup');
      if (sourceError) {
        throw new TriplaneError(BACKUP_ERROR_CODES.sourceFailed, `backup source failed: ${errMessage(sourceError)}`, {
          op: 'backup',
          filename: opts.filename,
        });
      }
      throw this.#failure('backup', r);
    }
    return this.#confirm(got, opts.signal);
  }

  /**
   * Backs up files and directories (absolute paths). A path that is missing or unreadable
   * fails the backup (TRIPLANE_ERR_BACKUP_SOURCE_FAILED) and the incomplete snapshot restic
   * made is forgotten: a half backup must not pass for a good one.
   */
  async backupPaths(paths: string[], opts: BackupPathsOptions): Promise<BackupResult> {
    checkTagsHost(opts);
    if (paths.length === 0) throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'backupPaths: no paths');
    for (const p of paths) {
      if (!isAbsolute(p)) throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'backupPaths: paths must be absolute', { path: p });
      try {
        await lstat(p);
      } catch (e) {
        throw new TriplaneError(BACKUP_ERROR_CODES.sourceFailed, `backup source missing: ${p}`, {
          path: p,
          reason: errMessage(e),
        });
      }
    }
    const args = [
      'backup',
      '--json',
      ...snapshotMeta(opts),
      ...(opts.excludes ?? []).map((x) => `--exclude=${x}`),
      '--',
      ...paths,
    ];
    let summary: Record<string, unknown> | null = null;
    const r = await this.#runWithLockRetry(args, {
      signal: opts.signal,
      background: true,
      onStdoutLine: (line) => {
        summary = handleBackupLine(line, opts.onProgress) ?? summary;
      },
    });
    const got = summary as Record<string, unknown> | null;
    const shortId = typeof got?.snapshot_id === 'string' ? got.snapshot_id : null;
    // restic: exit 3 = "incomplete snapshot created"; exit 0 with "does not exist, skipping" = a path vanished.
    const incomplete = r.exitCode === 3 || (r.exitCode === 0 && /does not exist, skipping|"message_type":"error"/.test(r.stderr));
    if (incomplete) {
      if (shortId) await this.forgetIds([shortId]).catch(() => undefined);
      throw new TriplaneError(BACKUP_ERROR_CODES.sourceFailed, 'backup incomplete: some source files could not be read', {
        op: 'backup',
        stderrTail: redact(r.stderr.split('\n').slice(-20).join('\n'), this.#secrets),
      });
    }
    if (r.cancelled) {
      if (shortId && r.exitCode === 0) await this.forgetIds([shortId]).catch(() => undefined);
      throw cancelledError('backup');
    }
    if (r.exitCode !== 0) throw this.#failure('backup', r);
    return this.#confirm(got, opts.signal);
  }

  /** Snapshots (oldest first), optionally only those carrying all `tags` / from `host`. */
  async snapshots(opts: { tags?: string[]; host?: string; signal?: AbortSignal } = {}): Promise<Snapshot[]> {
    const args = ['snapshots', '--json', ...filterArgs(opts)];
    const r = await this.#run('snapshots', args, { signal: opts.signal });
    return parseSnapshots(r.stdout);
  }

  /** Applies a retention policy (`restic forget --prune`) to the snapshots matching `tags`/`host`. */
  async forget(policy: RetentionPolicy, opts: ForgetOptions = {}): Promise<ForgetResult> {
    const keep: Array<[keyof RetentionPolicy, string]> = [
      ['keepLast', '--keep-last'],
      ['keepDaily', '--keep-daily'],
      ['keepWeekly', '--keep-weekly'],
      ['keepMonthly', '--keep-monthly'],
    ];
    const flags: string[] = [];
    for (const [k, flag] of keep) {
      const v = policy[k];
      if (v === undefined) continue;
      if (!Number.isInteger(v) || v < 0)
        throw new TriplaneError('TRIPLANE_ERR_VALIDATION', `forget: ${k} must be an integer ≥ 0`, { [k]: v });
      if (v > 0) flags.push(`${flag}=${v}`);
    }
    // With no keep rule restic would keep everything, which is never what a caller meant.
    if (flags.length === 0)
      throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'forget: the policy keeps nothing; give at least one keep rule');
    const args = [
      'forget',
      '--json',
      ...flags,
      `--group-by=${opts.groupBy ?? 'host,tags'}`,
      ...filterArgs(opts),
      ...(opts.prune === false ? [] : ['--prune']),
    ];
    opts.onProgress?.({ percent: 0, message: 'applying retention' });
    const r = await this.#runWithLockRetry(args, {
      signal: opts.signal,
      minConnections: opts.prune === false ? 1 : 2,
      background: true,
      onStdoutLine: (line) => {
        const m = /(\d+(?:\.\d+)?)%/.exec(line);
        if (m && !line.startsWith('[{')) opts.onProgress?.({ percent: Number(m[1]), message: 'pruning' });
      },
    });
    if (r.cancelled) throw cancelledError('forget');
    if (r.exitCode !== 0) throw this.#failure('forget', r);
    const jsonLine = r.stdout.split('\n').find((l) => l.startsWith('['));
    const groups = jsonLine ? (JSON.parse(jsonLine) as Array<{ keep?: unknown[]; remove?: unknown[] | null }>) : [];
    opts.onProgress?.({ percent: 100, message: 'retention applied' });
    return {
      kept: groups.flatMap((g) => (g.keep ?? []).map(toSnapshot)),
      removed: groups.flatMap((g) => (g.remove ?? []).map(toSnapshot)),
    };
  }

  /** Forgets the given snapshots (no prune: their data goes at the next retention run). */
  async forgetIds(ids: string[], opts: { signal?: AbortSignal } = {}): Promise<void> {
    if (ids.length === 0) return;
    for (const id of ids) checkSnapshotId(id);
    await this.#runOrThrow('forget', ['forget', '--', ...ids], opts, true);
  }

  /** Removes data no snapshot references any more (after forget with `prune: false` or forgetIds). */
  async prune(opts: RunOptions = {}): Promise<void> {
    opts.onProgress?.({ percent: 0, message: 'pruning' });
    await this.#runOrThrow(
      'prune',
      ['prune'],
      {
        signal: opts.signal,
        minConnections: 2,
        background: true,
        onStdoutLine: (line) => {
          const m = /(\d+(?:\.\d+)?)%/.exec(line);
          if (m) opts.onProgress?.({ percent: Number(m[1]), message: 'pruning' });
        },
      },
      true,
    );
    opts.onProgress?.({ percent: 100, message: 'pruned' });
  }

  /** Verifies the repository structure, and reads `readDataSubset` of the data ('10%', '1/5', '500M'). */
  async check(opts: RunOptions & { readDataSubset?: string } = {}): Promise<void> {
    const args = ['check'];
    if (opts.readDataSubset !== undefined) {
      if (!/^(\d+\/\d+|\d+(\.\d+)?%|\d+[kKmMgGtT]?)$/.test(opts.readDataSubset)) {
        throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'check: readDataSubset must look like 10%, 1/5 or 500M', {
          readDataSubset: opts.readDataSubset,
        });
      }
      args.push(`--read-data-subset=${opts.readDataSubset}`);
    }
    let phase = 'checking';
    await this.#runOrThrow(
      'check',
      args,
      {
        signal: opts.signal,
        background: true,
        onStdoutLine: (line) => {
          if (/^(load indexes|check all packs|check snapshots|read )/.test(line)) phase = line.trim();
          const m = /(\d+(?:\.\d+)?)%\s+\d+ \/ \d+/.exec(line);
          opts.onProgress?.({ percent: m ? Number(m[1]) : 0, message: phase });
        },
      },
      true,
    );
  }

  /** Restores a snapshot (or the `include` patterns of it) into targetDir; owners and modes are kept when root. */
  async restore(snapshotId: string, targetDir: string, opts: RunOptions & { include?: string[] } = {}): Promise<void> {
    checkSnapshotId(snapshotId);
    if (!isAbsolute(targetDir))
      throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'restore: targetDir must be absolute', { targetDir });
    opts.onProgress?.({ percent: 0, message: 'restoring' });
    const args = ['restore', `--target=${targetDir}`, ...(opts.include ?? []).map((p) => `--include=${p}`), '--', snapshotId];
    await this.#runOrThrow('restore', args, { signal: opts.signal }, true);
    opts.onProgress?.({ percent: 100, message: 'restored' });
  }

  /**
   * The bytes of one file of a snapshot. The stream errors (never just ends) when restic
   * fails, so a consumer cannot mistake a truncated dump for a whole one.
   */
  dumpFile(snapshotId: string, path: string, opts: { signal?: AbortSignal } = {}): Readable {
    checkSnapshotId(snapshotId);
    return this.#stream('dump', ['dump', '--', snapshotId, path.startsWith('/') ? path : `/${path}`], opts.signal);
  }

  /** The whole snapshot as a tar stream (`restic dump --archive tar <id> /`). */
  dumpTar(snapshotId: string, opts: { signal?: AbortSignal } = {}): Readable {
    checkSnapshotId(snapshotId);
    return this.#stream('dump', ['dump', '--archive=tar', '--', snapshotId, '/'], opts.signal);
  }

  /** Repository size for reporting (`restic stats --mode raw-data`). */
  async stats(opts: { signal?: AbortSignal } = {}): Promise<RepoStats> {
    const r = await this.#run('stats', ['stats', '--json', '--mode=raw-data'], opts);
    const j = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    return {
      totalSize: num(j.total_size),
      ...(j.total_uncompressed_size !== undefined ? { totalUncompressedSize: num(j.total_uncompressed_size) } : {}),
      blobCount: num(j.total_blob_count),
      snapshotCount: num(j.snapshots_count),
    };
  }

  /**
   * Removes stale locks only: restic 0.14 treats a lock as stale when its process is gone on
   * this host or it is older than 30 minutes; a live restic's lock stays.
   */
  async unlock(opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#run('unlock', ['unlock'], opts);
  }

  // -------------------------------------------------------------------------------------------

  // A local repository without lock files needs no `restic unlock` run (one KDF less).
  async #mayHaveLocks(): Promise<boolean> {
    if (/^[a-z0-9]+:/.test(this.repository)) return true;
    try {
      return (await readdir(join(this.repository, 'locks'))).length > 0;
    } catch {
      return true;
    }
  }

  async #confirm(summary: Record<string, unknown> | null, signal: AbortSignal | undefined): Promise<BackupResult> {
    const shortId = typeof summary?.snapshot_id === 'string' ? summary.snapshot_id : null;
    if (!summary || !shortId) {
      throw new TriplaneError(BACKUP_ERROR_CODES.failed, 'restic backup finished without reporting a snapshot', { op: 'backup' });
    }
    // A snapshot counts only once the repository lists it.
    const r = await this.#run('backup', ['snapshots', '--json', '--', shortId], { signal });
    const snap = parseSnapshots(r.stdout)[0];
    if (!snap)
      throw new TriplaneError(BACKUP_ERROR_CODES.failed, 'restic reported a snapshot the repository does not list', { shortId });
    return {
      snapshotId: snap.id,
      shortId: snap.shortId,
      time: snap.time,
      dataAdded: num(summary.data_added),
      totalBytesProcessed: num(summary.total_bytes_processed),
      filesNew: num(summary.files_new),
      filesChanged: num(summary.files_changed),
      filesUnmodified: num(summary.files_unmodified),
    };
  }

  async #run(op: string, args: string[], opts: RunOptions): Promise<ExecResult> {
    return this.#runOrThrow(op, args, { signal: opts.signal }, false);
  }

  async #runOrThrow(op: string, args: string[], o: ExecOptions, lockRetry: boolean): Promise<ExecResult> {
    const r = lockRetry ? await this.#runWithLockRetry(args, o) : await this.#exec(args, o).result;
    if (r.cancelled) throw cancelledError(op);
    if (r.exitCode !== 0 || r.spawnError) throw this.#failure(op, r);
    return r;
  }

  // A restic killed earlier (SIGKILL, OOM, reboot) leaves its lock; `unlock` clears it when
  // its owner is really gone, then one retry. A live owner's lock stays: REPO_LOCKED.
  async #runWithLockRetry(args: string[], o: ExecOptions): Promise<ExecResult> {
    const first = await this.#exec(args, o).result;
    if (first.cancelled || first.exitCode === 0 || !/repository is already locked/.test(first.stderr)) return first;
    await this.unlock({ signal: o.signal });
    return this.#exec(args, o).result;
  }

  #failure(op: string, r: ExecResult): TriplaneError {
    if (r.spawnError) {
      return new TriplaneError(BACKUP_ERROR_CODES.failed, `restic ${op}: cannot start restic`, {
        op,
        reason: r.spawnError.message,
      });
    }
    return classifyResticFailure({
      op,
      stderr: r.stderr,
      exitCode: r.exitCode,
      signal: r.signal,
      secrets: this.#secrets,
      ...(r.fatalCode ? { code: r.fatalCode } : {}),
      oomKilled: r.oomKilled,
    });
  }

  #globalArgs(minConnections: number): string[] {
    const o = this.#o;
    const backend = /^(sftp|s3|rest|b2|azure|gs|swift|rclone):/.exec(o.repository)?.[1] ?? 'local';
    const connections = Math.max(minConnections, o.connections ?? (backend === 'local' ? 1 : 2));
    const args = [`--repo=${o.repository}`, `--password-file=${o.passwordFile}`, '-o', `${backend}.connections=${connections}`];
    if (o.cacheDir) args.push(`--cache-dir=${o.cacheDir}`);
    if (o.limitUploadKiB && o.limitUploadKiB > 0) args.push(`--limit-upload=${Math.floor(o.limitUploadKiB)}`);
    return args;
  }

  #exec(args: string[], o: ExecOptions): Exec {
    const env: Record<string, string | undefined> = {
      // Only our flags name the repository and its password.
      RESTIC_REPOSITORY: undefined,
      RESTIC_REPOSITORY_FILE: undefined,
      RESTIC_PASSWORD: undefined,
      RESTIC_PASSWORD_FILE: undefined,
      RESTIC_PASSWORD_COMMAND: undefined,
      RESTIC_PROGRESS_FPS: String(this.#o.progressFps ?? 1),
      // --time is parsed in restic's local zone; we pass UTC.
      TZ: 'UTC',
      ...this.#o.env,
      ...this.#o.lane?.env,
    };
    const lane = this.#o.lane ?? {};
    const io = o.background ? this.#o.backgroundIo : undefined;
    const child = spawnLowPriority(this.#o.binary ?? 'restic', [...this.#globalArgs(o.minConnections ?? 1), ...args], {
      ...lane,
      ...(io && lane.cgroup !== false ? { cgroup: { ...lane.cgroup, ioLimit: io } } : {}),
      env,
      stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const grace = this.#o.killGraceMs ?? 3000;
    let cancelled = false;
    let fatalCode: BackupErrorCode | null = null;
    let killTimer: NodeJS.Timeout | null = null;
    let exited = false;
    const stop = (): void => {
      if (exited || killTimer) return;
      child.kill('SIGINT');
      killTimer = setTimeout(() => child.killTree('SIGKILL'), grace);
    };
    const onAbort = (): void => {
      cancelled = true;
      stop();
    };
    if (o.signal?.aborted) onAbort();
    else o.signal?.addEventListener('abort', onAbort, { once: true });

    let stdout = '';
    let stderr = '';
    let partialOut = '';
    let partialErr = '';
    if (!o.rawStdout) {
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (s: string) => {
        if (o.onStdoutLine) {
          const lines = (partialOut + s).split('\n');
          partialOut = lines.pop() ?? '';
          for (const l of lines) o.onStdoutLine(l);
        }
        stdout += s;
      });
    }
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (s: string) => {
      stderr = (stderr + s).slice(-STDERR_KEEP);
      const lines = (partialErr + s).split('\n');
      partialErr = lines.pop() ?? '';
      for (const l of lines) {
        const code = fatalWhileRunning(l);
        // restic retries some hopeless reads for ~15 minutes; stop it now.
        if (code && !fatalCode) {
          fatalCode = code;
          stop();
        }
      }
    });

    const result = new Promise<ExecResult>((resolve) => {
      let spawnError: Error | null = null;
      child.once('error', (e) => {
        spawnError = e;
        if (child.pid === undefined) finish(null, null);
      });
      const finish = (code: number | null, sig: NodeJS.Signals | null): void => {
        if (exited) return;
        exited = true;
        if (killTimer) clearTimeout(killTimer);
        o.signal?.removeEventListener('abort', onAbort);
        if (partialOut && o.onStdoutLine) o.onStdoutLine(partialOut);
        // Helpers of the job (ssh for sftp…) go with it.
        if (cancelled || fatalCode || code !== 0) child.killTree('SIGKILL');
        resolve({
          stdout,
          stderr,
          exitCode: code,
          signal: sig,
          cancelled,
          fatalCode,
          oomKilled: child.lane.oomKilled,
          spawnError,
        });
      };
      child.once('close', finish);
    });
    return { child, result, stop };
  }

  #stream(op: string, args: string[], signal: AbortSignal | undefined): Readable {
    const out = new PassThrough();
    let done = false;
    let current: Exec | null = null;
    const start = (retried: boolean): void => {
      const exec = this.#exec(args, { signal, rawStdout: true });
      current = exec;
      let bytes = 0;
      exec.child.stdout?.on('data', (b: Buffer) => {
        bytes += b.length;
      });
      exec.child.stdout?.pipe(out, { end: false });
      exec.result.then(async (r) => {
        if (r.exitCode === 0 && !r.cancelled && !r.spawnError) {
          done = true;
          out.end();
          return;
        }
        // Lock errors happen before any output, so a retry after clearing stale locks is safe.
        if (!retried && bytes === 0 && !r.cancelled && /repository is already locked/.test(r.stderr)) {
          try {
            await this.unlock({ signal });
            start(true);
            return;
          } catch (e) {
            done = true;
            out.destroy(e as Error);
            return;
          }
        }
        done = true;
        out.destroy(r.cancelled ? cancelledError(op) : this.#failure(op, r));
      });
    };
    // A consumer that goes away (client disconnected) stops restic.
    out.on('close', () => {
      if (!done) current?.stop();
    });
    start(false);
    return out;
  }
}

// ---------------------------------------------------------------------------------------------

function isChildProcess(x: unknown): x is ChildProcess {
  return (
    typeof x === 'object' &&
    x !== null &&
    'stdout' in x &&
    'kill' in x &&
    'exitCode' in x &&
    typeof (x as ChildProcess).kill === 'function'
  );
}

function waitExit(p: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve({ code: p.exitCode, signal: p.signalCode });
  return new Promise((resolve) => {
    p.once('exit', (code, signal) => resolve({ code, signal }));
    p.once('error', () => resolve({ code: null, signal: null }));
  });
}

function once(emitter: Writable, event: string): Promise<'event'> {
  return new Promise((resolve) => emitter.once(event, () => resolve('event')));
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelledError('backup');
}

function cancelledError(op: string): TriplaneError {
  return new TriplaneError(BACKUP_ERROR_CODES.cancelled, `restic ${op} cancelled`, { op });
}

function isCode(e: unknown, code: string): boolean {
  return e instanceof TriplaneError && e.code === code;
}

function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function checkSnapshotId(id: string): void {
  if (!SNAPSHOT_ID.test(id)) throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'invalid snapshot id', { snapshotId: id });
}

// restic splits --tag on commas, so a comma would silently make two tags.
function checkTagsHost(o: { tags: string[]; host: string }): void {
  for (const t of o.tags) {
    if (!t || /[,\0\n]/.test(t))
      throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'tags must be non-empty and contain no comma', { tag: t });
  }
  if (!o.host || /[,\0\n]/.test(o.host))
    throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'host must be non-empty and contain no comma', { host: o.host });
}

function snapshotMeta(o: BackupCommon): string[] {
  const args = [`--host=${o.host}`, ...o.tags.map((t) => `--tag=${t}`)];
  if (o.time) {
    if (Number.isNaN(o.time.getTime())) throw new TriplaneError('TRIPLANE_ERR_VALIDATION', 'invalid snapshot time');
    args.push(`--time=${o.time.toISOString().slice(0, 19).replace('T', ' ')}`);
  }
  return args;
}

function filterArgs(o: { tags?: string[] | undefined; host?: string | undefined }): string[] {
  const args: string[] = [];
  if (o.tags && o.tags.length > 0) {
    checkTagsHost({ tags: o.tags, host: o.host ?? 'x' });
    args.push(`--tag=${o.tags.join(',')}`); // one --tag with a list = all of them
  }
  if (o.host) args.push(`--host=${o.host}`);
  return args;
}

/** Parses one `backup --json` line: reports status, returns the summary object. */
function handleBackupLine(line: string, onProgress: RunOptions['onProgress']): Record<string, unknown> | null {
  if (!line.startsWith('{')) return null;
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (j.message_type === 'status') {
    const done = num(j.bytes_done);
    const total = num(j.total_bytes);
    const percent = Math.min(100, Math.round(num(j.percent_done) * 1000) / 10);
    onProgress?.({ percent, message: total > 0 ? `${mib(done)} of ${mib(total)}` : `${mib(done)} read` });
    return null;
  }
  if (j.message_type === 'summary') {
    onProgress?.({ percent: 100, message: `${mib(num(j.total_bytes_processed))} processed, ${mib(num(j.data_added))} added` });
    return j;
  }
  return null;
}

function mib(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

function parseSnapshots(stdout: string): Snapshot[] {
  const text = stdout.trim();
  if (text === '' || text === 'null') return [];
  const arr = JSON.parse(text) as unknown[];
  return arr.map(toSnapshot);
}

function toSnapshot(x: unknown): Snapshot {
  const s = x as Record<string, unknown>;
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((e): e is string => typeof e === 'string') : []);
  const id = str(s.id);
  return {
    id,
    shortId: str(s.short_id) || id.slice(0, 8),
    time: str(s.time),
    hostname: str(s.hostname),
    username: str(s.username),
    tags: strs(s.tags),
    paths: strs(s.paths),
    tree: str(s.tree),
    ...(typeof s.parent === 'string' ? { parent: s.parent } : {}),
  };
}
