import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, constants as zc } from 'node:zlib';
import { isTriplaneError, TriplaneError } from '@triplane/kernel';
import type { ExecContext } from './executor.ts';
import { renameTarEntries, TAR_END } from './tar-rewrite.ts';

/**
 * `backup.export`: one backup as a portable `.tar.gz`, streamed to the control plane
 * (`PUT /agents/{id}/jobs/{jobId}/artifact`), which keeps it for download for 24 h.
 *
 *   db.sql             the database dump (the db snapshot's only file), when the backup has one
 *   wp-content/…       the files snapshot's wp-content volume, paths relative to it
 *   environment.json   the environment spec stored with the backup
 *
 * Nothing is staged on disk and no entry is held in memory: `restic dump --archive tar` of each
 * snapshot → entries renamed (tar-rewrite.ts: the snapshot stores the app server's absolute
 * volume path) → gzip → sha256/byte count → the HTTP request body. Everything runs in the job's
 * low-priority child (nice 19, ionice idle, cgroup weights), so it only uses idle CPU and disk.
 * A restic failure errors the stream (never a short archive); the upload then aborts and the
 * control plane drops the partial file.
 *
 * Example (job-main.ts):
 *   await exportBackup(ctx, job.params, httpArtifactUpload(input.control, job.id, signal));
 */
export interface ExportParams {
  backupId: string;
  /** the backup's environment: its snapshots must carry `env=<id>` */
  environmentId: string;
  dbSnapshotId: string | null;
  filesSnapshotId: string;
  /** dbBytes + filesBytes of the backup (for progress only) */
  totalBytes?: number;
}

export interface ArtifactInfo {
  bytes: number;
  sha256: string;
}

/** Sends the archive; resolves with what the receiver counted and hashed. */
export type ArtifactUpload = (body: Readable) => Promise<ArtifactInfo>;

const fail = (code: string, message: string, retryable: boolean) =>
  new TriplaneError(code as `TRIPLANE_ERR_${string}`, message, { retryable });

/**
 * gzip level 1: a site's bulk is already-compressed media (JPEG, PNG, zip) that no level
 * shrinks, and SQL compresses well even at level 1 — higher levels mostly burn the app
 * server's CPU (idle CPU, but a longer job).
 */
const GZIP_LEVEL = 1;

export async function exportBackup(
  ctx: ExecContext,
  p: ExportParams,
  upload: ArtifactUpload,
): Promise<{ artifact: ArtifactInfo }> {
  ctx.emit({ type: 'progress', percent: 2, message: 'finding the snapshots' });
  const snaps = await ctx.restic.snapshots({ tags: [`backup=${p.backupId}`], signal: ctx.signal });
  const byId = (id: string) => snaps.find((s) => s.id === id || s.id.startsWith(id));
  const found = byId(p.filesSnapshotId);
  const db = p.dbSnapshotId ? byId(p.dbSnapshotId) : undefined;
  if (!found || (p.dbSnapshotId && !db)) {
    throw fail(
      'TRIPLANE_ERR_BACKUP_SNAPSHOT_NOT_FOUND',
      `the snapshots of backup ${p.backupId} are not in the repository`,
      false,
    );
  }
  const files = found;
  for (const s of [files, db]) {
    if (s && !s.tags.includes(`env=${p.environmentId}`)) {
      throw fail('TRIPLANE_ERR_BACKUP_WRONG_SITE', `backup ${p.backupId} is not a backup of this environment`, false);
    }
  }
  // The files snapshot holds two paths: the wp-content volume (`…/_data`) and the spec dir.
  const strip = (x: string) => x.replace(/^\/+|\/+$/g, '');
  const volume = strip(files.paths.find((x) => x.endsWith('/_data')) ?? files.paths[0] ?? '');
  const spec = files.paths.map(strip).find((x) => x !== volume);
  if (!volume) throw fail('TRIPLANE_ERR_BACKUP_FAILED', 'the files snapshot lists no paths', false);

  const seen = { db: false, files: 0, spec: false };
  const total = Math.max(1, p.totalBytes ?? 0);
  let tarBytes = 0;
  let lastEmit = 0;
  const progress = (what: string) => {
    const now = Date.now();
    if (now - lastEmit < 1000) return;
    lastEmit = now;
    const pct = Math.min(95, 5 + (90 * tarBytes) / total);
    ctx.emit({ type: 'progress', percent: Math.round(pct * 10) / 10, message: `${what}: ${Math.round(tarBytes / 1048576)} MiB` });
  };
  const restic = ctx.restic;
  const signal = ctx.signal;
  async function* archive(): AsyncGenerator<Buffer> {
    if (db) {
      ctx.emit({ type: 'progress', percent: 5, message: 'streaming the database dump' });
      for await (const c of renameTarEntries(restic.dumpTar(db.id, { signal }), (n, type) => {
        if (strip(n) !== 'db.sql' || type !== '0') return null;
        seen.db = true;
        return 'db.sql';
      })) {
        tarBytes += c.length;
        progress('database');
        yield c;
      }
      if (!seen.db) throw fail('TRIPLANE_ERR_BACKUP_FAILED', `snapshot ${db.shortId} has no db.sql`, false);
    }
    ctx.emit({ type: 'progress', percent: Math.min(95, 5 + (90 * tarBytes) / total), message: 'streaming the files' });
    for await (const c of renameTarEntries(restic.dumpTar(files.id, { signal }), (n) => {
      const name = strip(n);
      const dir = n.endsWith('/');
      if (name === volume || name.startsWith(`${volume}/`)) {
        seen.files++;
        return `wp-content${name.slice(volume.length)}${dir ? '/' : ''}`;
      }
      if (spec && name === `${spec}/environment.json`) {
        seen.spec = true;
        return 'environment.json';
      }
      return null; // the parents of both paths (home/, …/volumes/…)
    })) {
      tarBytes += c.length;
      progress('files');
      yield c;
    }
    if (seen.files === 0)
      throw fail('TRIPLANE_ERR_BACKUP_FAILED', `snapshot ${files.shortId} holds no wp-content (${volume})`, false);
    yield TAR_END;
  }

  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  const src = Readable.from(archive());
  const produced = pipeline(src, createGzip({ level: GZIP_LEVEL, memLevel: zc.Z_DEFAULT_MEMLEVEL }), tap, { signal });
  produced.catch(() => undefined);
  let received: ArtifactInfo;
  try {
    received = await upload(tap);
    await produced;
  } catch (e) {
    // The first cause wins: a restic failure surfaces as the upload's aborted body.
    src.destroy();
    const cause = await produced.then(
      () => undefined,
      (x: unknown) => x,
    );
    if (signal.aborted) throw fail('TRIPLANE_ERR_BACKUP_CANCELLED', 'the job was stopped', true);
    if (isTriplaneError(cause)) throw cause;
    throw e;
  }
  const sha256 = hash.digest('hex');
  if (received.bytes !== bytes || received.sha256 !== sha256) {
    throw fail(
      'TRIPLANE_ERR_BACKUP_FAILED',
      `the control plane stored ${received.bytes} bytes (sha256 ${received.sha256.slice(0, 12)}…) but ${bytes} were sent (${sha256.slice(0, 12)}…)`,
      true,
    );
  }
  ctx.emit({
    type: 'log',
    level: 'info',
    message: `archive: ${bytes} bytes gzip, ${seen.files} wp-content entries${seen.db ? ', db.sql' : ''}${seen.spec ? ', environment.json' : ''}`,
  });
  ctx.emit({ type: 'progress', percent: 100, message: 'archive uploaded' });
  return { artifact: { bytes, sha256 } };
}

