import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { text } from 'node:stream/consumers';
import { finished, pipeline } from 'node:stream/promises';
import { isTriplaneError, TriplaneError } from '@triplane/kernel';
import { run } from '@triplane/runtime';
import type { AssignedEnvironment, BackupKind, BackupRecordRequest, RestoreScope } from '@triplane/spec';
import { podIdentity } from '../podman/runtime-spec.ts';
import { type LentThread, lendDumpThread } from './db-thread.ts';
import { nsenterArgs } from './nsenter.ts';
import type { Restic } from './restic.ts';
import { compileReplacer, createDumpRewriter, type DumpRewriter, urlReplaceRules, wooSafeSkipTables } from './rewrite/index.ts';

/**
 * The backup executor: what one agent job does on the app server, inside the low-priority
 * child process (job-main.ts). Every step is resumable — a job is retried after a crash, a
 * lost lease or a killed child, and must then finish the work or leave the site as it was.
 *
 * A backup = two restic snapshots tagged `backup=<id>` (restic 0.14 can't put stdin and paths
 * in one snapshot): `db.sql` streamed from `mariadb-dump --single-transaction` in the pod's db
 * container straight into `restic backup --stdin` (never a file on disk), and the files: the
 * wp-content volume (uploads, themes, plugins) + `environment.json` (the assignment, minus the
 * one-time install intent). The dump runs at nice 19 / ionice idle inside the container too
 * (`podman exec` starts it under the container's cgroup, not ours).
 *
 * Restore = safety backup first (kind `pre-restore`), then beside-and-swap:
 *   database  import into `<db>__tp_restore`, then ONE `RENAME TABLE` moves every live table to
 *             `<db>__tp_old` and every restored one in (atomic in MariaDB), then drop the two;
 *   files     `restic restore` into `<volume>/tp-restore` (same filesystem, outside `_data`),
 *             then each top-level entry of `_data` is renamed to `<volume>/tp-old` and the
 *             restored ones renamed in. A retry first moves back whatever an interrupted swap
 *             left in tp-old, so the site is never left half-swapped;
 *   then the Redis object cache is flushed (it would serve objects of the old database).
 */
export type Emit = (
  ev:
    | { type: 'progress'; percent: number; message: string }
    | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string }
    | { type: 'backup'; record: Omit<BackupRecordRequest, 'owner'> },
) => void;

export interface ExecContext {
  restic: Restic;
  emit: Emit;
  signal: AbortSignal;
  stateDir: string;
  /** `podman` by default (tests may point elsewhere). */
  podman?: string;
}

export interface EnvTarget {
  envId: string;
  siteId: string;
  pod: string;
  dbContainer: string | null;
  redisContainer: string;
  dbName: string;
  wpContentVolume: string;
  environment: AssignedEnvironment;
  /**
   * Not running here any more (its site was deleted): `environment` is the spec its backup kept,
   * only its data in the repository is left (sourceFromBackup).
   */
  gone?: boolean;
}

export function targetOf(env: AssignedEnvironment): EnvTarget {
  const { siteId, envName } = podIdentity(env);
  const pod = `${siteId}-${envName}`;
  const pro = env.externalDatabase !== null;
  return {
    envId: env.id,
    siteId: env.siteId,
    pod,
    dbContainer: pro ? null : `${pod}-db`,
    redisContainer: `${pod}-redis`,
    dbName: pro ? (env.externalDatabase?.name ?? 'wordpress') : 'wordpress',
    wpContentVolume: `${pod}-wp-content`,
    environment: env,
  };
}

const fail = (code: string, message: string, retryable: boolean, details?: Record<string, unknown>) =>
  new TriplaneError(code as `TRIPLANE_ERR_${string}`, message, { ...details, retryable });

function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw fail('TRIPLANE_ERR_BACKUP_CANCELLED', 'the job was stopped', true);
}

/** The host pid of a running container's first process (mariadbd in the db container). */
async function containerPid(ctx: ExecContext, container: string): Promise<number> {
  const r = await run(ctx.podman ?? 'podman', ['inspect', '--format', '{{.State.Pid}}', container], { allowFailure: true });
  const pid = Number(r.stdout.trim());
  if (r.code !== 0 || !Number.isInteger(pid) || pid <= 0) {
    throw fail('TRIPLANE_ERR_BACKUP_DB', `the database container ${container} is not running`, true, { container });
  }
  return pid;
}

/** What a command entered into a container gets as its environment: nothing of the agent's. */
const CONTAINER_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8' };

/**
 * Runs `argv` in a running container's namespaces as its root, at the lowest CPU and IO
 * priority, as a child of this job process — so inside the low-priority lane's cgroup.
 *
 * Not `podman exec`: that starts the command in the container's own cgroup, where `nice 19`
 * only ranks it against mariadbd while the container's group competes with the storefront at
 * full weight, and it relays the output through conmon and the podman process — two more
 * normal-priority processes woken for every pipe buffer of a 200 MB dump (bench/RESULTS.md,
 * the database-dump phase). `nsenter` into the container's namespaces (nsenter.ts) runs the
 * container's own binary with the same identity (root there, unix-socket
 * auth works), the output is one pipe to this process, and the environment is the container-ish
 * minimum above, never the agent's.
 */
