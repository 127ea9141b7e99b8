import { hostname } from 'node:os';
import { backoffDelay, type Clock, type Logger, silentLogger, systemClock, TriplaneError } from '@triplane/kernel';
import type { Lane } from '@triplane/spec';
import type { Store } from '../store/store.ts';
import type { JobRow } from './enqueue.ts';
import { type JobContext, JobDeferred, type JobHandler } from './handler.ts';
import { type BackoffConfig, DEFAULT_LEASE_MS, DEFERRED_PREFIX, JobQueue, toJobError } from './queue.ts';

export interface WorkerOptions {
  store: Store;
  /** Every kind this worker can run (usually HANDLERS from handlers/index.ts). */
  handlers: readonly JobHandler[];
  /** Lanes served; a worker never claims jobs of other lanes. */
  lanes: readonly Lane[];
  /** Jobs run at once by this worker. Default 1. */
  concurrency?: number;
  /** Idle poll interval, ms. Default 500. */
  pollMs?: number;
  /** Lease for handlers that don't set leaseMs. Default 30 s; renewed every third of it. */
  leaseMs?: number;
  /** How often a running job's cancel flag and lease are read, ms. Default 1000. */
  cancelCheckMs?: number;
  /** After aborting a handler (cancel, lost lease, stop), how long to wait for it to return. Default 5 s. */
  abortGraceMs?: number;
  backoff?: BackoffConfig;
  clock?: Clock;
  logger?: Logger;
  /** Lease owner id; default `<host>:<pid>:<random>`. */
  id?: string;
}

type StopReason = 'cancel' | 'lost' | 'stop';

interface Running {
  job: JobRow;
  ac: AbortController;
  reason: StopReason | null;
  done: Promise<void>;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * A job worker: claims jobs of its lanes from the store, runs their handlers, keeps the
 * lease alive while they run, and records the outcome. Runs inside a worker process
 * (worker-main.ts) — never inside the API process.
 *
 *   const w = new Worker({ store, handlers: HANDLERS, lanes: ['interactive', 'normal'], concurrency: 4 });
 *   w.start();
 *   …
 *   await w.stop({ drainMs: 10_000 }); // finish running jobs, or give them back
 *
 * A handler is aborted (its ctx.signal fires) when its job is cancelled, when this worker
 * loses the lease (another worker took the job over: nothing this worker writes counts
 * any more) or when the worker stops and the drain time is over (the job is released,
 * not failed, and resumes on the next worker).
 */
export class Worker {
  readonly id: string;
  readonly lanes: readonly Lane[];
  readonly queue: JobQueue;
  readonly #store: Store;
  readonly #handlers = new Map<string, JobHandler>();
  readonly #concurrency: number;
  readonly #pollMs: number;
  readonly #leaseMs: number;
  readonly #cancelCheckMs: number;
  readonly #abortGraceMs: number;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #running = new Map<string, Running>();
  #stopping = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;