/** Where the job child sends the archive: the control plane, as the agent (jobs/runner.ts ChildInput.control). */
export interface ArtifactTarget {
  apiUrl: string;
  serverId: string;
  credential: string;
  owner: string;
}

/**
 * `PUT /api/v1/agents/{serverId}/jobs/{jobId}/artifact?owner=…` with the stream as the body
 * (chunked). The answer carries what the control plane stored.
 */
export function httpArtifactUpload(t: ArtifactTarget | undefined, jobId: string, signal: AbortSignal): ArtifactUpload {
  return async (body) => {
    if (!t) throw fail('TRIPLANE_ERR_BACKUP_UPLOAD_FAILED', 'the agent gave this job no access to the control plane', false);
    const url = `${t.apiUrl.replace(/\/+$/, '')}/api/v1/agents/${encodeURIComponent(t.serverId)}/jobs/${encodeURIComponent(jobId)}/artifact?owner=${encodeURIComponent(t.owner)}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'PUT',
        headers: { authorization: `Bearer ${t.credential}`, 'content-type': 'application/gzip', accept: 'application/json' },
        body: Readable.toWeb(body) as ReadableStream<Uint8Array>,
        duplex: 'half',
        signal,
      } as RequestInit);
    } catch (e) {
      const cause = (e as { cause?: { message?: string } }).cause?.message;
      throw fail(
        'TRIPLANE_ERR_BACKUP_UPLOAD_FAILED',
        `uploading the archive failed: ${cause ?? (e instanceof Error ? e.message : String(e))}`,
        true,
      );
    }
    const text = await res.text().catch(() => '');
    let j: { ok?: boolean; bytes?: number; sha256?: string; error?: { code?: string; message?: string } } = {};
    try {
      j = JSON.parse(text) as typeof j;
    } catch {
      // not JSON
    }
    if (!res.ok || j.ok !== true || typeof j.bytes !== 'number' || typeof j.sha256 !== 'string') {
      const code = j.error?.code?.startsWith('TRIPLANE_ERR_') ? j.error.code : 'TRIPLANE_ERR_BACKUP_UPLOAD_FAILED';
      // 413 (too big for the control plane) will not get better by retrying.
      throw fail(code, `the control plane refused the archive: ${j.error?.message ?? `HTTP ${res.status}`}`, res.status !== 413);
    }
    return { bytes: j.bytes, sha256: j.sha256 };
  };
}
