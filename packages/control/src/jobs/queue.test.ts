import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TriplaneError } from '@triplane/kernel';
import { sql } from 'kysely';
import { openStore, type Store } from '../store/store.ts';
import { openTestStore } from '../testing/harness.ts';
import { enqueueJob } from './enqueue.ts';
import { JobQueue } from './queue.ts';

class TestClock {
  t = Date.parse('2026-03-01T00:00:00Z');
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

const KINDS = ['k.a', 'k.b'];
const claimOpts = (owner: string, lanes: ('interactive' | 'normal' | 'low')[] = ['interactive', 'normal', 'low']) => ({
  owner,
  lanes,
  kinds: KINDS,
  leaseMs: 10_000,
});

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`job queue (${dialect})`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    let clock: TestClock;
    let q: JobQueue;
    before(async () => {
      ({ store, cleanup } = await openTestStore(dialect));
    });
    after(() => cleanup());

    async function fresh(): Promise<void> {
      await store.db.deleteFrom('job_logs').execute();
      await store.db.deleteFrom('jobs').execute();
      clock = new TestClock();
      q = new JobQueue(store, { clock, backoff: { baseMs: 1000, capMs: 8000, random: () => 1 } });
    }
    const enqueue = (o: Parameters<typeof enqueueJob>[1]) => enqueueJob(store.db, { clock, ...o }).then((r) => r.job);

    test('claims by lane priority, then run_at, then id; only due jobs; only served lanes and kinds', async () => {
      await fresh();
      const low = await enqueue({ kind: 'k.a', lane: 'low' });
      const normal1 = await enqueue({ kind: 'k.a', lane: 'normal' });
      clock.advance(1);
      const normal2 = await enqueue({ kind: 'k.b', lane: 'normal' });
      const later = await enqueue({ kind: 'k.a', lane: 'interactive', runAt: clock.now() + 60_000 });
      const interactive = await enqueue({ kind: 'k.b', lane: 'interactive' });
      await enqueue({ kind: 'k.unknown', lane: 'interactive' });

      assert.equal((await q.claim(claimOpts('w1', ['low'])))?.id, low.id);
      assert.equal(await q.complete(low.id, 'w1', null), true);
      const order = [];
      for (;;) {
        const j = await q.claim(claimOpts('w1', ['interactive', 'normal']));
        if (!j) break;
        order.push(j.id);
        assert.equal(j.state, 'running');
        assert.equal(j.attempts, 1);
        assert.equal(j.lease_owner, 'w1');
        assert.equal(j.lease_expires_at, clock.now() + 10_000);
        assert.ok(j.started_at);
        assert.equal(await q.complete(j.id, 'w1', null), true);
      }
      assert.deepEqual(order, [interactive.id, normal1.id, normal2.id]);
      assert.equal(await q.hasClaimable(['interactive'], KINDS), false);
      clock.advance(60_000);
      assert.equal(await q.hasClaimable(['interactive'], KINDS), true);
      assert.equal((await q.claim(claimOpts('w1')))?.id, later.id);
      assert.equal(await q.claim(claimOpts('w1')), undefined, 'the unknown kind is left for another worker');
    });

    test('concurrent claimers on separate connections never get the same job', async () => {
      await fresh();
      const N = 60;
      for (let i = 0; i < N; i++) await enqueue({ kind: i % 2 ? 'k.a' : 'k.b', lane: 'normal' });
      // Several independent handles on the same store, claiming as fast as they can.
      const extra: Store[] = [];
      // (SQLite: one handle per process — better-sqlite3 blocks the event loop while it waits
      // for a lock, so racing processes are tested in worker-process.test.ts.)
      const handles: Store[] = [store];
      if (dialect === 'postgres') {
        const url = await pgUrlOf(store);
        for (let i = 0; i < 3; i++) {
          const s = openStore({ databaseUrl: url, poolSize: 4 });
          extra.push(s);
          handles.push(s);
        }
      }
      try {
        const got: string[][] = await Promise.all(
          handles.flatMap((s, i) =>
            [0, 1, 2].map(async (k) => {
              const qq = new JobQueue(s, { clock });
              const mine: string[] = [];
              for (;;) {
                const j = await qq.claim(claimOpts(`w${i}-${k}`));
                if (!j) break;
                mine.push(j.id);
              }
              return mine;
            }),
          ),
        );
        const all = got.flat();
        assert.equal(all.length, N);
        assert.equal(new Set(all).size, N, 'no job claimed twice');
        const rows = await store.db.selectFrom('jobs').select(['attempts', 'state']).execute();
        assert.ok(rows.every((r) => r.attempts === 1 && r.state === 'running'));
      } finally {
        for (const s of extra) await s.close();
      }
    });

