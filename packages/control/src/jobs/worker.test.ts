import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Store } from '../store/store.ts';
import { openTestStore } from '../testing/harness.ts';
import { enqueueJob, type JobRow } from './enqueue.ts';
import { HANDLERS } from './handlers/index.ts';
import { JobQueue } from './queue.ts';
import { handlers as testHandlers } from './testing/handlers.ts';
import { Worker, type WorkerOptions } from './worker.ts';

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`job worker (${dialect})`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    let q: JobQueue;
    const workers: Worker[] = [];
    before(async () => {
      ({ store, cleanup } = await openTestStore(dialect));
      q = new JobQueue(store);
    });
    after(async () => {
      for (const w of workers) await w.stop({ drainMs: 0 });
      await cleanup();
    });

    function worker(o: Partial<WorkerOptions> = {}): Worker {
      const w = new Worker({
        store,
        handlers: [...HANDLERS, ...testHandlers],
        lanes: ['interactive', 'normal', 'low'],
        concurrency: 2,
        pollMs: 20,
        cancelCheckMs: 50,
        abortGraceMs: 300,
        backoff: { baseMs: 20, capMs: 40 },
        ...o,
      });
      workers.push(w);
      w.start();
      return w;
    }
    const enqueue = async (
      kind: string,
      params: Record<string, unknown> = {},
      o: { maxAttempts?: number; lane?: 'low' | 'normal' } = {},
    ) => (await enqueueJob(store.db, { kind, params, ...o })).job;
    const settled = (id: string, states = ['succeeded', 'failed', 'cancelled']) =>
      waitFor(`job ${id} to settle`, async () => {
        const j = await q.get(id);
        return j && states.includes(j.state) ? j : undefined;
      });

    test('runs a job to success with progress, logs and result', async () => {
      const w = worker();
      const job = await enqueue('test.sleep', { steps: 4, stepMs: 20 });
      const done = await settled(job.id);
      assert.equal(done.state, 'succeeded');
      assert.equal(done.progress, 100);
      assert.equal(done.attempts, 1);
      assert.equal(JSON.parse(done.result ?? '{}').steps, 4);
      const logs = (await q.logs(job.id)).map((l) => l.message);
      assert.match(logs[0] ?? '', /^attempt 1 of 5 started on worker /);
      for (let i = 1; i <= 4; i++) assert.ok(logs.includes(`step ${i} done`));
      assert.equal(logs.at(-1), 'succeeded');
      await w.stop();
    });

    test('a deferring job waits in the queue, not on a worker, and costs no attempt', async () => {
      const w = worker({ concurrency: 1 });
      const waiting = await enqueue('test.wait', { until: Date.now() + 400 }, { maxAttempts: 1 });
      // With one slot, another job still runs while the first one waits.
      const other = await enqueue('test.sleep', { steps: 1, stepMs: 10 });
      assert.equal((await settled(other.id)).state, 'succeeded');
      const mid = await q.get(waiting.id);
      assert.ok(mid && ['queued', 'running'].includes(mid.state), mid?.state);
      const done = await settled(waiting.id);
      assert.equal(done.state, 'succeeded', done.error ?? '');
      assert.equal(done.attempts, 1, 'deferrals are not attempts (maxAttempts 1 would have failed it)');
      const starts = (await q.logs(waiting.id)).filter((l) => l.message.startsWith('attempt '));
      assert.equal(starts.length, 1, 'one "attempt started" line for the whole wait');
      await w.stop();
    });

    test('a failing job is retried with backoff and succeeds on a later attempt', async () => {
      const w = worker();
      const job = await enqueue('test.fail', { succeedOnAttempt: 3 });
      const done = await settled(job.id);
      assert.equal(done.state, 'succeeded');
      assert.equal(done.attempts, 3);
      const errors = (await q.logs(job.id)).filter((l) => l.level === 'error');
      assert.equal(errors.length, 2);
      assert.match(errors[0]?.message ?? '', /attempt 1 failed: TRIPLANE_ERR_JOB_FAILED: attempt 1 failed/);
      await w.stop();
    });

    test('attempts used up → failed with the last error; terminal error → failed at once', async () => {
      const w = worker();
      const a = await enqueue('test.fail', { message: 'always' }, { maxAttempts: 3 });
      const b = await enqueue('test.fail', { terminal: true, message: 'never' }, { maxAttempts: 3 });
      const da = await settled(a.id);
      const db = await settled(b.id);
      assert.equal(da.state, 'failed');
      assert.equal(da.attempts, 3);
      assert.deepEqual(JSON.parse(da.error ?? '{}'), { code: 'TRIPLANE_ERR_JOB_FAILED', message: 'always' });
      assert.equal(db.state, 'failed');
      assert.equal(db.attempts, 1);
      assert.equal(JSON.parse(db.error ?? '{}').code, 'TRIPLANE_ERR_UNPROCESSABLE');
      await w.stop();
    });

    test('cancelling a running job aborts its handler and marks it cancelled', async () => {
      const w = worker();
      const job = await enqueue('test.sleep', { steps: 100, stepMs: 50 });
      await waitFor('progress', async () => ((await q.get(job.id))?.progress ?? 0) >= 2);
      await q.cancel(job.id);
      const done = await settled(job.id);
      assert.equal(done.state, 'cancelled');
      assert.ok(done.progress < 50);
      assert.equal((await q.logs(job.id)).at(-1)?.message, 'cancelled');
      await w.stop();
    });

    test('a handler that ignores its signal is given up after the grace period', async () => {
      const w = worker();
      const job = await enqueue('test.hang');
      await settled(job.id, ['running']);
      await q.cancel(job.id);
      const t0 = Date.now();
      const done = await settled(job.id);
      assert.equal(done.state, 'cancelled');
      assert.ok(Date.now() - t0 < 10_000, 'given up after the grace period, not after the handler (60 s)');
      await w.stop();
    });

    test('losing the lease aborts the handler and the worker writes nothing more', async () => {
      const w = worker();
      const job = await enqueue('test.sleep', { steps: 100, stepMs: 30 });
      await waitFor('progress', async () => ((await q.get(job.id))?.progress ?? 0) >= 2);
      // Another worker took the job over (as after an expired lease).
      await store.db
        .updateTable('jobs')
        .set({ lease_owner: 'someone-else', progress: 0, message: 'theirs' })
        .where('id', '=', job.id)
        .execute();
      await waitFor('the worker to let go', async () => w.active === 0);
      const row = (await q.get(job.id)) as JobRow;
      assert.equal(row.state, 'running');
      assert.equal(row.lease_owner, 'someone-else');
      assert.equal(row.progress, 0);
      assert.equal(row.message, 'theirs');
      await w.stop();
      await store.db.deleteFrom('jobs').where('id', '=', job.id).execute();
    });

    test('stop: running jobs finish within the drain time, or are released without using an attempt', async () => {
      const w = worker();
      const quick = await enqueue('test.sleep', { steps: 2, stepMs: 100 });
      const slow = await enqueue('test.sleep', { steps: 400, stepMs: 50 });
      await settled(slow.id, ['running']);
      await settled(quick.id, ['running', 'succeeded']);
      await w.stop({ drainMs: 3000 });
      assert.equal((await q.get(quick.id))?.state, 'succeeded');
      const s = (await q.get(slow.id)) as JobRow;
      assert.equal(s.state, 'queued');
      assert.equal(s.attempts, 0);
      assert.equal(s.lease_owner, null);
      // The next worker resumes it.
      await store.db
        .updateTable('jobs')
        .set({ params: JSON.stringify({ steps: 1, stepMs: 1 }) })
        .where('id', '=', slow.id)
        .execute();
      const w2 = worker();
      assert.equal((await settled(slow.id)).state, 'succeeded');
      await w2.stop();
    });

    test('taking over a lost job: a cancel requested meanwhile is honoured; no attempt left → failed', async () => {
      const cancelled = await enqueue('test.sleep', {}, { maxAttempts: 3 });
      const exhausted = await enqueue('test.sleep', {}, { maxAttempts: 3 });
      // Both were running on a worker that died (lease long expired).
      await store.db
        .updateTable('jobs')
        .set({ state: 'running', lease_owner: 'dead', lease_expires_at: Date.now() - 1000, attempts: 1, cancel_requested: 1 })
        .where('id', '=', cancelled.id)
        .execute();
      await store.db
        .updateTable('jobs')
        .set({ state: 'running', lease_owner: 'dead', lease_expires_at: Date.now() - 1000, attempts: 3 })
        .where('id', '=', exhausted.id)
        .execute();
      const w = worker();
      const c = await settled(cancelled.id);
      assert.equal(c.state, 'cancelled');
      assert.equal(c.attempts, 2);
      const x = await settled(exhausted.id);
      assert.equal(x.state, 'failed');
      assert.equal(x.attempts, 4);
      assert.equal(JSON.parse(x.error ?? '{}').code, 'TRIPLANE_ERR_JOB_FAILED');
      await w.stop();
    });

    test('a worker claims only its lanes; the low lane runs the integrity check', async () => {
      const normal = worker({ lanes: ['interactive', 'normal'] });
      const check = await enqueue('store.integrity-check', {}, { lane: 'low' });
      await new Promise((r) => setTimeout(r, 150));
      assert.equal((await q.get(check.id))?.state, 'queued');
      const low = worker({ lanes: ['low'] });
      const done = await settled(check.id);
      assert.equal(done.state, 'succeeded');
      assert.deepEqual(JSON.parse(done.result ?? '{}'), { ok: true, dialect, problems: [] });
      await normal.stop();
      await low.stop();
    });
  });
}
