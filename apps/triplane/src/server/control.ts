import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { buildApp } from '@triplane/control/api/app';
import { DEFAULT_BACKUP_POLICY, parseWindow, startBackupScheduler } from '@triplane/control/backups/schedule';
import { webPortRange } from '@triplane/control/desired/allocation';
import { DEFAULT_WORKER_POOLS, type JobSupervisor, startJobWorkers } from '@triplane/control/jobs/supervisor';
import { createLogger } from '@triplane/kernel';
import { openFromFlags } from './init.ts';
import { parseListen, urlFor } from './listen.ts';

export interface ControlFlags {
  dataDir?: string | undefined;
  databaseUrl?: string | undefined;
  listen: string;
  /** Processes of the interactive/normal worker pool; 0 runs no job workers. */
  workers?: number | undefined;
  /** The backup schedule and retention (defaults: 02:00-05:00 UTC, keep 7 daily). */
  backup?: { window: string; keepDaily: number; keepWeekly: number; keepMonthly: number; schedule?: boolean } | undefined;
}

/** The dashboard's production build (`vite build` in apps/dashboard); served at `/` when present. */
export const DASHBOARD_DIST = fileURLToPath(new URL('../../../dashboard/dist', import.meta.url));

/** How long in-flight requests (event streams included) may take to finish on shutdown. */
const CLOSE_GRACE_MS = 10_000;

/**
 * `triplane control`: migrate the store, serve the API, run the job worker processes, and on
 * SIGTERM/SIGINT stop cleanly: stop accepting connections, let in-flight requests finish
 * (streams are cut after a grace period), stop the workers (they drain their jobs), close
 * the store. Resolves once everything is stopped.
 */
export async function runControl(f: ControlFlags): Promise<void> {
  const addr = parseListen(f.listen);
  const webPorts = webPortRange(); // a malformed TRIPLANE_WEB_PORTS stops the start, not the first site
  const backupPolicy = f.backup
    ? {
        ...DEFAULT_BACKUP_POLICY,
        ...parseWindow(f.backup.window),
        keepDaily: f.backup.keepDaily,
        keepWeekly: f.backup.keepWeekly,
        keepMonthly: f.backup.keepMonthly,
      }
    : DEFAULT_BACKUP_POLICY;
  const logger = createLogger('control');
  const store = openFromFlags(f);
  const { applied } = await store.migrate();
  if (applied.length) logger.info({ migrations: applied }, 'store migrated');
  if (process.env.TRIPLANE_WEB_PORTS) logger.info({ webPorts }, 'web ports for new environments');
  const dashboardDir = existsSync(`${DASHBOARD_DIST}/index.html`) ? DASHBOARD_DIST : undefined;
  if (!dashboardDir)
    logger.info(
      { dir: DASHBOARD_DIST },
      'no dashboard build: serving the API only (build it: npm run build -w @triplane/dashboard)',
    );
  // Backup downloads wait here for 24 h: beside the SQLite store, or where TRIPLANE_ARTIFACTS_DIR
  // says (PostgreSQL without --data-dir: the OS temp dir; several replicas need a shared dir).
  const artifactsDir = process.env.TRIPLANE_ARTIFACTS_DIR || (f.dataDir ? `${f.dataDir}/artifacts` : undefined);
  const app = await buildApp({ store, logger, dashboardDir, ...(artifactsDir ? { artifactsDir } : {}) });

  let stopping: Promise<void> | undefined;
  let jobs: JobSupervisor | undefined;
  let scheduler: { stop(): Promise<void> } | undefined;
  const stop = (signal: string) => {
    stopping ??= (async () => {
      logger.info({ signal }, 'shutting down');
      const force = setTimeout(() => {
        logger.warn('in-flight requests still open after the grace period: closing them');
        app.server.closeAllConnections();
      }, CLOSE_GRACE_MS);
      try {
        await app.close();
      } finally {
        clearTimeout(force);
      }
      await scheduler?.stop();
      await jobs?.stop();
      await store.close();
      logger.info('stopped');
    })();
    return stopping;
  };
  const done = new Promise<void>((resolve, reject) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.on(sig, () => {
        if (stopping) {
          logger.warn({ signal: sig }, 'second signal: exiting now');
          process.exit(1);
        }
        stop(sig).then(resolve, reject);
      });
    }
    // Started by `triplane up` with an IPC channel: stop when that supervisor goes away.
    if (process.send) process.once('disconnect', () => stop('supervisor gone').then(resolve, reject));
  });

  try {
    await app.listen({ host: addr.host, port: addr.port });
  } catch (e) {
    await app.close().catch(() => {});
    await store.close().catch(() => {});
    throw e;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : addr.port;
  const workers = f.workers ?? 1;
  if (workers > 0) {
    const pools = DEFAULT_WORKER_POOLS.map((p) => (p.name === 'main' ? { ...p, processes: workers } : p));
    jobs = startJobWorkers({ dataDir: f.dataDir, databaseUrl: f.databaseUrl, pools, logger });
  } else logger.warn('--workers 0: no job workers; jobs stay queued');
  if (f.backup?.schedule === false) logger.warn('--no-backup-schedule: no scheduled backups or retention runs');
  else scheduler = startBackupScheduler(store, { logger, policy: backupPolicy });
  logger.info({ url: urlFor({ host: addr.host, port }), workers }, 'control plane ready');
  await done;
}
