import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { backoffDelay, type Logger, silentLogger } from '@triplane/kernel';
import type { Lane } from '@triplane/spec';

/** One group of worker processes serving the same lanes. */
export interface WorkerPoolSpec {
  name: string;
  lanes: Lane[];
  /** Jobs run at once by each process. */
  concurrency: number;
  /** Processes in this pool. Default 1. */
  processes?: number;
}

/**
 * Default pools: interactive and normal jobs share one process (interactive first: it has
 * the lower priority number); low-lane work (backups, scans, checks) gets its own process
 * at nice 19 / ionice idle so it never competes with the storefront or the API.
 */
export const DEFAULT_WORKER_POOLS: WorkerPoolSpec[] = [
  { name: 'main', lanes: ['interactive', 'normal'], concurrency: 4 },
  { name: 'low', lanes: ['low'], concurrency: 1 },
];

export interface SupervisorOptions {
  /** SQLite data dir (the store at `<dataDir>/triplane.db`) — same as the API's. */
  dataDir?: string | undefined;
  /** `postgres://…` when the store is PostgreSQL. */
  databaseUrl?: string | undefined;
  pools?: WorkerPoolSpec[];
  /** Environment of the worker processes (default: this process's). */
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
  /** Workers' idle poll interval, ms. */
  pollMs?: number;
  /** On stop, how long workers may finish running jobs before releasing them, ms. Default 10 s. */
  drainMs?: number;
  /** Restart delay after a crash: exponential backoff. Default 500 ms … 30 s. */
  restartBackoff?: { baseMs: number; capMs: number };
}

export interface WorkerProcessInfo {
  pool: string;
  lanes: Lane[];
  pid: number | undefined;
  restarts: number;
}

export interface JobSupervisor {
  /** The worker processes now (a crashed one shows pid undefined until restarted). */
  workers(): WorkerProcessInfo[];
  /** SIGTERM every worker, wait for them to drain (then SIGKILL after drainMs + 5 s). */
  stop(): Promise<void>;
}

export const WORKER_MAIN = fileURLToPath(new URL('./worker-main.ts', import.meta.url));

interface Slot {
  spec: WorkerPoolSpec;
  child: ChildProcess | undefined;
  startedAt: number;
  restarts: number;
  crashes: number;
  timer: NodeJS.Timeout | undefined;
  exited: Promise<void>;
}

/**
 * Start the job worker processes of the control plane and keep them running: a worker that
 * exits unexpectedly is restarted after a backoff (reset once it has run for a minute).
 * The workers are forked with an IPC channel, so they also stop if this process dies.
 *
 *   const jobs = startJobWorkers({ dataDir, databaseUrl, logger });
 *   process.on('SIGTERM', async () => { await app.close(); await jobs.stop(); });
 */
export function startJobWorkers(o: SupervisorOptions): JobSupervisor {
  const log = o.logger ?? silentLogger();
  const backoff = o.restartBackoff ?? { baseMs: 500, capMs: 30_000 };
  const drainMs = o.drainMs ?? 10_000;
  let stopping = false;
  const slots: Slot[] = [];

  function args(spec: WorkerPoolSpec): string[] {
    const a = ['--lanes', spec.lanes.join(','), '--concurrency', String(spec.concurrency), '--drain-ms', String(drainMs)];
    if (o.dataDir) a.push('--data-dir', o.dataDir);
    if (o.databaseUrl) a.push('--database-url', o.databaseUrl);
    if (o.pollMs) a.push('--poll-ms', String(o.pollMs));
    return a;
  }

  function launch(slot: Slot): void {
    slot.timer = undefined;
    if (stopping) return;
    const child = fork(WORKER_MAIN, args(slot.spec), {
      env: o.env ?? process.env,
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    slot.child = child;
    slot.startedAt = Date.now();
    slot.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        slot.child = undefined;
        resolve();
        if (stopping) return;
        if (Date.now() - slot.startedAt > 60_000) slot.crashes = 0;
        slot.crashes++;
        slot.restarts++;
        const delay = backoffDelay(slot.crashes, backoff);
        log.warn({ pool: slot.spec.name, code, signal, restartInMs: delay }, 'job worker exited; restarting');
        slot.timer = setTimeout(() => launch(slot), delay);
      });
    });
    child.on('error', (e) => log.error({ err: e, pool: slot.spec.name }, 'job worker process error'));
    log.info({ pool: slot.spec.name, pid: child.pid, lanes: slot.spec.lanes }, 'job worker started');
  }

  for (const spec of o.pools ?? DEFAULT_WORKER_POOLS) {
    for (let i = 0; i < (spec.processes ?? 1); i++) {
      const slot: Slot = {
        spec,
        child: undefined,
        startedAt: 0,
        restarts: 0,
        crashes: 0,
        timer: undefined,
        exited: Promise.resolve(),
      };
      slots.push(slot);
      launch(slot);
    }
  }

  return {
    workers: () => slots.map((s) => ({ pool: s.spec.name, lanes: s.spec.lanes, pid: s.child?.pid, restarts: s.restarts })),
    async stop() {
      stopping = true;
      for (const s of slots) clearTimeout(s.timer);
      const live = slots.filter((s) => s.child && s.child.exitCode === null && s.child.signalCode === null);
      for (const s of live) s.child?.kill('SIGTERM');
      let killer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(live.map((s) => s.exited)),
        new Promise<void>((resolve) => {
          killer = setTimeout(() => {
            for (const s of live) s.child?.kill('SIGKILL');
            resolve();
          }, drainMs + 5000);
        }),
      ]);
      clearTimeout(killer);
      await Promise.all(live.map((s) => s.exited));
      log.info('job workers stopped');
    },
  };
}