async function execLow(
  ctx: ExecContext,
  container: string,
  argv: string[],
  interactive: boolean,
): Promise<ChildProcess & { containerPid: number }> {
  const pid = await containerPid(ctx, container);
  const args = nsenterArgs(pid, ['nice', '-n', '19', 'ionice', '-c3', ...argv]);
  const child = spawn('nsenter', args, { stdio: [interactive ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: CONTAINER_ENV });
  return Object.assign(child, { containerPid: pid });
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    stderr = (stderr + d).slice(-4000);
  });
  return new Promise((resolve) => {
    child.once('error', (e) => resolve({ code: -1, stderr: e.message }));
    child.once('close', (code) => resolve({ code, stderr }));
  });
}

/** Run SQL as root (socket auth) in the db container; returns stdout (tab-separated, no headers). */
async function sql(ctx: ExecContext, t: EnvTarget, statements: string): Promise<string> {
  if (!t.dbContainer)
    throw fail(
      'TRIPLANE_ERR_BACKUP_UNSUPPORTED',
      'environments on an external database are not backed up by the agent yet',
      false,
    );
  // like execLow (in the lane, no podman exec: a podman process holds the container's lock
  // while it runs, so one that is slow or stopped would hold up every other podman call)
  const pid = await containerPid(ctx, t.dbContainer);
  const r = await run('nsenter', nsenterArgs(pid, ['mariadb', '--batch', '--skip-column-names']), {
    input: statements,
    allowFailure: true,
    timeoutMs: 10 * 60_000,
    env: CONTAINER_ENV,
  });
  if (r.code !== 0) throw fail('TRIPLANE_ERR_BACKUP_DB', `MariaDB refused: ${r.stderr.trim().slice(-800)}`, true);
  return r.stdout;
}

/**
 * The server thread of a mariadb client's connection (`child`, started by execLow) joins the lane
 * too (db-thread.ts) once it is connected, and goes back the moment the client exits: most of a
 * dump's or an import's CPU is the server's.
 */
function lendServerThread(ctx: ExecContext, t: EnvTarget, child: ChildProcess & { containerPid: number }, what: string): void {
  let exited = false;
  let lent: LentThread | null = null;
  child.once('exit', () => {
    exited = true;
    lent?.restore();
  });
  void (async () => {
    for (let i = 0; i < 20 && !exited && !lent; i++) {
      await new Promise((r) => setTimeout(r, 250));
      if (exited) break;
      lent = await lendDumpThread({ mariadbdPid: child.containerPid, sql: (q) => sql(ctx, t, q) }).catch(() => null);
    }
    if (exited) {
      lent?.restore();
      return;
    }
    ctx.emit({
      type: 'log',
      level: lent ? 'info' : 'warn',
      message: lent
        ? `database: the server thread of ${what} runs in the low-priority lane`
        : `database: the server thread of ${what} stays at normal priority (not found, or threads can't be placed on this host)`,
    });
  })();
}

const ident = (s: string) => `\`${s.replace(/`/g, '``')}\``;

async function volumeMountpoint(ctx: ExecContext, volume: string): Promise<string> {
  const r = await run(ctx.podman ?? 'podman', ['volume', 'inspect', '--format', '{{.Mountpoint}}', volume], {
    allowFailure: true,
  });
  const mp = r.stdout.trim();
  if (r.code !== 0 || !mp.startsWith('/')) {
    throw fail('TRIPLANE_ERR_BACKUP_VOLUME', `volume ${volume} not found: ${r.stderr.trim().slice(-300)}`, true);
  }
  return mp;
}

function tagsOf(t: EnvTarget, backupId: string, kind: BackupKind): string[] {
  return [`backup=${backupId}`, `env=${t.envId}`, `site=${t.siteId}`, `kind=${kind}`];
}

export interface Meter {
  stream: Transform;
  bytes: () => number;
  tail: () => string;
}

/** A pass-through that counts bytes and keeps the last ones (to check mariadb-dump's completion trailer). */
export function meter(): Meter {
  let bytes = 0;
  let tail = Buffer.alloc(0);
  const stream = new Transform({
    highWaterMark: 1 << 20,
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      tail = Buffer.concat([tail, chunk.subarray(-256)]).subarray(-256);
      cb(null, chunk);
    },
  });
  return { stream, bytes: () => bytes, tail: () => tail.toString('latin1') };
}

