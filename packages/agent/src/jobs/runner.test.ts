import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { createSite, joinServer, runHandler } from '@triplane/control/desired/test-support';
import { siteProvision } from '@triplane/control/jobs/handlers/site-provision';
import { createHarness, type Harness } from '@triplane/control/testing/harness';
import { createLogger, silentLogger } from '@triplane/kernel';
import type { AssignedEnvironment } from '@triplane/spec';
import { AgentJobRunner, type ChildInput, type JobLink } from './runner.ts';

/**
 * The agent's job runner against a REAL control plane (Fastify on a loopback port): it claims
 * the server's jobs, runs each in a real child process (here a small node script standing in
 * for backup/job-main.ts, speaking the same NDJSON), and relays progress, logs, backups,
 * results, failures, cancels and releases.
 */

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The stand-in executor: behaviour chosen by the job's params.mode.
const CHILD = `
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c));
process.stdin.on('end', async () => {
  const input = JSON.parse(Buffer.concat(chunks).toString());
  const p = input.job.params;
  const emit = (e) => process.stdout.write(JSON.stringify(e) + '\\n');
  process.on('SIGTERM', () => { emit({ type: 'error', code: 'TRIPLANE_ERR_BACKUP_CANCELLED', message: 'stopped', retryable: true }); process.exit(1); });
  emit({ type: 'progress', percent: 10, message: 'starting ' + input.environment.id });
  emit({ type: 'log', level: 'info', message: 'hello from the job' });
  if (p.mode === 'ok') {
    emit({ type: 'backup', record: { backupId: p.backupId, environmentId: input.environment.id, kind: 'manual', dbSnapshotId: (p.snaps || 'ab')[0].repeat(64), filesSnapshotId: (p.snaps || 'ab')[1].repeat(64), snapshotTime: '2026-11-25T03:00:00.000Z', dbBytes: 1, filesBytes: 2, addedBytes: 3 } });
    emit({ type: 'result', result: { backupId: p.backupId } });
    process.exit(0);
  }
  if (p.mode === 'terminal') {
    emit({ type: 'error', code: 'TRIPLANE_ERR_BACKUP_WRONG_SITE', message: 'not this environment', retryable: false });
    process.exit(1);
  }
  if (p.mode === 'crash') { process.stderr.write('boom: segfault-ish\\n'); process.exit(3); }
  if (p.mode === 'slow') { setInterval(() => emit({ type: 'progress', percent: 20, message: 'working' }), 100); }
});
`;

