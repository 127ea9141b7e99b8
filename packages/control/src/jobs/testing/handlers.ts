import { TriplaneError } from '@triplane/kernel';
import { JobDeferred, type JobHandler } from '../handler.ts';

/**
 * Job kinds for tests only, loaded into worker processes through
 * TRIPLANE_JOB_HANDLER_MODULES=<absolute path of this file> (never registered in production).
 */

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    function onAbort() {
      clearTimeout(t);
      reject(signal.reason);
    }
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** `test.sleep {steps=5, stepMs=100}`: sleeps in steps, reporting progress after each. */
export const testSleep: JobHandler<{ steps?: number; stepMs?: number }> = {
  kind: 'test.sleep',
  lane: 'normal',
  maxAttempts: 5,
  leaseMs: 1500,
  async run(ctx) {
    const steps = ctx.params.steps ?? 5;
    const stepMs = ctx.params.stepMs ?? 100;
    for (let i = 1; i <= steps; i++) {
      await sleep(stepMs, ctx.signal);
      await ctx.progress(Math.floor((i * 100) / steps), `step ${i} of ${steps}`);
      await ctx.log('info', `step ${i} done`);
    }
    return { steps, attempt: ctx.job.attempts, pid: process.pid };
  },
};

/**
 * `test.fail {terminal?, succeedOnAttempt?, message?}`: throws on every attempt (a terminal
 * error when `terminal`), or until attempt `succeedOnAttempt`, which succeeds.
 */
export const testFail: JobHandler<{ terminal?: boolean; succeedOnAttempt?: number; message?: string }> = {
  kind: 'test.fail',
  lane: 'normal',
  maxAttempts: 3,
  async run(ctx) {
    const p = ctx.params;
    if (p.succeedOnAttempt !== undefined && ctx.job.attempts >= p.succeedOnAttempt) return { attempt: ctx.job.attempts };
    if (p.terminal) {
      throw new TriplaneError('TRIPLANE_ERR_UNPROCESSABLE', p.message ?? 'cannot be done', { retryable: false });
    }
    throw new Error(p.message ?? `attempt ${ctx.job.attempts} failed`);
  },
};

/** `test.hang`: ignores its abort signal (tests the worker's grace period). */
export const testHang: JobHandler = {
  kind: 'test.hang',
  lane: 'normal',
  async run() {
    await new Promise((r) => setTimeout(r, 60_000).unref());
  },
};

/** `test.wait {until}`: defers itself (JobDeferred, 30 ms) until the clock passes `until` (epoch ms). */
const testWait: JobHandler<{ until: number }> = {
  kind: 'test.wait',
  lane: 'normal',
  async run(ctx) {
    if (Date.now() < ctx.params.until) throw new JobDeferred(30, 'the time has not come');
    return { waited: true };
  },
};

export const handlers: JobHandler[] = [testSleep, testFail, testHang, testWait];
