import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type Clock, createLogger, type Logger, systemClock, TriplaneError } from '@triplane/kernel';
import type { RuntimeDriver } from '@triplane/runtime/driver';
import type { AssignedEnvironment } from '@triplane/spec';
import { returnLentThreads } from './backup/db-thread.ts';
import { spawnLowPriority } from './backup/lowprio.ts';
import { ControlLink } from './control-link.ts';
import { hostFacts } from './facts.ts';
import { fileJobRunner } from './files/runner.ts';
import { AgentJobRunner } from './jobs/runner.ts';
import { SiteLogCollector } from './logs/collector.ts';
import { ContainerMetrics, podNameOf } from './metrics/container-metrics.ts';
import { PodmanDriver } from './podman-driver.ts';
import type { ReconcileConfig } from './reconcile/config.ts';
import { Reconciler } from './reconcile/engine.ts';
import { ReconcileRunner } from './reconcile/runner.ts';
import { StateDir } from './state-dir.ts';
import { WordPressTasks } from './wordpress/tasks.ts';

/**
 * `triplane agent --api URL --join-token T --state-dir DIR`: the app-server agent.
 *
 * Start order matters for "agent down ≠ sites down" and "a reboot brings the pods back":
 *   1. the reconciler starts at once from the assignment persisted in the state dir (if any),
 *      before any network call — pods come back even when the control plane is down;
 *   2. then the control link joins (first run; the token is single-use) or loads its identity;
 *   3. heartbeats, the assignment watch and status reports run until `stop()`.
 * Stopping the agent never stops pods.
 *
 * Example:
 *   const agent = await runAgent({ apiUrl: 'http://127.0.0.1:8800', joinToken, stateDir: '/var/lib/triplane/agent' });
 *   …; await agent.stop();
 */
export const AGENT_VERSION = '0.1.0';
export const DEFAULT_STATE_DIR = '/var/lib/triplane/agent';

export interface AgentOptions {
  apiUrl: string;
  joinToken?: string | undefined;
  stateDir?: string | undefined;
  /** Address the edge reaches this server's web ports at (sent at join). */
  address?: string | undefined;
  /** Where web ports are published (default 127.0.0.1). */
  webHostIp?: string | undefined;
  /** Default: the Podman driver. */
  driver?: RuntimeDriver | undefined;
  logger?: Logger | undefined;
  clock?: Clock | undefined;
  /** Reconcile pass interval, ms (default 2000). */
  intervalMs?: number | undefined;
  heartbeatMs?: number | undefined;
  watchWaitS?: number | undefined;
  reportRefreshMs?: number | undefined;
  reconcile?: Partial<ReconcileConfig> | undefined;
  /** Run the jobs the control plane queues for this server (backups, restores). Default true. */
  jobs?: boolean | undefined;
}

/** Kinds of server jobs this agent runs (control's jobs/agent-kinds.ts). */
export const AGENT_JOB_KIND_NAMES = [
  'backup.create',
  'backup.restore',
  'backup.prune',
  'backup.check',
  'backup.export',
  'env.sync',
];
const JOB_MAIN = fileURLToPath(new URL('./backup/job-main.ts', import.meta.url));

export interface RunningAgent {
  serverId: string;
  reconciler: Reconciler;
  link: ControlLink;
  stop(): Promise<void>;
}

