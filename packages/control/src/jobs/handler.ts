import type { Clock, Logger } from '@triplane/kernel';
import type { Lane } from '@triplane/spec';
import type { Store } from '../store/store.ts';
import type { JobRow } from './enqueue.ts';

/**
 * What a job handler gets. Handlers are idempotent steps: a job may run again after a
 * worker crash or a lost lease, so every step checks what is already done before doing it.
 */
export interface JobContext<P = Record<string, unknown>> {
  job: JobRow;
  params: P;
  store: Store;
  clock: Clock;
  logger: Logger;
  /** Aborted when the job is cancelled or this worker lost its lease: stop promptly. */
  signal: AbortSignal;
  /** Report progress 0–100 with a short human message (persisted, streamed to watchers). */
  progress(percent: number, message: string): Promise<void>;
  /** Append a line to the job's log (persisted). Never log secrets. */
  log(level: 'info' | 'warn' | 'error', message: string): Promise<void>;
}

/**
 * A kind of job, registered by name in handlers/index.ts (one handler per file).
 * Example:
 *   export const siteProvision: JobHandler<{ siteId: string }> = {
 *     kind: 'site.provision', lane: 'interactive', maxAttempts: 5,
 *     async run(ctx) { await ctx.progress(10, 'placing'); …; return { serverId }; },
 *   };
 * Throw a TriplaneError with `details.retryable === false` for a terminal failure;
 * anything else thrown is retried with backoff until maxAttempts.
 */
export interface JobHandler<P = any> {
  kind: string;
  lane?: Lane;
  maxAttempts?: number;
  /** Lease length, ms; the worker renews it while run() is in progress. */
  leaseMs?: number;
  run(ctx: JobContext<P>): Promise<unknown>;
}

/**
 * Thrown by a handler that must wait for something slow outside it (an agent's backup): the job
 * goes back to the queue, due again in `delayMs`, without counting an attempt and without holding
 * a worker meanwhile. The handler runs again from the top, so it must find its earlier steps done
 * (idempotency keys, state checks) — which every handler does anyway.
 * Example: `if (!done) throw new JobDeferred(5000, 'waiting for the pre-delete backup');`
 */
export class JobDeferred extends Error {
  readonly delayMs: number;
  constructor(delayMs: number, message: string) {
    super(message);
    this.name = 'JobDeferred';
    this.delayMs = Math.max(0, delayMs);
  }
}