describe('agent job runner ⇄ control plane', () => {
  let h: Harness;
  let apiUrl: string;
  let srv: { id: string; credential: string };
  let envId: string;
  const runners: AgentJobRunner[] = [];

  before(async () => {
    h = await createHarness({ dialect: 'sqlite' });
    apiUrl = await h.app.listen({ host: '127.0.0.1', port: 0 });
    srv = await joinServer(h, 'runner-app', 'app', '127.0.0.1');
    const s = await createSite(h, h.owner.token, { name: 'runner-shop' });
    await runHandler(h, siteProvision, s.jobId);
    envId = s.environmentId;
  });
  after(async () => {
    for (const r of runners) await r.stop();
    await h.close();
  });

  const link = (): JobLink => ({
    serverId: srv.id,
    async call<T>(method: string, path: string, body?: unknown, o: { timeoutMs?: number; signal?: AbortSignal } = {}) {
      const res = await fetch(`${apiUrl}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${srv.credential}`, 'content-type': 'application/json' },
        body: body === undefined ? null : JSON.stringify(body),
        signal: AbortSignal.any([AbortSignal.timeout(o.timeoutMs ?? 15_000), ...(o.signal ? [o.signal] : [])]),
      });
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
      return (await res.json()) as T;
    },
  });

  const start = (placed: () => boolean = () => true) => {
    const inputs: ChildInput[] = [];
    const r = new AgentJobRunner({
      link: link(),
      lookup: (id) => (id === envId && placed() ? ({ id: envId } as unknown as AssignedEnvironment) : undefined),
      stateDir: '/nonexistent',
      kinds: ['backup.create'],
      logger: process.env.DEBUG_RUNNER ? createLogger('runner-test') : silentLogger(),
      flushMs: 100,
      killGraceMs: 2000,
      waitS: 1,
      spawnChild: (input) => {
        inputs.push(input);
        return spawn(process.execPath, ['-e', CHILD], { stdio: ['pipe', 'pipe', 'pipe'] });
      },
    });
    runners.push(r);
    r.start();
    return { r, inputs };
  };

  /** A backup.create job for the environment with a test mode in its params. */
  async function enqueue(mode: string, extra: Record<string, unknown> = {}): Promise<{ jobId: string; backupId: string }> {
    const r = await h.call(h.owner.token, 'POST', `/api/v1/environments/${envId}/backups`, {});
    assert.equal(r.statusCode, 202, r.body);
    const job = r.json().job;
    const params = { ...job.params, mode, ...extra };
    await h.store.db
      .updateTable('jobs')
      .set({ params: JSON.stringify(params) })
      .where('id', '=', job.id)
      .execute();
    return { jobId: job.id, backupId: job.params.backupId };
  }

  const job = async (id: string) => (await h.call(h.owner.token, 'GET', `/api/v1/jobs/${id}`)).json();

  it('relays progress, logs and the backup record, then completes; the child got the environment', async () => {
    const { r, inputs } = start();
    const { jobId, backupId } = await enqueue('ok');
    const done = await waitFor('succeeded', async () => {
      const j = await job(jobId);
      return j.state === 'succeeded' ? j : undefined;
    });
    assert.deepEqual(done.result, { backupId });
    assert.equal(inputs[0]?.environment && (inputs[0].environment as { id: string }).id, envId);
    const logs = (await h.call(h.owner.token, 'GET', `/api/v1/jobs/${jobId}/logs`)).json();
    assert.ok(
      logs.items.some((l: { message: string }) => l.message === 'hello from the job'),
      JSON.stringify(logs),
    );
    const b = await h.call(h.owner.token, 'GET', `/api/v1/backups/${backupId}`);
    assert.equal(b.statusCode, 200, 'recorded through the job');
    await waitFor('counted', async () => r.stats.succeeded === 1);
    await r.stop();
  });

  it('a job whose environment has not reached this agent yet waits in the queue, no attempt counted', async () => {
    let placed = false;
    const { r } = start(() => placed);
    const { jobId } = await enqueue('ok', { snaps: 'cd' }); // its own snapshot ids
    const waiting = await waitFor('given back with a wait', async () => {
      const j = await job(jobId);
      return j.state === 'queued' && /not on this server yet/.test(j.message) ? j : undefined;
    });
    assert.equal(waiting.attempts, 0, 'not an attempt');
    placed = true; // the assignment arrives
    const done = await waitFor('succeeded', async () => {
      const j = await job(jobId);
      return j.state === 'succeeded' ? j : undefined;
    });
    assert.equal(done.attempts, 1);
    await r.stop();
  });

  it('a terminal error fails the job at once with the executor’s code; a crash is retried with its stderr', async () => {
    const { r } = start();
    const t = await enqueue('terminal');
    const failed = await waitFor('failed', async () => {
      const j = await job(t.jobId);
      return j.state === 'failed' ? j : undefined;
    });
    assert.equal(failed.error.code, 'TRIPLANE_ERR_BACKUP_WRONG_SITE');
    assert.equal(failed.attempts, 1);
    const c = await enqueue('crash');
    // Retried with backoff (the jitter may make the next attempt start at once): the error of
    // a failed attempt is kept on the job while it waits.
    const retried = await waitFor('a failed attempt', async () => {
      const j = await job(c.jobId);
      return j.attempts >= 1 && j.error ? j : undefined;
    }).catch(async (e) => {
      const row = await h.store.db.selectFrom('jobs').selectAll().where('id', '=', c.jobId).executeTakeFirst();
      throw new Error(`${e.message}: ${JSON.stringify(row)}`);
    });
    assert.equal(retried.error.code, 'TRIPLANE_ERR_BACKUP_FAILED');
    assert.match(retried.error.message, /exited with code 3: boom/);
    await r.stop();
    await h.store.db.updateTable('jobs').set({ state: 'cancelled', lease_owner: null }).where('id', '=', c.jobId).execute();
  });

  it('a cancel request stops the child and the job ends cancelled; stopping the agent releases its job', async () => {
    const { r } = start();
    const s = await enqueue('slow');
    await waitFor('running', async () => (await job(s.jobId)).progress === 20);
    assert.equal((await h.call(h.owner.token, 'POST', `/api/v1/jobs/${s.jobId}/cancel`)).statusCode, 200);
    await waitFor('cancelled', async () => (await job(s.jobId)).state === 'cancelled');
    await waitFor('counted', async () => r.stats.cancelled === 1);
    const s2 = await enqueue('slow');
    await waitFor('running again', async () => (await job(s2.jobId)).progress === 20);
    await r.stop();
    const j = await job(s2.jobId);
    assert.equal(j.state, 'queued', 'released for the next agent run');
    assert.equal(j.attempts, 0, 'a release does not count as an attempt');
    await h.store.db.updateTable('jobs').set({ state: 'cancelled' }).where('id', '=', s2.jobId).execute();
  });
});