export async function runAgent(o: AgentOptions): Promise<RunningAgent> {
  const log = o.logger ?? createLogger('triplane-agent');
  const stateDir = new StateDir(o.stateDir ?? DEFAULT_STATE_DIR);
  await stateDir.init();
  const driver = o.driver ?? new PodmanDriver({ stateDir: stateDir.path, webHostIp: o.webHostIp, logger: log });
  const reconciler = new Reconciler({ driver, clock: o.clock ?? systemClock, logger: log, config: o.reconcile });
  const link = new ControlLink({
    apiUrl: o.apiUrl,
    stateDir,
    joinToken: o.joinToken,
    address: o.address,
    agentVersion: AGENT_VERSION,
    facts: () => hostFacts(stateDir.path),
    logger: log,
    heartbeatMs: o.heartbeatMs,
    watchWaitS: o.watchWaitS,
    reportRefreshMs: o.reportRefreshMs,
  });
  let desired: AssignedEnvironment[] | null = null;
  const wordpress = new WordPressTasks({
    webHostIp: o.webHostIp,
    clock: o.clock,
    logger: log,
    onChange: () => link.setReport(wordpress.decorate(reconciler.report())),
  });
  const runner = new ReconcileRunner({
    reconciler,
    intervalMs: o.intervalMs,
    logger: log,
    onPass: () => {
      const report = reconciler.report();
      wordpress.tick(desired, report);
      link.setReport(wordpress.decorate(report));
    },
  });

  const stored = await stateDir.loadAssignment();
  if (stored) {
    desired = stored.assignment.environments;
    reconciler.setDesired(stored.assignment.environments);
    log.info(
      { revision: stored.assignment.revision, environments: stored.assignment.environments.length },
      'resuming the saved assignment',
    );
  }
  runner.start();
  let identity: Awaited<ReturnType<ControlLink['connect']>>;
  try {
    identity = await link.connect();
  } catch (e) {
    await runner.stop();
    throw e;
  }
  link.start({
    onAssignment: (a) => {
      desired = a.environments;
      reconciler.setDesired(a.environments);
      runner.wake();
    },
  });
  const jobs =
    o.jobs === false
      ? undefined
      : new AgentJobRunner({
          link,
          lookup: (id) => desired?.find((e) => e.id === id),
          stateDir: stateDir.path,
          webHostIp: o.webHostIp ?? '127.0.0.1',
          kinds: AGENT_JOB_KIND_NAMES,
          logger: log,
          spawnChild: () => {
            const child = spawnLowPriority(process.execPath, [JOB_MAIN], { goMaxProcs: null, goGC: null });
            if (child.lane.degraded.length) log.warn({ reasons: child.lane.degraded }, 'agent job: low-priority lane degraded');
            return child;
          },
        });
  if (jobs) {
    // A job killed mid-dump can leave mariadbd's dump thread in the lane (backup/db-thread.ts).
    const back = returnLentThreads();
    if (back) log.warn({ threads: back }, 'agent job: database threads left in the low-priority lane were put back');
  }
  jobs?.start();
  // File manager + database browser: their own claim loop (interactive lane), never behind a backup.
  const fileJobs =
    o.jobs === false
      ? undefined
      : fileJobRunner({ link, lookup: (id) => desired?.find((e) => e.id === id), stateDir: stateDir.path, logger: log });
  fileJobs?.start();
  // CPU/memory of the Podman pods' containers to the control plane every 10 s (docs/metrics.md)
  const containerMetrics = o.driver
    ? undefined
    : new ContainerMetrics({
        environments: () => (desired ?? []).map((e) => ({ id: e.id, podName: podNameOf(e) })),
        post: (r) => link.call('POST', `/agents/${encodeURIComponent(identity.serverId)}/metrics`, r, { timeoutMs: 5000 }),
        logger: log,
      });
  containerMetrics?.start();
  // the site pods' nginx and php-fpm error logs to the control plane every 2 s (docs/logs.md)
  const siteLogs = o.driver
    ? undefined
    : new SiteLogCollector({
        environments: () => (desired ?? []).map((e) => ({ id: e.id, podName: podNameOf(e) })),
        post: (b) => link.call('POST', `/agents/${encodeURIComponent(identity.serverId)}/logs`, b, { timeoutMs: 5000 }),
        stateFile: join(stateDir.path, 'site-logs.json'),
        logger: log,
      });
  siteLogs?.start();
  log.info({ serverId: identity.serverId, driver: driver.name }, 'agent running');
  return {
    serverId: identity.serverId,
    reconciler,
    link,
    async stop() {
      await Promise.all([jobs?.stop(), fileJobs?.stop()]);
      await containerMetrics?.stop();
      await siteLogs?.stop();
      await link.stop();
      await runner.stop();
      // An install or cron request in flight is left to finish on its own (idempotent).
    },
  };
}

/** Parse `triplane agent` arguments (flags or TRIPLANE_API / TRIPLANE_JOIN_TOKEN / TRIPLANE_AGENT_STATE_DIR). */
export function parseAgentArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): AgentOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      api: { type: 'string' },
      'join-token': { type: 'string' },
      'state-dir': { type: 'string' },
      address: { type: 'string' },
      'web-host-ip': { type: 'string' },
      'interval-ms': { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  const apiUrl = values.api ?? env.TRIPLANE_API;
  if (!apiUrl) throw new TriplaneError('TRIPLANE_ERR_VALIDATION', '--api URL is required (or TRIPLANE_API)');
  if (!/^https?:\/\/[^\s/]+/.test(apiUrl))
    throw new TriplaneError('TRIPLANE_ERR_VALIDATION', `--api must be an http(s) URL, got ${apiUrl}`);
  const interval = values['interval-ms'] !== undefined ? Number(values['interval-ms']) : undefined;
  if (interval !== undefined && !(Number.isInteger(interval) && interval >= 100)) {
    throw new TriplaneError('TRIPLANE_ERR_VALIDATION', '--interval-ms must be an integer ≥ 100');
  }
  return {
    apiUrl,
    joinToken: values['join-token'] ?? env.TRIPLANE_JOIN_TOKEN,
    stateDir: values['state-dir'] ?? env.TRIPLANE_AGENT_STATE_DIR ?? DEFAULT_STATE_DIR,
    address: values.address,
    webHostIp: values['web-host-ip'],
    intervalMs: interval,
  };
}

/** Run until SIGINT/SIGTERM (pods keep running after the agent exits). */
export async function runAgentUntilSignal(o: AgentOptions): Promise<void> {
  const agent = await runAgent(o);
  await new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
  await agent.stop();
}

if (import.meta.main) {
  try {
    await runAgentUntilSignal(parseAgentArgs(process.argv.slice(2)));
    process.exit(0);
  } catch (e) {
    process.stderr.write(`triplane agent: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(e instanceof TriplaneError && e.code === 'TRIPLANE_ERR_VALIDATION' ? 2 : 1);
  }
}
