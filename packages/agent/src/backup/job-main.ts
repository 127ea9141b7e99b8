/**
 * The agent job child process (started by jobs/runner.ts through spawnLowPriority: nice 19,
 * ionice idle, the low cgroup). Reads one ChildInput JSON on stdin, runs the executor, writes
 * NDJSON events (jobs/runner.ts ChildEvent) on stdout and exits 0 after a `result`, 1 after an
 * `error`. SIGTERM aborts the work (restic and podman children are killed with it).
 */

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isTriplaneError } from '@triplane/kernel';
import type { BackupKind, RestoreScope } from '@triplane/spec';
import type { ChildEvent, ChildInput } from '../jobs/runner.ts';
import {
  createBackup,
  type EnvTarget,
  type ExecContext,
  restoreBackup,
  type SyncParams,
  sourceFromBackup,
  syncEnvironments,
  targetOf,
} from './executor.ts';
import { type ExportParams, exportBackup, httpArtifactUpload } from './export.ts';
import { backupIoLimit, uploadKiB } from './pace.ts';
import { Restic } from './restic.ts';
import { pruneBackups } from './retention.ts';

/** Failures another attempt can't fix: the job fails at once, with the reason, instead of retrying. */
const TERMINAL_CODES: ReadonlySet<string> = new Set([
  'TRIPLANE_ERR_BACKUP_REPO_CORRUPT',
  'TRIPLANE_ERR_BACKUP_WRONG_PASSWORD',
  'TRIPLANE_ERR_BACKUP_SNAPSHOT_NOT_FOUND',
  'TRIPLANE_ERR_BACKUP_REPO_NOT_FOUND',
  'TRIPLANE_ERR_VALIDATION',
]);

function emit(ev: ChildEvent): void {
  process.stdout.write(`${JSON.stringify(ev)}\n`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The repository: `TRIPLANE_BACKUP_REPOSITORY` (a restic repository string: a directory,
 * `sftp:…`, `s3:…` with the usual AWS_* variables), default `<state>/backup/repo`. Its password
 * is generated once into `<state>/backup/password` (0600) and never leaves the server.
 */
export async function resticFor(stateDir: string, env: NodeJS.ProcessEnv = process.env): Promise<Restic> {
  const dir = join(stateDir, 'backup');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const passwordFile = env.TRIPLANE_BACKUP_PASSWORD_FILE ?? join(dir, 'password');
  try {
    await readFile(passwordFile);
  } catch {
    await writeFile(passwordFile, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' }).catch(
      (e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      },
    );
  }
  return new Restic({
    repository: env.TRIPLANE_BACKUP_REPOSITORY ?? join(dir, 'repo'),
    passwordFile,
    cacheDir: join(dir, 'cache'),
    // The operator's ceilings (pace.ts; off by default): repository writes (KiB/s), disk IO.
    ...(uploadKiB(env) > 0 ? { limitUploadKiB: uploadKiB(env) } : {}),
    backgroundIo: backupIoLimit(env),
  });
}

async function main(): Promise<number> {
  const abort = new AbortController();
  process.on('SIGTERM', () => abort.abort());
  process.on('SIGINT', () => abort.abort());
  const input = JSON.parse(await readStdin()) as ChildInput;
  const { job } = input;
  const p = (job.params ?? {}) as Record<string, unknown>;
  try {
    const restic = await resticFor(input.stateDir);
    const ctx: ExecContext = { restic, signal: abort.signal, stateDir: input.stateDir, emit: (ev) => emit(ev as ChildEvent) };
    const target = () => {
      if (!input.environment) throw new Error('the job names no environment of this server');
      return targetOf(input.environment);
    };
    let result: unknown;
    switch (job.kind) {
      case 'backup.create':
        result = await createBackup(ctx, target(), { backupId: String(p.backupId), kind: (p.kind as BackupKind) ?? 'manual' });
        break;
      case 'backup.restore':
        result = await restoreBackup(ctx, target(), {
          backupId: String(p.backupId),
          scope: (p.scope as RestoreScope) ?? 'full',
          dbSnapshotId: typeof p.dbSnapshotId === 'string' ? p.dbSnapshotId : null,
          filesSnapshotId: String(p.filesSnapshotId),
          safetyBackupId: String(p.safetyBackupId),
        });
        break;
      case 'env.sync': {
        const sp = p as unknown as SyncParams;
        const src = input.environments[String(p.sourceEnvironmentId)];
        const dst = input.environments[String(p.targetEnvironmentId)];
        // restore-as-site: a source that no longer runs here (deleted site) is read from its backup.
        const fromBackup = sp.sourceSpecFromBackup ? sp.fromBackup : undefined;
        let source: EnvTarget | undefined = src ? targetOf(src) : undefined;
        if (!source && dst && fromBackup) source = await sourceFromBackup(ctx, String(p.sourceEnvironmentId), fromBackup);
        if (!source || !dst) {
          emit({
            type: 'error',
            code: 'TRIPLANE_ERR_BACKUP_NOT_PLACED',
            message: `${!dst ? 'the target' : 'the source'} environment does not run on this server (yet)`,
            retryable: true,
          });
          return 1;
        }
        result = await syncEnvironments(ctx, source, targetOf(dst), { ...sp, webHostIp: input.webHostIp });
        break;
      }
      case 'backup.prune':
        result = await pruneBackups(ctx, p);
        break;
      case 'backup.export':
        result = await exportBackup(ctx, p as unknown as ExportParams, httpArtifactUpload(input.control, job.id, abort.signal));
        break;
      case 'backup.check':
        emit({ type: 'progress', percent: 5, message: 'checking the repository' });
        await restic.check({
          readDataSubset: typeof p.readDataSubset === 'string' ? p.readDataSubset : '5%',
          signal: abort.signal,
        });
        result = { ok: true };
        break;
      default:
        emit({
          type: 'error',
          code: 'TRIPLANE_ERR_BACKUP_UNSUPPORTED',
          message: `unknown job kind ${job.kind}`,
          retryable: false,
        });
        return 1;
    }
    emit({ type: 'result', result });
    return 0;
  } catch (e) {
    const retryableDefault = !abort.signal.aborted;
    if (isTriplaneError(e)) {
      const d = (e.details ?? {}) as { retryable?: unknown };
      emit({
        type: 'error',
        code: e.code,
        message: e.message,
        retryable: typeof d.retryable === 'boolean' ? d.retryable : TERMINAL_CODES.has(e.code) ? false : retryableDefault,
      });
    } else {
      emit({
        type: 'error',
        code: 'TRIPLANE_ERR_BACKUP_FAILED',
        message: e instanceof Error ? e.message : String(e),
        retryable: retryableDefault,
      });
    }
    return 1;
  }
}

process.exitCode = await main();
