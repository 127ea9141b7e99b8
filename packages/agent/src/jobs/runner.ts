import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { backoffDelay, type Logger, silentLogger, TriplaneError } from '@triplane/kernel';
import type { AgentJob, AgentJobClaimResponse, AssignedEnvironment, BackupRecordRequest } from '@triplane/spec';

/**
 * Runs the jobs the control plane queued for THIS app server (backups, restores, retention
 * runs…; spec/api/agent-jobs.ts), one at a time, each in its own low-priority child process
 * (`backup/job-main.ts`, started by `spawnChild` — nice 19, ionice idle, the low cgroup): a
 * backup must never take CPU or disk time from the storefront, and a crash or a hang of the
 * executor never takes the agent down with it.
 *
 * The child speaks NDJSON on stdout (ChildEvent); this runner relays it to the control plane:
 * progress and log lines batched every `flushMs` (each call renews the job's lease), a backup
 * the child made is recorded at once (so a safety snapshot is listed even if the restore after
 * it fails), then complete / fail / cancelled. A cancel request or a lost lease stops the child
 * (SIGTERM, then SIGKILL after `killGraceMs`); when the agent stops, the job is released for
 * the next run (executors are resumable steps).
 */
export type ChildEvent =
  | { type: 'progress'; percent: number; message: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string }
  | { type: 'backup'; record: Omit<BackupRecordRequest, 'owner'> }
  | { type: 'result'; result: unknown }
  | { type: 'error'; code: string; message: string; retryable: boolean; details?: unknown };

/** What the child gets on stdin (one JSON document). */
export interface ChildInput {
  job: AgentJob;
  /** the job's environment (its target) */
  environment: AssignedEnvironment | null;
  /** every environment the job's params name (sourceEnvironmentId, targetEnvironmentId…) that runs here */
  environments: Record<string, AssignedEnvironment>;
  stateDir: string;
  /** where web ports are published on this server */
  webHostIp: string;
  /**
   * Only for kinds in UPLOADING_KINDS: how the child streams its output (an archive) to the
   * control plane itself — relaying gigabytes through this process's NDJSON pipe would not do.
   * The agent credential travels on the child's stdin, never in argv or the environment (which
   * restic/podman would inherit and /proc/<pid>/environ shows); the child runs as the agent's
   * own user, so it crosses no privilege boundary.
   */
  control?: { apiUrl: string; serverId: string; credential: string; owner: string };
}

/** Kinds whose child uploads a job artifact (`PUT /agents/{id}/jobs/{jobId}/artifact`). */
export const UPLOADING_KINDS = new Set(['backup.export']);

export interface JobLink {
  readonly serverId: string | undefined;
  call<T>(method: string, path: string, body?: unknown, o?: { timeoutMs?: number; signal?: AbortSignal }): Promise<T>;
  /** The API URL and credential, for a child that uploads an artifact (ChildInput.control). */
  childAccess?(): { apiUrl: string; credential: string } | undefined;
}

export interface AgentJobRunnerOptions {
  link: JobLink;
  /** The environment (from the current assignment) a job acts on. */
  lookup(environmentId: string): AssignedEnvironment | undefined;
  stateDir: string;
  webHostIp?: string;
  kinds: string[];
  spawnChild(input: ChildInput): ChildProcess;
  logger?: Logger;
  flushMs?: number;
  killGraceMs?: number;
  /** Long-poll seconds per claim. */
  waitS?: number;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** How long a job may wait for its environment to reach this server's assignment. */
const NOT_PLACED_WAIT_MS = 5 * 60_000;

export class AgentJobRunner {
  readonly #o: AgentJobRunnerOptions;
  readonly #log: Logger;
  readonly #owner = `run-${randomBytes(6).toString('hex')}`;
  #stop = new AbortController();
  #loop: Promise<void> | undefined;
  #child: ChildProcess | undefined;
  readonly stats = { claimed: 0, succeeded: 0, failed: 0, cancelled: 0, released: 0, errors: 0 };

  constructor(o: AgentJobRunnerOptions) {
    this.#o = o;
    this.#log = o.logger ?? silentLogger();
  }

  start(): void {
    if (this.#loop) return;
    this.#loop = this.#run();
  }

  /** Stop claiming; a running child is stopped and its job released. */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#child?.kill('SIGTERM');
    await this.#loop;
  }

  #path(suffix: string): string {
    return `/agents/${this.#o.link.serverId}/jobs${suffix}`;
  }