  constructor(o: WorkerOptions) {
    for (const h of o.handlers) {
      if (this.#handlers.has(h.kind)) throw new TriplaneError('TRIPLANE_ERR_CONFIG', `two job handlers for kind ${h.kind}`);
      this.#handlers.set(h.kind, h);
    }
    this.#store = o.store;
    this.lanes = [...o.lanes];
    this.#concurrency = Math.max(1, o.concurrency ?? 1);
    this.#pollMs = o.pollMs ?? 500;
    this.#leaseMs = o.leaseMs ?? DEFAULT_LEASE_MS;
    this.#cancelCheckMs = o.cancelCheckMs ?? 1000;
    this.#abortGraceMs = o.abortGraceMs ?? 5000;
    this.#clock = o.clock ?? systemClock;
    this.#log = o.logger ?? silentLogger();
    this.id = o.id ?? `${hostname()}:${process.pid}:${Math.random().toString(36).slice(2, 10)}`;
    this.queue = new JobQueue(o.store, { clock: this.#clock, ...(o.backoff ? { backoff: o.backoff } : {}) });
  }

  get kinds(): string[] {
    return [...this.#handlers.keys()];
  }

  /** Jobs running now. */
  get active(): number {
    return this.#running.size;
  }

  start(): void {
    if (this.#loop || this.#stopping) return;
    this.#log.info({ worker: this.id, lanes: this.lanes, kinds: this.kinds.length }, 'job worker started');
    this.#loop = this.#run();
  }

  /**
   * Stop claiming; let running jobs finish for up to drainMs, then abort and release the
   * rest (they go back to the queue without using an attempt). Resolves when nothing runs.
   */
  async stop(o: { drainMs?: number } = {}): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
    const all = () => Promise.all([...this.#running.values()].map((r) => r.done));
    if (this.#running.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([all(), new Promise((r) => (timer = setTimeout(r, o.drainMs ?? 10_000)))]);
      clearTimeout(timer);
    }
    for (const r of this.#running.values()) {
      this.#abort(r, 'stop');
    }
    await all();
    this.#log.info({ worker: this.id }, 'job worker stopped');
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(t);
        if (self.#wake === done) self.#wake = undefined;
        resolve();
      }
      this.#wake = done;
    });
  }

  async #run(): Promise<void> {
    let errors = 0;
    while (!this.#stopping) {
      if (this.#running.size >= this.#concurrency) {
        await this.#sleep(this.#pollMs);
        continue;
      }
      let job: JobRow | undefined;
      try {
        if (await this.queue.hasClaimable(this.lanes, this.kinds)) {
          job = await this.queue.claim({
            owner: this.id,
            lanes: this.lanes,
            kinds: this.kinds,
            leaseMs: (kind) => this.#handlers.get(kind)?.leaseMs ?? this.#leaseMs,
          });
        }
        errors = 0;
      } catch (e) {
        errors++;
        this.#log.warn({ err: e, worker: this.id }, 'claiming a job failed; backing off');
        await this.#sleep(backoffDelay(errors, { baseMs: this.#pollMs, capMs: 30_000 }));
        continue;
      }
      if (!job) {
        await this.#sleep(this.#pollMs);
        continue;
      }
      if (this.#stopping) {
        await this.queue.release(job.id, this.id).catch(() => {});
        break;
      }
      this.#begin(job);
    }
  }

  #begin(job: JobRow): void {
    const r: Running = { job, ac: new AbortController(), reason: null, done: Promise.resolve() };
    this.#running.set(job.id, r);
    r.done = this.#execute(r)
      .catch((e) => this.#log.error({ err: e, job: job.id }, 'recording the outcome of a job failed'))
      .finally(() => {
        this.#running.delete(job.id);
        this.#wake?.();
      });
  }

  #abort(r: Running, reason: StopReason): void {
    if (r.reason) return;
    r.reason = reason;
    const err =
      reason === 'cancel'
        ? new TriplaneError('TRIPLANE_ERR_JOB_CANCELLED', 'the job was cancelled')
        : reason === 'lost'
          ? new TriplaneError('TRIPLANE_ERR_UNAVAILABLE', 'this worker lost the job lease')
          : new TriplaneError('TRIPLANE_ERR_UNAVAILABLE', 'the worker is stopping');
    r.ac.abort(err);
  }

  async #execute(r: Running): Promise<void> {
    const { job } = r;
    const q = this.queue;
    const handler = this.#handlers.get(job.kind);
    const log = this.#log.child({ job: job.id, kind: job.kind, attempt: job.attempts });
    if (!handler) {
      await q.release(job.id, this.id);
      return;
    }
    if (job.attempts > job.max_attempts) {
      // Claimed back after a lost lease with no attempt left: the job keeps killing its workers.
      await q.log(job.id, this.id, 'error', `no attempt left after ${job.max_attempts}; the previous worker was lost`);
      await q.fail(
        job.id,
        this.id,
        new TriplaneError('TRIPLANE_ERR_JOB_FAILED', 'the worker running the job was lost on the last attempt', {
          retryable: false,
        }),
      );
      return;
    }
    if (job.cancel_requested === 1) {
      await q.log(job.id, this.id, 'info', 'cancelled');
      await q.markCancelled(job.id, this.id);
      return;
    }

    const leaseMs = handler.leaseMs ?? this.#leaseMs;
    let leaseUntil = Number(job.lease_expires_at ?? this.#clock.now() + leaseMs);
    const onState = (s: { ok: boolean; cancelRequested: boolean }) => {
      if (!s.ok) this.#abort(r, 'lost');
      else if (s.cancelRequested) this.#abort(r, 'cancel');
    };
    const renew = setInterval(
      () => {
        q.renew(job.id, this.id, leaseMs).then(
          (s) => {
            if (s.ok) leaseUntil = this.#clock.now() + leaseMs;
            onState(s);
          },
          (e) => {
            log.warn({ err: e }, 'renewing the lease failed');
            if (this.#clock.now() > leaseUntil) this.#abort(r, 'lost');
          },
        );
      },
      Math.max(50, Math.floor(leaseMs / 3)),
    );
    const check = setInterval(() => {
      q.check(job.id, this.id).then(onState, () => {});
    }, this.#cancelCheckMs);

    // A deferred job comes back every few seconds while it waits: one log line for the wait, not one per look.
    if (!job.message.startsWith(DEFERRED_PREFIX))
      await q.log(job.id, this.id, 'info', `attempt ${job.attempts} of ${job.max_attempts} started on worker ${this.id}`);
    let params: Record<string, unknown> = {};
    try {
      params = JSON.parse(job.params) ?? {};
    } catch {
      // a malformed params column is the handler's problem to report; it gets {}
    }
    const ctx: JobContext = {
      job,
      params,
      store: this.#store,
      clock: this.#clock,
      logger: log,
      signal: r.ac.signal,
      progress: async (percent, message) => onState(await q.progress(job.id, this.id, percent, message)),
      log: async (level, message) => {
        await q.log(job.id, this.id, level, message);
      },
    };

    let grace: NodeJS.Timeout | undefined;
    const outcome: Outcome = await Promise.race([
      Promise.resolve()
        .then(() => handler.run(ctx))
        .then(
          (value): Outcome => ({ ok: true, value }),
          (error): Outcome => ({ ok: false, error }),
        ),
      new Promise<Outcome>((resolve) => {
        const startGrace = () => {
          grace = setTimeout(() => resolve({ ok: false, error: r.ac.signal.reason }), this.#abortGraceMs);
        };
        // The signal may have fired already (a cancel seen while the attempt was starting).
        if (r.ac.signal.aborted) startGrace();
        else r.ac.signal.addEventListener('abort', startGrace, { once: true });
      }),
    ]);
    clearTimeout(grace);
    clearInterval(renew);
    clearInterval(check);

    switch (r.reason) {
      case 'lost':
        log.warn('lost the lease; another worker owns the job now — dropping this attempt');
        return;
      case 'cancel':
        if (outcome.ok) break; // the work finished before it could stop: it succeeded
        await q.log(job.id, this.id, 'info', 'cancelled');
        await q.markCancelled(job.id, this.id);
        return;
      case 'stop':
        if (outcome.ok) break;
        await q.log(job.id, this.id, 'info', 'the worker is stopping; the job goes back to the queue');
        await q.release(job.id, this.id);
        return;
      default:
        break;
    }
    if (outcome.ok) {
      await q.log(job.id, this.id, 'info', 'succeeded');
      await q.complete(job.id, this.id, outcome.value);
      return;
    }
    if (outcome.error instanceof JobDeferred) {
      await q.defer(job.id, this.id, outcome.error.delayMs, outcome.error.message);
      return;
    }
    const e = toJobError(outcome.error);
    await q.log(job.id, this.id, 'error', `attempt ${job.attempts} failed: ${e.code}: ${e.message}`);
    const res = await q.fail(job.id, this.id, outcome.error);
    log.info({ outcome: res.outcome, delayMs: res.delayMs, code: e.code }, 'job attempt failed');
  }
}