/**
 * Settles once mariadb-dump exited AND every byte it wrote went through the meter: resolves when
 * it exited 0 and the last bytes hold its `-- Dump completed` trailer, else rejects with
 * DUMP_FAILED. The exit alone is not enough: when restic reads slowly (a paced backup), the
 * dump's last chunks still wait in the meter's buffer after the process is gone, and a check
 * then would call a complete dump incomplete (it did: bench/RESULTS.md, session 6).
 */
export async function verifiedDump(exited: Promise<{ code: number | null; stderr: string }>, m: Meter): Promise<void> {
  const exit = await exited;
  if (exit.code === 0) await finished(m.stream, { readable: false }).catch(() => undefined);
  if (exit.code !== 0 || !/-- Dump completed/.test(m.tail())) {
    throw fail(
      'TRIPLANE_ERR_BACKUP_DUMP_FAILED',
      `mariadb-dump failed (exit ${exit.code}): ${exit.stderr.trim().slice(-800) || 'the dump is incomplete'}`,
      true,
    );
  }
}

export interface BackupResult {
  backupId: string;
  dbSnapshotId: string | null;
  filesSnapshotId: string;
  snapshotTime: string;
  dbBytes: number;
  filesBytes: number;
  addedBytes: number;
}

/**
 * Take a backup of `t`. Resumable: snapshots already tagged with this backup id (an earlier
 * attempt got that far) are reused. `span` maps this step's 0–100 % into the job's progress.
 */
export async function createBackup(
  ctx: ExecContext,
  t: EnvTarget,
  o: { backupId: string; kind: BackupKind; span?: [number, number] },
): Promise<BackupResult> {
  const [from, to] = o.span ?? [0, 100];
  const at = (p: number) => from + ((to - from) * p) / 100;
  const tags = tagsOf(t, o.backupId, o.kind);
  ctx.emit({ type: 'progress', percent: at(1), message: 'opening the backup repository' });
  await ctx.restic.ensureInit({ signal: ctx.signal });
  const existing = await ctx.restic.snapshots({ tags: [`backup=${o.backupId}`], signal: ctx.signal });
  const isDb = (paths: string[]) => paths.some((p) => p === '/db.sql' || p.endsWith('/db.sql'));
  const prevDb = existing.find((s) => isDb(s.paths));
  const prevFiles = existing.find((s) => !isDb(s.paths));
  // The db snapshot is taken first and verified before the files one starts, so a db snapshot
  // WITHOUT its files snapshot may be the work of a restic orphaned by a killed attempt (it got
  // EOF when its producer died and saved a truncated dump): never reuse that one.
  if (prevDb && !prevFiles) {
    await ctx.restic.forgetIds([prevDb.id], { signal: ctx.signal });
    ctx.emit({ type: 'log', level: 'warn', message: `dropped snapshot ${prevDb.shortId} of an interrupted attempt` });
  }
  let dbSnap: { id: string; time: string } | undefined = prevDb && prevFiles ? { id: prevDb.id, time: prevDb.time } : undefined;
  let filesSnap: { id: string; time: string } | undefined = prevFiles ? { id: prevFiles.id, time: prevFiles.time } : undefined;
  let dbBytes = 0;
  let addedBytes = 0;

  if (t.dbContainer && !dbSnap) {
    checkAborted(ctx.signal);
    ctx.emit({ type: 'progress', percent: at(5), message: 'dumping the database' });
    const dump = await execLow(
      ctx,
      t.dbContainer,
      [
        'mariadb-dump',
        '--single-transaction',
        '--quick',
        '--routines',
        '--triggers',
        '--events',
        // binary columns as 0x… literals: the clone/staging URL rewrite must never touch them
        '--hex-blob',
        '--default-character-set=utf8mb4',
        t.dbName,
      ],
      false,
    );
    let exited: { code: number | null; stderr: string } | undefined;
    lendServerThread(ctx, t, dump, 'the dump');
    const done = exitOf(dump).then((x) => {
      exited = x;
      return x;
    });
    const m = meter();
    (dump.stdout as Readable).pipe(m.stream);
    // restic snapshots whatever stdin gave it: EOF reaches it only once mariadb-dump exited 0
    // and wrote its completion trailer; otherwise restic is stopped before it can write one.
    const verified = verifiedDump(done, m);
    verified.catch(() => undefined);
    let snap: Awaited<ReturnType<Restic['backupStdin']>>;
    try {
      snap = await ctx.restic.backupStdin(m.stream, {
        filename: 'db.sql',
        tags,
        host: 'triplane',
        signal: ctx.signal,
        sourceDone: verified,
        onProgress: (p) => ctx.emit({ type: 'progress', percent: at(5 + p.percent * 0.35), message: `database: ${p.message}` }),
      });
    } catch (e) {
      // If mariadb-dump failed on its own, that is the reason; otherwise restic's error is.
      const own = exited;
      dump.kill('SIGKILL');
      await done;
      if (own && own.code !== 0) await verified;
      throw e;
    }
    dbBytes = m.bytes();
    addedBytes += snap.dataAdded;
    dbSnap = { id: snap.snapshotId, time: snap.time };
    ctx.emit({ type: 'log', level: 'info', message: `database: ${dbBytes} bytes dumped, snapshot ${snap.shortId}` });
  }

  let filesBytes = 0;
  if (!filesSnap) {
    checkAborted(ctx.signal);
    ctx.emit({ type: 'progress', percent: at(42), message: 'backing up the files' });
    const mp = await volumeMountpoint(ctx, t.wpContentVolume);
    const specDir = join(ctx.stateDir, 'backup', 'spec', t.envId);
    await mkdir(specDir, { recursive: true, mode: 0o700 });
    const { install: _install, ...spec } = t.environment;
    await writeFile(join(specDir, 'environment.json'), `${JSON.stringify(spec, null, 2)}\n`, { mode: 0o600 });
    const snap = await ctx.restic.backupPaths([mp, specDir], {
      tags,
      host: 'triplane',
      signal: ctx.signal,
      onProgress: (p) => ctx.emit({ type: 'progress', percent: at(42 + p.percent * 0.55), message: `files: ${p.message}` }),
    });
    filesBytes = snap.totalBytesProcessed;
    addedBytes += snap.dataAdded;
    filesSnap = { id: snap.snapshotId, time: snap.time };
    ctx.emit({ type: 'log', level: 'info', message: `files: ${filesBytes} bytes, snapshot ${snap.shortId}` });
  }
  const result: BackupResult = {
    backupId: o.backupId,
    dbSnapshotId: dbSnap?.id ?? null,
    filesSnapshotId: filesSnap.id,
    snapshotTime: new Date(filesSnap.time).toISOString(),
    dbBytes,
    filesBytes,
    addedBytes,
  };
  ctx.emit({
    type: 'backup',
    record: {
      backupId: o.backupId,
      environmentId: t.envId,
      kind: o.kind,
      dbSnapshotId: result.dbSnapshotId,
      filesSnapshotId: result.filesSnapshotId,
      snapshotTime: result.snapshotTime,
      dbBytes,
      filesBytes,
      addedBytes,
    },
  });
  ctx.emit({ type: 'progress', percent: at(100), message: 'backup done' });
  return result;
}