  async #run(): Promise<void> {
    let failures = 0;
    while (!this.#stop.signal.aborted) {
      try {
        const waitS = this.#o.waitS ?? 25;
        const r = await this.#o.link.call<AgentJobClaimResponse>(
          'POST',
          this.#path('/claim'),
          { owner: this.#owner, kinds: this.#o.kinds, wait: waitS },
          { timeoutMs: (waitS + 15) * 1000, signal: this.#stop.signal },
        );
        failures = 0;
        if (r.job) {
          this.stats.claimed++;
          await this.#execute(r.job);
        }
      } catch (e) {
        if (this.#stop.signal.aborted) break;
        this.stats.errors++;
        failures++;
        this.#log.warn({ err: e instanceof Error ? e.message : String(e) }, 'agent jobs: claim failed; retrying');
        await sleep(backoffDelay(failures, { baseMs: 1000, capMs: 30_000 }), this.#stop.signal);
      }
    }
  }

  async #execute(job: AgentJob): Promise<void> {
    const log = this.#log.child({ jobId: job.id, kind: job.kind });
    const environment = job.environmentId ? (this.#o.lookup(job.environmentId) ?? null) : null;
    // Calls to the control plane for this job, strictly in order.
    let chain: Promise<unknown> = Promise.resolve();
    const send = <T>(suffix: string, body: Record<string, unknown>): Promise<T> => {
      const p = chain.then(() =>
        this.#o.link.call<T>('POST', this.#path(`/${job.id}${suffix}`), { owner: this.#owner, ...body }),
      );
      chain = p.catch(() => undefined);
      return p;
    };
    if (job.environmentId && !environment) {
      // Usually the job was queued with a new environment (staging, clone) that is still on its
      // way to this agent's assignment: give it back for a few seconds, not counting an attempt.
      // Only for a while — a job whose environment never arrives fails with the reason.
      const age = job.createdAt ? Date.now() - Date.parse(job.createdAt) : Number.POSITIVE_INFINITY;
      if (age < NOT_PLACED_WAIT_MS) {
        log.info('the job’s environment is not in this server’s assignment yet; giving the job back for a moment');
        await send('/release', { waitMs: 3000, reason: 'the environment is not on this server yet' }).catch(() => undefined);
        return;
      }
      await send('/fail', {
        error: { code: 'TRIPLANE_ERR_BACKUP_NOT_PLACED', message: 'the environment is not assigned to this server (yet)' },
        retryable: true,
      }).catch(() => undefined);
      this.stats.failed++;
      return;
    }
    log.info('agent job started');
    const environments: Record<string, AssignedEnvironment> = {};
    const params = (job.params ?? {}) as Record<string, unknown>;
    for (const id of [job.environmentId, params.sourceEnvironmentId, params.targetEnvironmentId]) {
      const e = typeof id === 'string' ? this.#o.lookup(id) : undefined;
      if (e) environments[e.id] = e;
    }
    const input: ChildInput = {
      job,
      environment,
      environments,
      stateDir: this.#o.stateDir,
      webHostIp: this.#o.webHostIp ?? '127.0.0.1',
    };
    const access = UPLOADING_KINDS.has(job.kind) ? this.#o.link.childAccess?.() : undefined;
    if (access && this.#o.link.serverId) input.control = { ...access, serverId: this.#o.link.serverId, owner: this.#owner };
    const child = this.#o.spawnChild(input);
    this.#child = child;
    let pending: { percent?: number; message?: string; logs: { level: string; message: string }[] } = { logs: [] };
    let result: { value: unknown } | undefined;
    let error: Extract<ChildEvent, { type: 'error' }> | undefined;
    let stopReason: 'cancel' | 'lost' | 'agent-stop' | undefined;
    let recordFailed: unknown;
    const kill = (why: typeof stopReason) => {
      if (stopReason) return;
      stopReason = why;
      log.warn({ why }, 'stopping the job');
      // Only the executor: it stops its own restic/podman children and reports; the whole
      // process tree (and cgroup) is killed only if it does not exit in time.
      child.kill('SIGTERM');
      const tree = child as ChildProcess & { killTree?: (s: NodeJS.Signals) => void };
      setTimeout(() => (tree.killTree ? tree.killTree('SIGKILL') : child.kill('SIGKILL')), this.#o.killGraceMs ?? 15_000).unref();
    };
    const onStop = () => kill('agent-stop');
    this.#stop.signal.addEventListener('abort', onStop, { once: true });
    const flush = async () => {
      const body = pending;
      pending = { logs: [] };
      try {
        const r = await send<{ ok: boolean; cancelRequested: boolean }>('/progress', {
          ...(body.percent !== undefined ? { percent: body.percent } : {}),
          ...(body.message !== undefined ? { message: body.message } : {}),
          ...(body.logs.length ? { logs: body.logs.slice(0, 100) } : {}),
        });
        if (!r.ok) kill('lost');
        else if (r.cancelRequested) kill('cancel');
      } catch (e) {
        // The control plane is unreachable: keep working, the next flush retries; if the lease
        // runs out meanwhile, the next call answers ok:false and the child is stopped.
        log.warn({ err: e instanceof Error ? e.message : String(e) }, 'agent job: progress not delivered');
        pending.logs.unshift(...body.logs);
      }
    };
    const timer = setInterval(() => void flush(), this.#o.flushMs ?? 2000);
    const stderrTail: string[] = [];
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      stderrTail.push(d);
      if (stderrTail.length > 20) stderrTail.shift();
    });
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.once('error', (e) => {
        error = {
          type: 'error',
          code: 'TRIPLANE_ERR_BACKUP_FAILED',
          message: `executor did not start: ${e.message}`,
          retryable: true,
        };
        resolve(null);
      });
    });
    try {
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(`${JSON.stringify(input)}\n`);
      if (child.stdout) {
        for await (const line of createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY })) {
          if (!line.trim()) continue;
          let ev: ChildEvent;
          try {
            ev = JSON.parse(line) as ChildEvent;
          } catch {
            pending.logs.push({ level: 'info', message: line.slice(0, 4000) });
            continue;
          }
          if (ev.type === 'progress') {
            pending.percent = ev.percent;
            pending.message = ev.message;
          } else if (ev.type === 'log') pending.logs.push({ level: ev.level, message: ev.message });
          else if (ev.type === 'backup') {
            await send('/backups', { ...ev.record }).catch((e: unknown) => {
              recordFailed = e;
            });
          } else if (ev.type === 'result') result = { value: ev.result };
          else if (ev.type === 'error') error = ev;
        }
      }
      const code = await exited;
      clearInterval(timer);
      // Whatever the executor started (restic, podman exec) must not outlive it.
      if (code !== 0) (child as ChildProcess & { killTree?: (s: NodeJS.Signals) => void }).killTree?.('SIGKILL');
      await flush();
      if (stopReason === 'agent-stop') {
        await send('/release', {}).catch(() => undefined);
        this.stats.released++;
      } else if (stopReason === 'cancel') {
        await send('/cancelled', {}).catch(() => undefined);
        this.stats.cancelled++;
      } else if (stopReason === 'lost') {
        this.stats.failed++;
      } else if (result && code === 0 && !recordFailed) {
        const r = await send<{ ok: boolean; outcome?: string }>('/complete', { result: result.value });
        if (r.outcome === 'succeeded') this.stats.succeeded++;
        else this.stats.failed++;
      } else {
        const e =
          error ??
          (recordFailed
            ? {
                code: 'TRIPLANE_ERR_BACKUP_FAILED',
                message: `the control plane did not record the backup: ${recordFailed instanceof Error ? recordFailed.message : String(recordFailed)}`,
                retryable: true,
              }
            : {
                code: 'TRIPLANE_ERR_BACKUP_FAILED',
                message: `the executor exited with code ${code}: ${stderrTail.join('').trim().slice(-1500) || 'no output'}`,
                retryable: true,
              });
        // details (e.g. the file manager's {path, reason}) reach the API caller with the code
        const details = 'details' in e && e.details !== undefined ? { details: e.details } : {};
        await send('/fail', { error: { code: e.code, message: e.message, ...details }, retryable: e.retryable });
        this.stats.failed++;
      }
      log.info({ outcome: stopReason ?? (error ? 'failed' : 'done') }, 'agent job finished');
    } catch (e) {
      clearInterval(timer);
      log.error({ err: e instanceof Error ? e.message : String(e) }, 'agent job: reporting failed');
      if (!(e instanceof TriplaneError)) this.stats.errors++;
    } finally {
      this.#stop.signal.removeEventListener('abort', onStop);
      this.#child = undefined;
    }
  }
}
