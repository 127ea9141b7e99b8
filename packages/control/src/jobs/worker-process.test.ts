/**
 * Worker PROCESSES against a real store: a worker killed mid-job loses nothing (the next
 * worker takes the job over when the lease expires), racing processes never run a job
 * twice, the supervisor restarts crashed workers and stops them cleanly.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openStore, type Store } from '../store/store.ts';
import { createTestDatabase } from '../testing/postgres.ts';
import { enqueueJob, type JobRow } from './enqueue.ts';
import { JobQueue } from './queue.ts';
import { startJobWorkers, WORKER_MAIN } from './supervisor.ts';

const TEST_HANDLERS = fileURLToPath(new URL('./testing/handlers.ts', import.meta.url));
const env = { ...process.env, TRIPLANE_JOB_HANDLER_MODULES: TEST_HANDLERS, TRIPLANE_LOG_LEVEL: 'warn' };

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Target {
  store: Store;
  args: string[];
  cleanup: () => Promise<void>;
}

async function target(dialect: 'sqlite' | 'postgres'): Promise<Target> {
  if (dialect === 'postgres') {
    const { url, drop } = await createTestDatabase();
    const store = openStore({ databaseUrl: url, poolSize: 4 });
    await store.migrate();
    return {
      store,
      args: ['--database-url', url],
      cleanup: async () => {
        await store.close();
        await drop();
      },
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'triplane-workers-'));
  const store = openStore({ dataDir: dir });
  await store.migrate();
  return {
    store,
    args: ['--data-dir', dir],
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function startWorker(args: string[], extra: string[] = []): ChildProcess & { output: () => string } {
  const child = spawn(
    process.execPath,
    [WORKER_MAIN, ...args, '--lanes', 'interactive,normal', '--concurrency', '3', '--poll-ms', '50', ...extra],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  children.add(child);
  return Object.assign(child, { output: () => out });
}

const exited = (c: ChildProcess) =>
  c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.once('exit', () => r()));

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`worker processes (${dialect})`, () => {
    test('SIGKILL of a worker mid-job: another worker process takes the job over and completes it', async () => {
      const t = await target(dialect);
      const q = new JobQueue(t.store);
      try {
        const { job } = await enqueueJob(t.store.db, { kind: 'test.sleep', params: { steps: 16, stepMs: 100 } });
        const w1 = startWorker(t.args);
        const running = await waitFor('worker 1 to make progress', async () => {
          const j = await q.get(job.id);
          return j && j.state === 'running' && j.progress >= 25 ? j : undefined;
        });
        assert.match(running.lease_owner ?? '', new RegExp(`:${w1.pid}:`));
        w1.kill('SIGKILL');
        await exited(w1);
        const stuck = (await q.get(job.id)) as JobRow;
        assert.equal(stuck.state, 'running', 'the job is still leased by the dead worker');
        assert.ok(stuck.progress < 100);

        const w2 = startWorker(t.args);
        const done = await waitFor('the job to finish on worker 2', async () => {
          const j = await q.get(job.id);
          return j && ['succeeded', 'failed', 'cancelled'].includes(j.state) ? j : undefined;
        });
        assert.equal(done.state, 'succeeded', w2.output());
        assert.equal(done.attempts, 2);
        assert.equal(done.progress, 100);
        const result = JSON.parse(done.result ?? '{}');
        assert.equal(result.attempt, 2);
        assert.equal(result.pid, w2.pid);
        const starts = (await q.logs(job.id)).filter((l) => /^attempt \d of 5 started/.test(l.message)).map((l) => l.message);
        assert.equal(starts.length, 2);
        assert.match(starts[0] ?? '', new RegExp(`:${w1.pid}:`));
        assert.match(starts[1] ?? '', new RegExp(`:${w2.pid}:`));

        // SIGTERM: the worker drains and exits 0.
        w2.kill('SIGTERM');
        await exited(w2);
        assert.equal(w2.exitCode, 0, w2.output());
      } finally {
        await t.cleanup();
      }
    });

    test('two worker processes racing over many jobs never run one twice', async () => {
      const t = await target(dialect);
      const q = new JobQueue(t.store);
      try {
        const N = 40;
        const ids: string[] = [];
        for (let i = 0; i < N; i++) {
          ids.push((await enqueueJob(t.store.db, { kind: 'test.sleep', params: { steps: 1, stepMs: 5 } })).job.id);
        }
        const ws = [startWorker(t.args), startWorker(t.args)];
        await waitFor(
          'all jobs to succeed',
          async () => (await t.store.db.selectFrom('jobs').select('id').where('state', '=', 'succeeded').execute()).length === N,
        );
        const rows = await t.store.db.selectFrom('jobs').selectAll().execute();
        assert.ok(rows.every((r) => r.attempts === 1));
        for (const id of ids) {
          const starts = (await q.logs(id)).filter((l) => l.message.startsWith('attempt '));
          assert.equal(starts.length, 1, `job ${id} started once`);
        }
        for (const w of ws) w.kill('SIGTERM');
        await Promise.all(ws.map(exited));
      } finally {
        await t.cleanup();
      }
    });
  });
}

describe('worker supervisor', () => {
  test('starts the pools, restarts a crashed worker, releases running jobs on stop', async () => {
    const t = await target('sqlite');
    const q = new JobQueue(t.store);
    const dataDir = t.args[1];
    const sup = startJobWorkers({
      dataDir,
      env,
      pollMs: 50,
      drainMs: 300,
      restartBackoff: { baseMs: 50, capMs: 100 },
      pools: [
        { name: 'main', lanes: ['interactive', 'normal'], concurrency: 2 },
        { name: 'low', lanes: ['low'], concurrency: 1 },
      ],
    });
    try {
      const [main, low] = sup.workers();
      assert.ok(main?.pid && low?.pid);
      // The low lane runs at nice 19.
      await waitFor('the low worker to lower its priority', async () => getPriority(low.pid as number) === 19, 10_000);
      assert.notEqual(getPriority(main.pid as number), 19);

      const a = (await enqueueJob(t.store.db, { kind: 'test.sleep', params: { steps: 2, stepMs: 10 } })).job;
      const check = (await enqueueJob(t.store.db, { kind: 'store.integrity-check', lane: 'low' })).job;
      for (const id of [a.id, check.id]) {
        await waitFor(`job ${id}`, async () => (await q.get(id))?.state === 'succeeded');
      }

      process.kill(main.pid as number, 'SIGKILL');
      const restarted = await waitFor('a restart', async () => {
        const w = sup.workers()[0];
        return w && w.restarts === 1 && w.pid && w.pid !== main.pid ? w : undefined;
      });
      assert.equal(restarted.pool, 'main');
      const b = (await enqueueJob(t.store.db, { kind: 'test.sleep', params: { steps: 400, stepMs: 50 } })).job;
      await waitFor('b to run', async () => ((await q.get(b.id))?.progress ?? 0) > 0);
      await sup.stop();
      assert.deepEqual(
        sup.workers().map((w) => w.pid),
        [undefined, undefined],
      );
      const rb = (await q.get(b.id)) as JobRow;
      assert.equal(rb.state, 'queued', 'released, not failed');
      assert.equal(rb.attempts, 0);
    } finally {
      await sup.stop();
      await t.cleanup();
    }
  });
});