/** Check that the backup's snapshots exist and belong to this environment. */
async function verifySnapshots(
  ctx: ExecContext,
  t: Pick<EnvTarget, 'envId'>,
  o: { backupId: string; dbSnapshotId: string | null; filesSnapshotId: string },
): Promise<{ filesPaths: string[]; filesSnapshotId: string }> {
  const snaps = await ctx.restic.snapshots({ tags: [`backup=${o.backupId}`], signal: ctx.signal });
  const byId = (id: string) => snaps.find((s) => s.id === id || s.id.startsWith(id));
  const files = byId(o.filesSnapshotId);
  const db = o.dbSnapshotId ? byId(o.dbSnapshotId) : undefined;
  if (!files || (o.dbSnapshotId && !db)) {
    throw fail(
      'TRIPLANE_ERR_BACKUP_SNAPSHOT_NOT_FOUND',
      `the snapshots of backup ${o.backupId} are not in the repository`,
      false,
    );
  }
  for (const s of [files, db]) {
    if (s && !s.tags.includes(`env=${t.envId}`)) {
      throw fail('TRIPLANE_ERR_BACKUP_WRONG_SITE', `backup ${o.backupId} is not a backup of this environment`, false);
    }
  }
  return { filesPaths: files.paths, filesSnapshotId: files.id };
}

/**
 * The source of a copy whose environment no longer runs on this server — restore-as-site of a
 * deleted site's backup: its spec (uid slot, domains, web port) from the `environment.json` the
 * backup kept beside wp-content, after the snapshots were checked to be of that environment.
 */
export async function sourceFromBackup(
  ctx: ExecContext,
  envId: string,
  o: { backupId: string; dbSnapshotId: string | null; filesSnapshotId: string },
): Promise<EnvTarget> {
  await ctx.restic.ensureInit({ signal: ctx.signal });
  const { filesPaths, filesSnapshotId } = await verifySnapshots(ctx, { envId }, o);
  const specDir = filesPaths.find((p) => !p.endsWith('/_data'));
  if (!specDir) throw fail('TRIPLANE_ERR_BACKUP_SNAPSHOT_NOT_FOUND', `backup ${o.backupId} kept no environment.json`, false);
  const raw = await text(
    ctx.restic.dumpFile(filesSnapshotId, `${specDir.replace(/\/+$/, '')}/environment.json`, { signal: ctx.signal }),
  );
  let env: AssignedEnvironment | undefined;
  try {
    env = JSON.parse(raw) as AssignedEnvironment;
  } catch {
    env = undefined;
  }
  // Only what a copy uses is checked: the spec's schema may have grown since the backup.
  const slot = env?.runtime?.uidSlot;
  if (
    !env ||
    env.id !== envId ||
    typeof env.siteName !== 'string' ||
    typeof env.name !== 'string' ||
    typeof env.runtime.unixUser !== 'string' ||
    !Number.isInteger(slot) ||
    !Number.isInteger(env.runtime.webPort) ||
    !Array.isArray(env.domains)
  ) {
    throw fail('TRIPLANE_ERR_BACKUP_SNAPSHOT_NOT_FOUND', `the environment.json of backup ${o.backupId} is unreadable`, false);
  }
  return { ...targetOf({ ...env, externalDatabase: env.externalDatabase ?? null }), gone: true };
}

