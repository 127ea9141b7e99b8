import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FormatRegistry } from '@sinclair/typebox';
import { createSite, joinServer, runHandler } from '../../../desired/test-support.ts';
import { siteProvision } from '../../../jobs/handlers/site-provision.ts';
import { createHarness, type Harness } from '../../../testing/harness.ts';

if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => !Number.isNaN(Date.parse(v)));

/**
 * The file manager and database browser API against a stand-in agent that claims through the
 * real agent protocol (the real agent side is tested in packages/agent/src/files/*.test.ts and
 * the pod integration test): roles, the interactive lane, synchronous answers, the agent's
 * errors passed through with their codes, timeouts, and no file bytes left in the jobs table.
 */
const KINDS = ['files.list', 'files.read', 'files.write', 'files.delete', 'files.mkdir', 'db.tables', 'db.rows'];

type AgentAnswer = { result: unknown } | { error: { code: string; message: string; details?: unknown } };

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`${dialect}: file manager and database browser API`, () => {
    let h: Harness;
    let app: { id: string; credential: string };
    let envId: string;
    let viewer: { token: string };
    let developer: { token: string };
    let beat: ReturnType<typeof setInterval>;
    before(async () => {
      process.env.TRIPLANE_AGENT_CALL_WAIT_MS = '1500';
      h = await createHarness({ dialect });
      app = await joinServer(h, 'fm-app', 'app', '10.4.0.1');
      const s = await createSite(h, h.owner.token, { name: 'fm-shop', domains: ['fm-shop.example.com'] });
      await runHandler(h, siteProvision, s.jobId);
      envId = s.environmentId;
      // the agent is online while it heartbeats (an offline one is refused at once: last test)
      beat = setInterval(() => void h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/heartbeat`, {}), 5000);
      viewer = await h.makeUser('viewer');
      developer = await h.makeUser('developer');
    });
    after(async () => {
      clearInterval(beat);
      delete process.env.TRIPLANE_AGENT_CALL_WAIT_MS;
      await h.close();
    });

    /** Claim one job as the agent (long-poll) and answer it with `answer(job)`. */
    async function agentOnce(answer: (job: { id: string; kind: string; params: any; row: any }) => AgentAnswer, kinds = KINDS) {
      const c = await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/claim`, { owner: 'run-fm', kinds, wait: 3 });
      assert.equal(c.statusCode, 200, c.body);
      const job = c.json().job;
      assert.ok(job, 'a job to claim');
      const row = await h.store.db.selectFrom('jobs').selectAll().where('id', '=', job.id).executeTakeFirstOrThrow();
      Object.assign(job, { row });
      const a = answer(job);
      const r =
        'result' in a
          ? await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/${job.id}/complete`, {
              owner: 'run-fm',
              result: a.result,
            })
          : await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/${job.id}/fail`, {
              owner: 'run-fm',
              error: a.error,
              retryable: false,
            });
      assert.equal(r.statusCode, 200, r.body);
      return job;
    }

    test('list: an interactive job for the environment’s server, answered synchronously; a viewer may', async () => {
      const entries = [{ name: 'uploads', type: 'dir', size: 4096, mtime: '2026-11-25T03:00:00.000Z', mode: '0755' }];
      const pending = h.call(viewer.token, 'GET', `/api/v1/environments/${envId}/files?path=uploads`);
      const job = await agentOnce((j) => {
        assert.equal(j.kind, 'files.list');
        assert.deepEqual(j.params, { path: 'uploads', environmentId: envId });
        return { result: { path: 'uploads', entries, truncated: false } };
      });
      const r = await pending;
      assert.equal(r.statusCode, 200, r.body);
      assert.deepEqual(r.json(), { path: 'uploads', entries, truncated: false });
      assert.equal(job.row.lane, 'interactive');
      assert.equal(job.row.server_id, app.id);
      assert.equal(job.row.max_attempts, 1);
      // a read leaves no job behind (browsing must not bury the real jobs)
      assert.equal((await h.call(h.owner.token, 'GET', `/api/v1/jobs/${job.id}`)).statusCode, 404);
    });

    test('the agent’s errors come back with their code and status, plus the job id', async () => {
      for (const [code, status] of [
        ['TRIPLANE_ERR_UNPROCESSABLE', 422],
        ['TRIPLANE_ERR_VALIDATION', 400],
        ['TRIPLANE_ERR_NOT_FOUND', 404],
        ['TRIPLANE_ERR_PAYLOAD_TOO_LARGE', 413],
      ] as const) {
        const pending = h.call(viewer.token, 'GET', `/api/v1/environments/${envId}/files/content?path=etc/passwd`);
        const job = await agentOnce(() => ({
          error: { code, message: 'etc: is a symbolic link', details: { path: 'etc', reason: 'symlink' } },
        }));
        const r = await pending;
        assert.equal(r.statusCode, status, r.body);
        assert.equal(r.json().error.code, code);
        assert.deepEqual(r.json().error.details, { path: 'etc', reason: 'symlink', jobId: job.id });
      }
    });

    test('content: the bytes as an attachment, never rendered; the bytes are not kept in the jobs table', async () => {
      const bytes = Buffer.from('<script>alert(1)</script>\u00e9', 'utf8');
      const pending = h.call(viewer.token, 'GET', `/api/v1/environments/${envId}/files/content?path=themes/x/index.html`);
      const job = await agentOnce(() => ({
        result: {
          path: 'themes/x/index.html',
          size: bytes.length,
          mtime: '2026-11-25T03:00:00.000Z',
          mode: '0644',
          base64: bytes.toString('base64'),
        },
      }));
      const r = await pending;
      assert.equal(r.statusCode, 200, r.body);
      assert.deepEqual(r.rawPayload, bytes);
      assert.equal(r.headers['content-type'], 'application/octet-stream');
      assert.equal(r.headers['x-content-type-options'], 'nosniff');
      assert.match(String(r.headers['content-disposition']), /^attachment; filename="index.html"/);
      assert.match(String(r.headers['content-security-policy']), /sandbox/);
      const gone = await h.store.db.selectFrom('jobs').select(['result']).where('id', '=', job.id).executeTakeFirst();
      assert.equal(gone, undefined, 'the bytes are not kept');
    });

    test('write: raw bytes or JSON (base64 | text) by a developer; audited; a viewer is refused before any job', async () => {
      const before = await h.store.db.selectFrom('jobs').select('id').where('kind', 'like', 'files.%').execute();
      const denied = await h.call(viewer.token, 'PUT', `/api/v1/environments/${envId}/files/content?path=a.txt`, { text: 'x' });
      assert.equal(denied.statusCode, 403, denied.body);
      assert.equal((await h.call(viewer.token, 'DELETE', `/api/v1/environments/${envId}/files?path=a.txt`)).statusCode, 403);
      assert.equal(
        (await h.call(viewer.token, 'POST', `/api/v1/environments/${envId}/files/mkdir`, { path: 'd' })).statusCode,
        403,
      );
      const after = await h.store.db.selectFrom('jobs').select('id').where('kind', 'like', 'files.%').execute();
      assert.equal(after.length, before.length, 'no job for a refused call');

      const entry = { name: 'a.txt', type: 'file', size: 3, mtime: '2026-11-25T03:00:00.000Z', mode: '0644' };
      const cases: [string, unknown, Record<string, string>, string][] = [
        [
          'raw',
          Buffer.from([0, 1, 2]),
          { 'content-type': 'application/octet-stream' },
          Buffer.from([0, 1, 2]).toString('base64'),
        ],
        ['base64', { base64: Buffer.from('abc').toString('base64') }, {}, Buffer.from('abc').toString('base64')],
        ['text', { text: 'héllo' }, {}, Buffer.from('héllo').toString('base64')],
      ];
      for (const [what, body, headers, expected] of cases) {
        const pending = h.call(developer.token, 'PUT', `/api/v1/environments/${envId}/files/content?path=a.txt`, body, headers);
        const job = await agentOnce((j) => {
          assert.equal(j.kind, 'files.write');
          assert.equal(j.params.base64, expected, what);
          assert.equal(j.params.path, 'a.txt');
          return { result: entry };
        });
        const r = await pending;
        assert.equal(r.statusCode, 200, `${what}: ${r.body}`);
        assert.deepEqual(r.json(), entry);
        const row = await h.store.db
          .selectFrom('jobs')
          .select(['params', 'result', 'state'])
          .where('id', '=', job.id)
          .executeTakeFirstOrThrow();
        assert.equal(row.state, 'succeeded', 'a change stays in the jobs list');
        assert.equal(JSON.parse(row.params).base64, undefined, 'the content is not kept');
        assert.equal(JSON.parse(row.params).bytes, Buffer.from(expected, 'base64').length);
      }
      const audit = (await h.call(h.owner.token, 'GET', `/api/v1/audit?action=files.write`)).json().items;
      assert.ok(audit.length >= 3, 'writes are audited');
      assert.equal(audit[0].details.path, 'a.txt');

      for (const bad of [{}, { base64: 'abc', text: 'x' }, { base64: '!!!!' }, { text: 1 }]) {
        const r = await h.call(developer.token, 'PUT', `/api/v1/environments/${envId}/files/content?path=a.txt`, bad);
        assert.equal(r.statusCode, 400, JSON.stringify(bad));
      }
      const big = await h.call(
        developer.token,
        'PUT',
        `/api/v1/environments/${envId}/files/content?path=big.bin`,
        Buffer.alloc(5 * 1024 * 1024 + 1),
        { 'content-type': 'application/octet-stream' },
      );
      assert.equal(big.statusCode, 413, big.body);
      assert.equal((await h.call(developer.token, 'DELETE', `/api/v1/environments/${envId}/files?path=`)).statusCode, 400);
    });

    test('delete and mkdir go through the agent with their parameters', async () => {
      const del = h.call(developer.token, 'DELETE', `/api/v1/environments/${envId}/files?path=uploads/old&recursive=true`);
      await agentOnce((j) => {
        assert.deepEqual([j.kind, j.params.path, j.params.recursive], ['files.delete', 'uploads/old', true]);
        return { result: { removed: 3 } };
      });
      assert.deepEqual((await del).json(), { removed: 3 });
      const mk = h.call(developer.token, 'POST', `/api/v1/environments/${envId}/files/mkdir`, { path: 'uploads/new' });
      await agentOnce((j) => {
        assert.deepEqual([j.kind, j.params.path], ['files.mkdir', 'uploads/new']);
        return { error: { code: 'TRIPLANE_ERR_ALREADY_EXISTS', message: 'uploads/new already exists' } };
      });
      assert.equal((await mk).statusCode, 409);
    });

    test('database: tables and a page of rows (limit ≤ 200 checked before the agent)', async () => {
      const tables = { tables: [{ name: 'wp_users', rowsEstimate: 1, bytes: 16384, engine: 'InnoDB' }] };
      const t = h.call(viewer.token, 'GET', `/api/v1/environments/${envId}/db/tables`);
      await agentOnce(() => ({ result: tables }));
      assert.deepEqual((await t).json(), tables);
      const page = {
        table: 'wp_users',
        columns: [
          { name: 'ID', type: 'bigint(20) unsigned' },
          { name: 'user_pass', type: 'varchar(255)' },
        ],
        rows: [['1', '••••••••']],
        offset: 0,
        limit: 10,
        truncated: [],
        masked: ['user_pass'],
      };
      const r = h.call(viewer.token, 'GET', `/api/v1/environments/${envId}/db/tables/wp_users/rows?limit=10`);
      await agentOnce((j) => {
        assert.deepEqual([j.kind, j.params.table, j.params.offset, j.params.limit], ['db.rows', 'wp_users', 0, 10]);
        return { result: page };
      });
      assert.deepEqual((await r).json(), page);
      const tooMany = await h.call(viewer.token, 'GET', `/api/v1/environments/${envId}/db/tables/wp_users/rows?limit=201`);
      assert.equal(tooMany.statusCode, 400);
    });

    test('interactive jobs are claimed before a queued backup, and a backup runner never sees them', async () => {
      const b = await h.call(h.owner.token, 'POST', `/api/v1/environments/${envId}/backups`, {});
      assert.equal(b.statusCode, 202, b.body);
      const pending = h.call(viewer.token, 'GET', `/api/v1/environments/${envId}/files?path=`);
      // the low-lane runner asks for backup kinds only: it gets the backup, never the listing
      const low = await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/claim`, {
        owner: 'run-low',
        kinds: ['backup.create'],
      });
      assert.equal(low.json().job.kind, 'backup.create');
      await agentOnce(() => ({ result: { path: '', entries: [], truncated: false } }));
      assert.equal((await pending).statusCode, 200);
      await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/${low.json().job.id}/release`, { owner: 'run-low' });
    });

    test('no agent answer: 504 with the job id, and the queued job is cancelled (it never runs later)', async () => {
      const r = await h.call(developer.token, 'PUT', `/api/v1/environments/${envId}/files/content?path=late.txt`, {
        text: 'late',
      });
      assert.equal(r.statusCode, 504, r.body);
      const e = r.json().error;
      assert.equal(e.code, 'TRIPLANE_ERR_TIMEOUT');
      assert.equal(e.details.state, 'cancelled');
      const job = (await h.call(h.owner.token, 'GET', `/api/v1/jobs/${e.details.jobId}`)).json();
      assert.equal(job.state, 'cancelled');
      assert.equal(job.params.base64, undefined);
      const c = await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/claim`, { owner: 'run-fm', kinds: KINDS });
      assert.equal(c.json().job, null, 'nothing left to claim');
    });

    test('an offline agent: 503 at once, no job', async () => {
      const before = await h.store.db.selectFrom('jobs').select('id').execute();
      clearInterval(beat);
      await h.store.db
        .updateTable('servers')
        .set({ last_heartbeat_at: new Date(Date.now() - 5 * 60_000).toISOString() })
        .where('id', '=', app.id)
        .execute();
      const r = await h.call(viewer.token, 'GET', `/api/v1/environments/${envId}/files`);
      assert.equal(r.statusCode, 503, r.body);
      assert.equal(r.json().error.code, 'TRIPLANE_ERR_UNAVAILABLE');
      assert.match(r.json().error.message, /offline/);
      assert.equal((await h.store.db.selectFrom('jobs').select('id').execute()).length, before.length);
      await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/heartbeat`, {});
      assert.notEqual((await h.call(viewer.token, 'GET', `/api/v1/environments/${envId}/files`)).statusCode, 503);
    });

    test('an environment being deleted: 409 at once, no job (its agent no longer serves it)', async () => {
      const before = await h.store.db.selectFrom('jobs').select('id').execute();
      const was = await h.store.db.selectFrom('environments').select('status').where('id', '=', envId).executeTakeFirstOrThrow();
      await h.store.db.updateTable('environments').set({ status: 'deleting' }).where('id', '=', envId).execute();
      try {
        for (const path of ['files', 'db/tables']) {
          const r = await h.call(viewer.token, 'GET', `/api/v1/environments/${envId}/${path}`);
          assert.equal(r.statusCode, 409, r.body);
          assert.equal(r.json().error.code, 'TRIPLANE_ERR_CONFLICT');
          assert.match(r.json().error.message, /being deleted/);
        }
        // no job: nothing waited on an agent
        assert.equal((await h.store.db.selectFrom('jobs').select('id').execute()).length, before.length);
      } finally {
        await h.store.db.updateTable('environments').set({ status: was.status }).where('id', '=', envId).execute();
      }
    });

    test('another organization sees no environment; bad paths are refused', async () => {
      const o2 = await h.makeOrg(`fm-org-${dialect}`);
      assert.equal((await h.call(o2.owner.token, 'GET', `/api/v1/environments/${envId}/files`)).statusCode, 404);
      const nul = await h.call(viewer.token, 'GET', `/api/v1/environments/${envId}/files?path=a%00b`);
      assert.equal(nul.statusCode, 400, nul.body);
    });
  });
}
