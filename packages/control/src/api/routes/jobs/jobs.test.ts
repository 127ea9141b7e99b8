import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { isoNow, newId } from '@triplane/kernel';
import { enqueueJob } from '../../../jobs/enqueue.ts';
import { HANDLERS } from '../../../jobs/handlers/index.ts';
import { JobQueue } from '../../../jobs/queue.ts';
import { handlers as testHandlers } from '../../../jobs/testing/handlers.ts';
import { Worker } from '../../../jobs/worker.ts';
import { createHarness, type Harness, type TestUser } from '../../../testing/harness.ts';

interface SseEvent {
  event: string;
  data: any;
}

function parseSse(body: string): SseEvent[] {
  const out: SseEvent[] = [];
  for (const block of body.split('\n\n')) {
    const lines = block.split('\n').filter((l) => l && !l.startsWith(':'));
    if (!lines.some((l) => l.startsWith('data: '))) continue;
    const event = lines.find((l) => l.startsWith('event: '))?.slice(7) ?? 'message';
    const data = lines
      .filter((l) => l.startsWith('data: '))
      .map((l) => l.slice(6))
      .join('\n');
    out.push({ event, data: JSON.parse(data) });
  }
  return out;
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`jobs API (${dialect})`, () => {
    let h: Harness;
    let site1: string;
    let site2: string;
    let orgB: { orgId: string; owner: TestUser };
    const jobs: Record<'org' | 's1' | 's2' | 'b' | 'platform', string> = { org: '', s1: '', s2: '', b: '', platform: '' };
    const u: Record<string, TestUser> = {};

    async function makeSite(orgId: string, name: string): Promise<string> {
      const id = newId('site');
      const now = isoNow();
      await h.store.db
        .insertInto('sites')
        .values({
          id,
          org_id: orgId,
          name,
          kind: 'wordpress',
          plan: 'essentials',
          status: 'active',
          created_at: now,
          updated_at: now,
        })
        .execute();
      return id;
    }
    const enqueue = async (o: Parameters<typeof enqueueJob>[1]) => (await enqueueJob(h.store.db, o)).job.id;

    before(async () => {
      h = await createHarness({ dialect });
      site1 = await makeSite(h.orgId, 'shop');
      site2 = await makeSite(h.orgId, 'blog');
      orgB = await h.makeOrg('other-org');
      jobs.platform = await enqueue({ kind: 'store.integrity-check', lane: 'low' });
      jobs.b = await enqueue({ kind: 'test.sleep', orgId: orgB.orgId });
      jobs.org = await enqueue({ kind: 'test.sleep', orgId: h.orgId });
      jobs.s2 = await enqueue({ kind: 'test.sleep', orgId: h.orgId, siteId: site2 });
      jobs.s1 = await enqueue({ kind: 'test.sleep', orgId: h.orgId, siteId: site1, params: { steps: 3 } });
      u.admin = await h.makeUser('admin');
      u.developer = await h.makeUser('developer');
      u.viewer = await h.makeUser('viewer');
      u.siteDev = await h.makeUser('developer', { siteId: site1 });
      u.siteViewer = await h.makeUser('viewer', { siteId: site1 });
      u.bOwner = orgB.owner;
      u.owner = h.owner;
    });
    after(() => h.close());

    test('list shows each caller only the jobs they may see, newest first', async () => {
      const ids = async (t: TestUser, qs = '') => {
        const r = await h.call(t.token, 'GET', `/api/v1/jobs${qs}`);
        assert.equal(r.statusCode, 200, r.body);
        return r.json().items.map((j: { id: string }) => j.id);
      };
      assert.deepEqual(await ids(u.owner as TestUser), [jobs.s1, jobs.s2, jobs.org, jobs.b, jobs.platform]);
      for (const role of ['admin', 'developer', 'viewer']) {
        assert.deepEqual(await ids(u[role] as TestUser), [jobs.s1, jobs.s2, jobs.org], role);
      }
      assert.deepEqual(await ids(u.siteDev as TestUser), [jobs.s1]);
      assert.deepEqual(await ids(u.siteViewer as TestUser), [jobs.s1]);
      assert.deepEqual(await ids(u.bOwner as TestUser), [jobs.b]);
      assert.deepEqual(await ids(u.viewer as TestUser, `?siteId=${site2}`), [jobs.s2]);
      assert.deepEqual(await ids(u.viewer as TestUser, `?orgId=${orgB.orgId}`), []);
      assert.deepEqual(await ids(u.owner as TestUser, `?orgId=${orgB.orgId}`), [jobs.b]);
      assert.deepEqual(await ids(u.owner as TestUser, '?kind=store.integrity-check&state=queued'), [jobs.platform]);
      assert.equal((await h.call(null, 'GET', '/api/v1/jobs')).statusCode, 401);
    });

    test('list pages with a cursor and validates its query', async () => {
      const p1 = (await h.call(h.owner.token, 'GET', '/api/v1/jobs?limit=2')).json();
      assert.deepEqual(
        p1.items.map((j: { id: string }) => j.id),
        [jobs.s1, jobs.s2],
      );
      assert.equal(p1.nextCursor, jobs.s2);
      const p2 = (await h.call(h.owner.token, 'GET', `/api/v1/jobs?limit=2&cursor=${p1.nextCursor}`)).json();
      assert.deepEqual(
        p2.items.map((j: { id: string }) => j.id),
        [jobs.org, jobs.b],
      );
      const p3 = (await h.call(h.owner.token, 'GET', `/api/v1/jobs?limit=2&cursor=${p2.nextCursor}`)).json();
      assert.deepEqual(p3, { items: [p3.items[0]], nextCursor: null });
      for (const qs of ['limit=0', 'limit=501', 'state=done', 'cursor=nope', 'orgId=x', 'bogus=1']) {
        const r = await h.call(h.owner.token, 'GET', `/api/v1/jobs?${qs}`);
        assert.equal(r.statusCode, 400, qs);
        assert.equal(r.json().error.code, 'TRIPLANE_ERR_VALIDATION');
      }
    });

    test('get: the Job DTO; 404 for what the caller may not see', async () => {
      const r = await h.call(u.siteViewer?.token ?? '', 'GET', `/api/v1/jobs/${jobs.s1}`);
      assert.equal(r.statusCode, 200);
      const j = r.json();
      assert.deepEqual(Object.keys(j).sort(), [
        'attempts',
        'cancelRequested',
        'createdAt',
        'createdBy',
        'environmentId',
        'error',
        'finishedAt',
        'id',
        'kind',
        'lane',
        'maxAttempts',
        'message',
        'orgId',
        'params',
        'progress',
        'result',
        'runAt',
        'serverId',
        'siteId',
        'startedAt',
        'state',
        'updatedAt',
      ]);
      assert.equal(j.state, 'queued');
      assert.deepEqual(j.params, { steps: 3 });
      assert.equal(j.siteId, site1);
      assert.equal(j.cancelRequested, false);
      const invisible: [string, string][] = [
        ['siteDev', jobs.s2],
        ['siteDev', jobs.org],
        ['siteDev', jobs.platform],
        ['admin', jobs.platform],
        ['viewer', jobs.b],
        ['bOwner', jobs.s1],
        ['bOwner', 'job_0000000000000000'],
      ];
      for (const [who, id] of invisible) {
        const x = await h.call(u[who]?.token ?? '', 'GET', `/api/v1/jobs/${id}`);
        assert.equal(x.statusCode, 404, `${who} ${id}`);
        assert.equal(x.json().error.code, 'TRIPLANE_ERR_NOT_FOUND');
        assert.equal((await h.call(u[who]?.token ?? '', 'GET', `/api/v1/jobs/${id}/logs`)).statusCode, 404);
        assert.equal((await h.call(u[who]?.token ?? '', 'GET', `/api/v1/jobs/${id}/events`)).statusCode, 404);
        assert.equal((await h.call(u[who]?.token ?? '', 'POST', `/api/v1/jobs/${id}/cancel`)).statusCode, 404);
      }
      assert.equal((await h.call(h.owner.token, 'GET', `/api/v1/jobs/${jobs.platform}`)).json().kind, 'store.integrity-check');
      assert.equal((await h.call(h.owner.token, 'GET', '/api/v1/jobs/not-an-id')).statusCode, 400);
      assert.equal((await h.call(null, 'GET', `/api/v1/jobs/${jobs.s1}`)).statusCode, 401);
    });

    test('cancel and retry need developer on the job; both are audited and logged', async () => {
      for (const who of ['viewer', 'siteViewer']) {
        const r = await h.call(u[who]?.token ?? '', 'POST', `/api/v1/jobs/${jobs.s1}/cancel`);
        assert.equal(r.statusCode, 403, who);
        assert.equal(r.json().error.code, 'TRIPLANE_ERR_FORBIDDEN');
      }
      assert.equal((await h.call(u.siteDev?.token ?? '', 'POST', `/api/v1/jobs/${jobs.org}/cancel`)).statusCode, 404);
      const c = await h.call(u.siteDev?.token ?? '', 'POST', `/api/v1/jobs/${jobs.s1}/cancel`);
      assert.equal(c.statusCode, 200, c.body);
      assert.equal(c.json().state, 'cancelled');
      assert.equal(c.json().error.code, 'TRIPLANE_ERR_JOB_CANCELLED');
      const again = await h.call(u.siteDev?.token ?? '', 'POST', `/api/v1/jobs/${jobs.s1}/cancel`);
      assert.equal(again.statusCode, 409);
      assert.equal(again.json().error.code, 'TRIPLANE_ERR_CONFLICT');

      assert.equal((await h.call(u.viewer?.token ?? '', 'POST', `/api/v1/jobs/${jobs.s1}/retry`)).statusCode, 403);
      const r = await h.call(u.siteDev?.token ?? '', 'POST', `/api/v1/jobs/${jobs.s1}/retry`);
      assert.equal(r.statusCode, 202, r.body);
      assert.equal(r.json().state, 'queued');
      assert.equal(r.json().error, null);
      assert.equal((await h.call(u.developer?.token ?? '', 'POST', `/api/v1/jobs/${jobs.s1}/retry`)).statusCode, 409);

      const logs = (await h.call(u.siteViewer?.token ?? '', 'GET', `/api/v1/jobs/${jobs.s1}/logs`)).json();
      assert.deepEqual(
        logs.items.map((l: { message: string }) => l.message),
        [`cancel requested by ${u.siteDev?.email}`, `retry requested by ${u.siteDev?.email}`],
      );
      assert.equal(logs.last, 2);
      const after1 = (await h.call(u.siteViewer?.token ?? '', 'GET', `/api/v1/jobs/${jobs.s1}/logs?after=1`)).json();
      assert.deepEqual(
        after1.items.map((l: { seq: number }) => l.seq),
        [2],
      );
      assert.deepEqual((await h.call(h.owner.token, 'GET', `/api/v1/jobs/${jobs.s1}/logs?after=2`)).json(), {
        items: [],
        last: 2,
      });

      const audit = await h.store.db.selectFrom('audit_log').selectAll().where('target_id', '=', jobs.s1).orderBy('id').execute();
      assert.deepEqual(
        audit.map((a) => [a.action, a.actor_id, a.org_id]),
        [
          ['job.cancel', u.siteDev?.userId, h.orgId],
          ['job.retry', u.siteDev?.userId, h.orgId],
        ],
      );
    });

    test('POST /jobs starts a platform job: superusers only, allow-listed kinds, idempotent', async () => {
      for (const who of ['admin', 'developer', 'bOwner']) {
        const r = await h.call(u[who]?.token ?? '', 'POST', '/api/v1/jobs', { kind: 'store.integrity-check' });
        assert.equal(r.statusCode, 403, who);
      }
      for (const body of [{ kind: 'test.sleep' }, { kind: 'store.integrity-check', extra: 1 }, {}, { kind: 5 }]) {
        const r = await h.call(h.owner.token, 'POST', '/api/v1/jobs', body);
        assert.equal(r.statusCode, 400, JSON.stringify(body));
      }
      const body = { kind: 'store.integrity-check', idempotencyKey: 'nightly-2026-03-01' };
      const r1 = await h.call(h.owner.token, 'POST', '/api/v1/jobs', body);
      assert.equal(r1.statusCode, 202, r1.body);
      assert.equal(r1.json().lane, 'low');
      assert.equal(r1.json().orgId, null);
      assert.equal(r1.json().createdBy, h.owner.userId);
      const r2 = await h.call(h.owner.token, 'POST', '/api/v1/jobs', body);
      assert.equal(r2.json().id, r1.json().id);
      const audits = await h.store.db.selectFrom('audit_log').select('action').where('target_id', '=', r1.json().id).execute();
      assert.equal(audits.length, 1);
      // run it: the platform job really checks the store
      const w = new Worker({ store: h.store, handlers: HANDLERS, lanes: ['low'], pollMs: 20 });
      w.start();
      const q = new JobQueue(h.store);
      for (;;) {
        const j = await q.get(r1.json().id);
        if (j?.state === 'succeeded') break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await w.stop();
      const done = (await h.call(h.owner.token, 'GET', `/api/v1/jobs/${r1.json().id}`)).json();
      assert.deepEqual(done.result, { ok: true, dialect, problems: [] });
    });

    test('the event stream reports progress and log lines, then ends', async () => {
      const id = await enqueue({ kind: 'test.sleep', orgId: h.orgId, siteId: site1, params: { steps: 4, stepMs: 80 } });
      const w = new Worker({ store: h.store, handlers: testHandlers, lanes: ['normal'], pollMs: 20 });
      w.start();
      try {
        const r = await h.call(u.siteViewer?.token ?? '', 'GET', `/api/v1/jobs/${id}/events`);
        assert.equal(r.statusCode, 200);
        assert.match(String(r.headers['content-type']), /^text\/event-stream/);
        const events = parseSse(r.body);
        const last = events.at(-1);
        assert.equal(last?.event, 'end');
        assert.equal(last?.data.state, 'succeeded');
        assert.equal(last?.data.progress, 100);
        const progress = events.filter((e) => e.event === 'progress').map((e) => e.data.progress as number);
        assert.ok(progress.length >= 3, `several progress events: ${progress}`);
        assert.deepEqual(
          progress,
          [...progress].sort((a, b) => a - b),
        );
        const logs = events.filter((e) => e.event === 'log').map((e) => e.data);
        assert.deepEqual(
          logs.map((l) => l.seq),
          logs.map((_, i) => i + 1),
        );
        assert.ok(logs.some((l) => l.message === 'step 4 done'));
        assert.equal(logs.at(-1)?.message, 'succeeded');
        // A finished job: the whole story at once, then end. `after` skips log lines.
        const again = parseSse((await h.call(h.owner.token, 'GET', `/api/v1/jobs/${id}/events?after=2`)).body);
        assert.deepEqual(
          again.map((e) => e.event),
          ['log', ...logs.slice(3).map(() => 'log'), 'progress', 'end'],
        );
        assert.equal(again[0]?.data.seq, 3);
        assert.match(r.body, /^id: 1\nevent: log\n/m);
        // EventSource resumes with Last-Event-ID
        const resumed = parseSse(
          (
            await h.call(h.owner.token, 'GET', `/api/v1/jobs/${id}/events`, undefined, {
              'last-event-id': String(logs.length - 1),
            })
          ).body,
        );
        assert.deepEqual(
          resumed.map((e) => e.event),
          ['log', 'progress', 'end'],
        );
      } finally {
        await w.stop();
      }
    });

    test('the event stream stops when the client goes away, and on shutdown', async () => {
      const id = await enqueue({ kind: 'test.sleep', orgId: h.orgId });
      await h.app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = h.app.server.address() as AddressInfo;
      const open = () =>
        new Promise<{ first: string; res: import('node:http').IncomingMessage }>((resolve, reject) => {
          const req = request(
            { host: '127.0.0.1', port, path: `/api/v1/jobs/${id}/events`, headers: { authorization: `Bearer ${h.owner.token}` } },
            (res) => {
              res.setEncoding('utf8');
              let buf = '';
              res.on('data', (d) => {
                buf += d;
                if (buf.includes('event: progress')) resolve({ first: buf, res });
              });
            },
          );
          req.on('error', reject);
          req.end();
        });
      const a = await open();
      assert.match(a.first, /"state":"queued"/);
      a.res.destroy();
      // the second stream is ended by the server's shutdown (preClose), not left hanging
      const b = await open();
      const ended = new Promise<void>((resolve) => b.res.on('close', () => resolve()));
      const t0 = Date.now();
      await h.app.close();
      await ended;
      assert.ok(Date.now() - t0 < 3000);
    });
  });
}