    test('a lost lease is taken over (counted as an attempt); the old owner can no longer write', async () => {
      await fresh();
      const job = await enqueue({ kind: 'k.a', maxAttempts: 3 });
      const c1 = await q.claim(claimOpts('old'));
      assert.equal(c1?.id, job.id);
      assert.deepEqual(await q.progress(job.id, 'old', 40, 'working'), { ok: true, cancelRequested: false });
      assert.equal(await q.claim(claimOpts('new')), undefined, 'not while the lease is valid');
      clock.advance(5_000);
      assert.equal((await q.renew(job.id, 'old', 10_000)).ok, true);
      clock.advance(9_999);
      assert.equal(await q.claim(claimOpts('new')), undefined, 'renewed lease still valid');
      clock.advance(2);
      const c2 = await q.claim(claimOpts('new'));
      assert.equal(c2?.id, job.id);
      assert.equal(c2?.attempts, 2);
      assert.equal(c2?.lease_owner, 'new');
      // Every write of the old owner is refused now.
      assert.deepEqual(await q.renew(job.id, 'old', 10_000), { ok: false, cancelRequested: false });
      assert.equal((await q.progress(job.id, 'old', 90, 'zombie')).ok, false);
      assert.equal(await q.log(job.id, 'old', 'info', 'zombie line'), undefined);
      assert.equal(await q.complete(job.id, 'old', { zombie: true }), false);
      assert.deepEqual(await q.fail(job.id, 'old', new Error('zombie')), { outcome: 'lost' });
      assert.equal(await q.release(job.id, 'old'), false);
      assert.equal(await q.markCancelled(job.id, 'old'), false);
      assert.equal((await q.check(job.id, 'old')).ok, false);
      assert.equal((await q.check(job.id, 'new')).ok, true);
      // The new owner finishes it.
      assert.equal(await q.complete(job.id, 'new', { done: 1 }), true);
      const row = await q.get(job.id);
      assert.equal(row?.state, 'succeeded');
      assert.equal(row?.progress, 100);
      assert.equal(row?.result, '{"done":1}');
      assert.equal(row?.lease_owner, null);
      assert.deepEqual(await q.logs(job.id), []);
    });

    test('failures retry with backoff until max_attempts, then fail with the error', async () => {
      await fresh();
      const job = await enqueue({ kind: 'k.a', maxAttempts: 3 });
      const delays: number[] = [];
      for (let attempt = 1; attempt <= 3; attempt++) {
        const c = await q.claim(claimOpts('w'));
        assert.equal(c?.id, job.id, `attempt ${attempt} claims`);
        assert.equal(c?.attempts, attempt);
        const r = await q.fail(job.id, 'w', new Error(`boom ${attempt}`));
        const row = await q.get(job.id);
        if (attempt < 3) {
          assert.equal(r.outcome, 'retry');
          delays.push(r.delayMs ?? -1);
          assert.equal(row?.state, 'queued');
          assert.equal(row?.run_at, clock.now() + (r.delayMs ?? 0));
          assert.deepEqual(JSON.parse(row?.error ?? 'null'), { code: 'TRIPLANE_ERR_JOB_FAILED', message: `boom ${attempt}` });
          assert.match(row?.message ?? '', /retrying in/);
          assert.equal(await q.claim(claimOpts('w')), undefined, 'not before the backoff is over');
          clock.advance(r.delayMs ?? 0);
        } else {
          assert.equal(r.outcome, 'failed');
          assert.equal(row?.state, 'failed');
          assert.ok(row?.finished_at);
          assert.deepEqual(JSON.parse(row?.error ?? 'null'), { code: 'TRIPLANE_ERR_JOB_FAILED', message: 'boom 3' });
        }
      }
      assert.deepEqual(delays, [1000, 2000], 'exponential backoff from the kernel');
      assert.equal(await q.claim(claimOpts('w')), undefined);
    });

    test('a terminal error fails at once; retry gives a new attempt budget', async () => {
      await fresh();
      const job = await enqueue({ kind: 'k.a', maxAttempts: 5 });
      await q.claim(claimOpts('w'));
      const err = new TriplaneError('TRIPLANE_ERR_UNPROCESSABLE', 'bad input', { retryable: false, field: 'x' });
      assert.equal((await q.fail(job.id, 'w', err)).outcome, 'failed');
      let row = await q.get(job.id);
      assert.equal(row?.state, 'failed');
      assert.equal(row?.attempts, 1);
      assert.deepEqual(JSON.parse(row?.error ?? 'null'), {
        code: 'TRIPLANE_ERR_UNPROCESSABLE',
        message: 'bad input',
        details: { retryable: false, field: 'x' },
      });
      await assert.rejects(q.cancel(job.id), (e: TriplaneError) => e.code === 'TRIPLANE_ERR_CONFLICT');
      row = await q.retry(job.id);
      assert.equal(row.state, 'queued');
      assert.equal(row.attempts, 0);
      assert.equal(row.error, null);
      assert.equal(row.finished_at, null);
      assert.equal((await q.claim(claimOpts('w')))?.attempts, 1);
      await assert.rejects(q.retry(job.id), (e: TriplaneError) => e.code === 'TRIPLANE_ERR_CONFLICT');
      await assert.rejects(q.retry('job_0000000000000000'), (e: TriplaneError) => e.code === 'TRIPLANE_ERR_NOT_FOUND');
    });