/** The URL a gone source's data was written for: its primary domain, or its web port (as its install did). */
function recordedUrl(t: EnvTarget, webHostIp: string | undefined): string {
  const primary = t.environment.domains[0];
  return primary ? `https://${primary}` : `http://${webHostIp ?? '127.0.0.1'}:${t.environment.runtime.webPort}`;
}

async function restoreDatabase(ctx: ExecContext, t: EnvTarget, dbSnapshotId: string, span: [number, number]): Promise<void> {
  await loadDatabase(ctx, t, dbSnapshotId, { rewriter: createDumpRewriter(), replaceAll: true, span });
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/** Put back what an interrupted swap moved aside, then clear the work dirs. */
async function recoverFilesSwap(mp: string): Promise<number> {
  const volDir = dirname(mp);
  const old = join(volDir, 'tp-old');
  let moved = 0;
  if (await exists(old)) {
    const live = new Set(await readdir(mp));
    for (const e of await readdir(old)) {
      if (!live.has(e)) {
        await rename(join(old, e), join(mp, e));
        moved++;
      }
    }
  }
  await rm(old, { recursive: true, force: true });
  await rm(join(volDir, 'tp-restore'), { recursive: true, force: true });
  return moved;
}

async function restoreFiles(
  ctx: ExecContext,
  t: EnvTarget,
  filesSnapshotId: string,
  filesPaths: string[],
  span: [number, number],
): Promise<void> {
  const mp = await volumeMountpoint(ctx, t.wpContentVolume);
  const moved = await recoverFilesSwap(mp);
  if (moved)
    ctx.emit({ type: 'log', level: 'warn', message: `files: put back ${moved} entries an interrupted restore had moved aside` });
  const origin = filesPaths.find((p) => p.endsWith('/_data')) ?? filesPaths[0];
  if (!origin) throw fail('TRIPLANE_ERR_BACKUP_SNAPSHOT_NOT_FOUND', 'the files snapshot has no wp-content path', false);
  const volDir = dirname(mp);
  const staging = join(volDir, 'tp-restore');
  ctx.emit({ type: 'progress', percent: span[0], message: 'files: restoring beside the live copy' });
  await ctx.restic.restore(filesSnapshotId, staging, {
    include: [origin],
    signal: ctx.signal,
    onProgress: (p) =>
      ctx.emit({
        type: 'progress',
        percent: span[0] + ((span[1] - span[0]) * 0.9 * p.percent) / 100,
        message: `files: ${p.message}`,
      }),
  });
  const src = join(staging, origin);
  if (!(await exists(src)))
    throw fail('TRIPLANE_ERR_BACKUP_SNAPSHOT_NOT_FOUND', 'the files snapshot did not contain wp-content', false);
  checkAborted(ctx.signal);
  ctx.emit({ type: 'progress', percent: span[0] + (span[1] - span[0]) * 0.9, message: 'files: swapping in the restored files' });
  const old = join(volDir, 'tp-old');
  await mkdir(old, { mode: 0o700 });
  for (const e of await readdir(mp)) await rename(join(mp, e), join(old, e));
  for (const e of await readdir(src)) await rename(join(src, e), join(mp, e));
  await rm(old, { recursive: true, force: true });
  await rm(staging, { recursive: true, force: true });
}

async function flushObjectCache(ctx: ExecContext, t: EnvTarget): Promise<void> {
  const r = await run(ctx.podman ?? 'podman', ['exec', t.redisContainer, 'redis-cli', 'FLUSHALL'], { allowFailure: true });
  if (r.code !== 0)
    ctx.emit({ type: 'log', level: 'warn', message: `could not flush the object cache: ${r.stderr.trim().slice(-300)}` });
}

export async function restoreBackup(
  ctx: ExecContext,
  t: EnvTarget,
  o: {
    backupId: string;
    scope: RestoreScope;
    dbSnapshotId: string | null;
    filesSnapshotId: string;
    safetyBackupId: string;
  },
): Promise<{ restoredBackupId: string; scope: RestoreScope; safetyBackupId: string }> {
  ctx.emit({ type: 'progress', percent: 1, message: 'checking the backup' });
  await ctx.restic.ensureInit({ signal: ctx.signal });
  const { filesPaths } = await verifySnapshots(ctx, t, o);
  const wantDb = o.scope !== 'files';
  const wantFiles = o.scope !== 'database';
  if (wantDb && !o.dbSnapshotId) throw fail('TRIPLANE_ERR_BACKUP_SNAPSHOT_NOT_FOUND', 'this backup has no database', false);
  await createBackup(ctx, t, { backupId: o.safetyBackupId, kind: 'pre-restore', span: [2, 40] });
  checkAborted(ctx.signal);
  if (wantDb && o.dbSnapshotId) await restoreDatabase(ctx, t, o.dbSnapshotId, [40, wantFiles ? 70 : 97]);
  if (wantFiles) await restoreFiles(ctx, t, o.filesSnapshotId, filesPaths, [wantDb ? 70 : 40, 97]);
  await flushObjectCache(ctx, t);
  ctx.emit({ type: 'progress', percent: 100, message: `restored (${o.scope})` });
  return { restoredBackupId: o.backupId, scope: o.scope, safetyBackupId: o.safetyBackupId };
}

export interface SyncParams {
  mode: 'clone' | 'staging' | 'push' | 'pull';
  files: boolean;
  database: 'woo-safe' | 'all' | 'tables' | 'none';
  tables?: string[];
  fromBackup?: { backupId: string; dbSnapshotId: string | null; filesSnapshotId: string };
  sourceBackupId?: string;
  /** restore-as-site: the source may be gone from this server; its spec is then read from the backup */
  sourceSpecFromBackup?: boolean;
  preBackupId?: string;
  sourceUrl: string | null;
  targetUrl: string | null;
  noindex: boolean;
  /** where web ports are published on this server (the URL of a site without a domain) */
  webHostIp?: string;
}

const TABLE_PREFIX = 'wp_';
const TEXT_FILES = /\.(css|js|json|html?|txt|xml|svg|map)$/i;
const MAX_TEXT_FILE = 16 * 1024 * 1024;

/** The live `siteurl` of a WordPress database (the URL its data is written for), or null. */
async function liveSiteUrl(ctx: ExecContext, t: EnvTarget): Promise<string | null> {
  if (!t.dbContainer) return null;
  const out = await sql(
    ctx,
    t,
    `SELECT option_value FROM ${ident(t.dbName)}.${ident(`${TABLE_PREFIX}options`)} WHERE option_name = 'siteurl';`,
  ).catch(() => '');
  const v = out.trim().split('\n')[0]?.trim();
  return v && /^https?:\/\//.test(v) ? v.replace(/\/+$/, '') : null;
}

async function tablesOf(ctx: ExecContext, t: EnvTarget, db: string): Promise<string[]> {
  return (
    await sql(
      ctx,
      t,
      `SELECT table_name FROM information_schema.tables WHERE table_schema = '${db.replace(/'/g, "''")}' ORDER BY table_name;`,
    )
  )
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Walk a restored tree: shift host uids/gids from one environment's slot to another's. */
async function shiftOwnership(root: string, fromBase: number, toBase: number): Promise<number> {
  if (fromBase === toBase) return 0;
  const { lstat, lchown, readdir: rd } = await import('node:fs/promises');
  let n = 0;
  const walk = async (p: string): Promise<void> => {
    const st = await lstat(p);
    const map = (id: number) => (id >= fromBase && id < fromBase + 65536 ? toBase + (id - fromBase) : id);
    const uid = map(st.uid);
    const gid = map(st.gid);
    if (uid !== st.uid || gid !== st.gid) {
      await lchown(p, uid, gid);
      n++;
    }
    if (st.isDirectory()) for (const e of await rd(p)) await walk(join(p, e));
  };
  await walk(root);
  return n;
}

/** Rewrite URLs in the text files WordPress and its plugins write under wp-content (CSS caches, JSON, HTML). */
async function rewriteTextFiles(root: string, rules: ReturnType<typeof urlReplaceRules>): Promise<number> {
  const { lstat, readFile, writeFile: wf, readdir: rd } = await import('node:fs/promises');
  const replacer = compileReplacer(rules);
  let n = 0;
  const walk = async (p: string): Promise<void> => {
    const st = await lstat(p);
    if (st.isDirectory()) {
      for (const e of await rd(p)) await walk(join(p, e));
      return;
    }
    if (!st.isFile() || st.size > MAX_TEXT_FILE || !TEXT_FILES.test(p)) return;
    const bytes = (await readFile(p)).toString('latin1');
    const out = replacer.replace(bytes);
    if (out !== bytes) {
      await wf(p, Buffer.from(out, 'latin1'));
      n++;
    }
  };
  await walk(root);
  return n;
}

/**
 * `env.sync`: copy one environment's data into another on this server — a new clone, a new
 * staging environment, a push or a pull. Same beside-and-swap as a restore, with the site URL
 * rewritten on the way (PHP-serialized data kept valid: rewrite/sql-dump.ts), host uids shifted
 * to the target's slot, and, for a WooCommerce-safe push, the order/customer/session tables left
 * out of the stream so the target keeps its own.
 */
export async function syncEnvironments(
  ctx: ExecContext,
  source: EnvTarget,
  target: EnvTarget,
  p: SyncParams,
): Promise<Record<string, unknown>> {
  if (source.envId === target.envId) throw fail('TRIPLANE_ERR_VALIDATION', 'source and target are the same environment', false);
  ctx.emit({ type: 'progress', percent: 1, message: 'preparing' });
  await ctx.restic.ensureInit({ signal: ctx.signal });
  // 1. The source's data: the given backup, or a fresh one.
  let snaps: { dbSnapshotId: string | null; filesSnapshotId: string; backupId: string };
  let filesPaths: string[];
  if (p.fromBackup) {
    const v = await verifySnapshots(ctx, source, p.fromBackup);
    snaps = p.fromBackup;
    filesPaths = v.filesPaths;
  } else {
    const b = await createBackup(ctx, source, { backupId: String(p.sourceBackupId), kind: 'clone', span: [2, 35] });
    snaps = b;
    filesPaths = (await verifySnapshots(ctx, source, b)).filesPaths;
  }
  // 2. A safety backup of an existing target.
  if (p.preBackupId) await createBackup(ctx, target, { backupId: p.preBackupId, kind: 'pre-push', span: [35, 55] });
  checkAborted(ctx.signal);
  // A gone source has no database to ask: the URL the control plane recorded, else its spec's.
  const fromUrl = source.gone
    ? (p.sourceUrl ?? recordedUrl(source, p.webHostIp))
    : ((await liveSiteUrl(ctx, source)) ?? p.sourceUrl);
  const toUrl = p.targetUrl ?? `http://${p.webHostIp ?? '127.0.0.1'}:${target.environment.runtime.webPort}`;
  const rules = fromUrl && fromUrl !== toUrl ? urlReplaceRules(fromUrl, toUrl) : [];
  const out: Record<string, unknown> = { sourceBackupId: snaps.backupId, fromUrl, toUrl };
  // 3. Database.
  if (p.database !== 'none') {
    if (!snaps.dbSnapshotId || !target.dbContainer) throw fail('TRIPLANE_ERR_BACKUP_UNSUPPORTED', 'no database to copy', false);
    let skip: Set<string> | undefined;
    if (p.database !== 'all') {
      if (source.gone) throw fail('TRIPLANE_ERR_VALIDATION', 'a gone source is copied whole (database all)', false);
      const srcTables = await tablesOf(ctx, source, source.dbName);
      skip =
        p.database === 'woo-safe'
          ? new Set(wooSafeSkipTables(srcTables, TABLE_PREFIX))
          : new Set(srcTables.filter((t) => !(p.tables ?? []).includes(t)));
      const missing = p.database === 'tables' ? (p.tables ?? []).filter((t) => !srcTables.includes(t)) : [];
      if (missing.length) throw fail('TRIPLANE_ERR_VALIDATION', `the source has no table ${missing.join(', ')}`, false);
      out.skippedTables = [...skip].sort();
    }
    // The target keeps its own search-engine visibility: a push from a noindex staging copy
    // must not hide production from search engines.
    const opt = `${ident(target.dbName)}.${ident(`${TABLE_PREFIX}options`)}`;
    const keepPublic = p.noindex
      ? null
      : ((await sql(ctx, target, `SELECT option_value FROM ${opt} WHERE option_name = 'blog_public';`).catch(() => ''))
          .trim()
          .split('\n')[0] ?? null);
    const stats = await loadDatabase(ctx, target, snaps.dbSnapshotId, {
      rewriter: createDumpRewriter({ pairs: rules, ...(skip ? { skipTables: skip } : {}) }),
      replaceAll: p.database === 'all',
      span: [55, 80],
    });
    out.database = stats;
    const visibility = p.noindex ? '0' : keepPublic && /^[01]$/.test(keepPublic) ? keepPublic : null;
    if (visibility !== null) {
      await sql(ctx, target, `UPDATE ${opt} SET option_value = '${visibility}' WHERE option_name = 'blog_public';`);
    }
  }
  // 4. Files.
  if (p.files) {
    const mp = await volumeMountpoint(ctx, target.wpContentVolume);
    const moved = await recoverFilesSwap(mp);
    if (moved)
      ctx.emit({ type: 'log', level: 'warn', message: `files: put back ${moved} entries an interrupted copy had moved aside` });
    const origin = filesPaths.find((x) => x.endsWith('/_data')) ?? filesPaths[0];
    if (!origin) throw fail('TRIPLANE_ERR_BACKUP_SNAPSHOT_NOT_FOUND', 'the files snapshot has no wp-content path', false);
    const staging = join(dirname(mp), 'tp-restore');
    ctx.emit({ type: 'progress', percent: 80, message: 'files: copying beside the live copy' });
    await ctx.restic.restore(snaps.filesSnapshotId, staging, { include: [origin], signal: ctx.signal });
    const src = join(staging, origin);
    if (!(await exists(src)))
      throw fail('TRIPLANE_ERR_BACKUP_SNAPSHOT_NOT_FOUND', 'the files snapshot did not contain wp-content', false);
    const shifted = await shiftOwnership(src, uidBaseOf(source), uidBaseOf(target));
    const rewritten = rules.length ? await rewriteTextFiles(src, rules) : 0;
    checkAborted(ctx.signal);
    ctx.emit({ type: 'progress', percent: 95, message: 'files: swapping in' });
    const old = join(dirname(mp), 'tp-old');
    await mkdir(old, { mode: 0o700 });
    for (const e of await readdir(mp)) await rename(join(mp, e), join(old, e));
    for (const e of await readdir(src)) await rename(join(src, e), join(mp, e));
    await rm(old, { recursive: true, force: true });
    await rm(staging, { recursive: true, force: true });
    out.files = { ownershipShifted: shifted, textFilesRewritten: rewritten };
  }
  await flushObjectCache(ctx, target);
  ctx.emit({ type: 'progress', percent: 100, message: `${p.mode} done` });
  return out;
}

function uidBaseOf(t: EnvTarget): number {
  return 1_000_000_000 + t.environment.runtime.uidSlot * 65536;
}

/**
 * Load a db.sql snapshot through `rewriter` into `<db>__tp_restore`, then swap: with
 * `replaceAll` the target's table set becomes exactly the snapshot's; otherwise only the tables
 * in the stream replace their namesakes (the rest of the target is left alone).
 */
async function loadDatabase(
  ctx: ExecContext,
  t: EnvTarget,
  dbSnapshotId: string,
  o: { rewriter: DumpRewriter; replaceAll: boolean; span: [number, number] },
): Promise<Record<string, unknown>> {
  if (!t.dbContainer) throw fail('TRIPLANE_ERR_BACKUP_UNSUPPORTED', 'no database container', false);
  const live = t.dbName;
  const tmp = `${live}__tp_restore`;
  const old = `${live}__tp_old`;
  ctx.emit({ type: 'progress', percent: o.span[0], message: 'database: loading beside the live one' });
  await sql(
    ctx,
    t,
    `DROP DATABASE IF EXISTS ${ident(tmp)}; DROP DATABASE IF EXISTS ${ident(old)}; CREATE DATABASE ${ident(tmp)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`,
  );
  const load = await execLow(ctx, t.dbContainer, ['mariadb', '--default-character-set=utf8mb4', tmp], true);
  lendServerThread(ctx, t, load, 'the import');
  const loaded = exitOf(load);
  try {
    await pipeline(
      ctx.restic.dumpFile(dbSnapshotId, '/db.sql', { signal: ctx.signal }),
      o.rewriter,
      load.stdin as NodeJS.WritableStream,
      {
        signal: ctx.signal,
      },
    );
  } catch (e) {
    load.kill('SIGKILL');
    await loaded;
    if (isTriplaneError(e)) throw e;
    throw fail('TRIPLANE_ERR_BACKUP_DB', `loading the dump failed: ${e instanceof Error ? e.message : String(e)}`, true);
  }
  const r = await loaded;
  if (r.code !== 0) throw fail('TRIPLANE_ERR_BACKUP_DB', `loading the dump failed: ${r.stderr.trim().slice(-800)}`, true);
  checkAborted(ctx.signal);
  const liveTables = await tablesOf(ctx, t, live);
  const newTables = await tablesOf(ctx, t, tmp);
  if (newTables.length === 0)
    throw fail('TRIPLANE_ERR_BACKUP_DB', 'nothing was loaded; the live database is left as it was', false);
  const out = o.replaceAll ? liveTables : liveTables.filter((n) => newTables.includes(n));
  const moves = [
    ...out.map((n) => `${ident(live)}.${ident(n)} TO ${ident(old)}.${ident(n)}`),
    ...newTables.map((n) => `${ident(tmp)}.${ident(n)} TO ${ident(live)}.${ident(n)}`),
  ];
  await sql(ctx, t, `CREATE DATABASE ${ident(old)}; RENAME TABLE ${moves.join(', ')};`);
  await sql(ctx, t, `DROP DATABASE IF EXISTS ${ident(old)}; DROP DATABASE IF EXISTS ${ident(tmp)};`);
  const s = o.rewriter.stats;
  ctx.emit({
    type: 'log',
    level: 'info',
    message: `database: ${newTables.length} tables copied, ${s.replacements} URL replacements, ${s.malformed} malformed serialized values left as they were`,
  });
  return {
    tables: newTables.length,
    replacements: s.replacements,
    malformed: s.malformed,
    droppedTables: [...s.droppedTables].sort(),
  };
}