    test('cancel: queued → cancelled at once; running → cancel requested, seen by the worker', async () => {
      await fresh();
      const a = await enqueue({ kind: 'k.a' });
      const b = await enqueue({ kind: 'k.a' });
      const ca = await q.cancel(a.id);
      assert.equal(ca.state, 'cancelled');
      assert.ok(ca.finished_at);
      assert.equal((await q.claim(claimOpts('w')))?.id, b.id, 'a cancelled job is never claimed');
      const cb = await q.cancel(b.id);
      assert.equal(cb.state, 'running');
      assert.equal(cb.cancel_requested, 1);
      assert.equal((await q.cancel(b.id)).cancel_requested, 1, 'idempotent');
      assert.deepEqual(await q.renew(b.id, 'w', 10_000), { ok: true, cancelRequested: true });
      assert.deepEqual(await q.check(b.id, 'w'), { ok: true, cancelRequested: true });
      assert.equal(await q.markCancelled(b.id, 'w'), true);
      const row = await q.get(b.id);
      assert.equal(row?.state, 'cancelled');
      assert.equal(JSON.parse(row?.error ?? '{}').code, 'TRIPLANE_ERR_JOB_CANCELLED');
      await assert.rejects(q.cancel(b.id), (e: TriplaneError) => e.code === 'TRIPLANE_ERR_CONFLICT');
      await assert.rejects(q.cancel('job_0000000000000000'), (e: TriplaneError) => e.code === 'TRIPLANE_ERR_NOT_FOUND');
    });

    test('release gives the job back without using an attempt', async () => {
      await fresh();
      const job = await enqueue({ kind: 'k.a' });
      await q.claim(claimOpts('w'));
      assert.equal(await q.release(job.id, 'w'), true);
      const row = await q.get(job.id);
      assert.equal(row?.state, 'queued');
      assert.equal(row?.attempts, 0);
      assert.equal((await q.claim(claimOpts('w2')))?.attempts, 1);
    });

    test('idempotency key returns the same job', async () => {
      await fresh();
      const r1 = await enqueueJob(store.db, { kind: 'k.a', idempotencyKey: 'site-1-backup-2026-03-01', clock });
      const r2 = await enqueueJob(store.db, { kind: 'k.a', idempotencyKey: 'site-1-backup-2026-03-01', clock });
      assert.equal(r1.created, true);
      assert.equal(r2.created, false);
      assert.equal(r2.job.id, r1.job.id);
      assert.equal((await store.db.selectFrom('jobs').select('id').execute()).length, 1);
    });

    test('progress is clamped and guarded; logs get increasing seq numbers', async () => {
      await fresh();
      const job = await enqueue({ kind: 'k.a' });
      assert.equal((await q.progress(job.id, 'w', 10, 'not claimed yet')).ok, false);
      assert.equal(await q.log(job.id, 'w', 'info', 'not claimed yet'), undefined);
      await q.claim(claimOpts('w'));
      await q.progress(job.id, 'w', 150, 'x'.repeat(1000));
      let row = await q.get(job.id);
      assert.equal(row?.progress, 100);
      assert.equal(row?.message.length, 500);
      await q.progress(job.id, 'w', -3.7, 'back');
      row = await q.get(job.id);
      assert.equal(row?.progress, 0);
      const seqs = await Promise.all([1, 2, 3, 4, 5].map((i) => q.log(job.id, 'w', 'info', `line ${i}`)));
      assert.deepEqual([...seqs].sort(), [1, 2, 3, 4, 5]);
      assert.equal(await q.log(job.id, null, 'warn', 'from the API'), 6);
      const logs = await q.logs(job.id, 2);
      assert.deepEqual(
        logs.map((l) => l.seq),
        [3, 4, 5, 6],
      );
      assert.equal(logs.at(-1)?.level, 'warn');
    });
  });
}

async function pgUrlOf(store: Store): Promise<string> {
  const r = await sql<{ db: string }>`select current_database() as db`.execute(store.db);
  const u = new URL(process.env.TRIPLANE_TEST_PG_URL ?? '');
  u.pathname = `/${r.rows[0]?.db}`;
  return u.toString();
}
