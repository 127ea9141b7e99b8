import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FormatRegistry } from '@sinclair/typebox';
import { FakeClock } from '@triplane/testkit';
import { DEFAULT_BACKUP_POLICY, dueToday, jitterMinutes, parseWindow, scheduleTick } from '../../../backups/schedule.ts';
import { createSite, joinServer, runHandler } from '../../../desired/test-support.ts';
import { siteDelete } from '../../../jobs/handlers/site-delete.ts';
import { siteProvision } from '../../../jobs/handlers/site-provision.ts';
import { createHarness, type Harness } from '../../../testing/harness.ts';

if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => !Number.isNaN(Date.parse(v)));

const HEX = (c: string) => c.repeat(64);

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`${dialect}: backups and the agent job protocol`, () => {
    let h: Harness;
    let app: { id: string; credential: string };
    let other: { id: string; credential: string };
    let envId: string;
    before(async () => {
      h = await createHarness({ dialect });
      app = await joinServer(h, 'bk-app', 'app', '10.3.0.1');
      const s = await createSite(h, h.owner.token, { name: 'bk-shop', domains: ['bk-shop.example.com'] });
      await runHandler(h, siteProvision, s.jobId);
      envId = s.environmentId;
      other = await joinServer(h, 'bk-other', 'app', '10.3.0.2');
      const env = (await h.call(h.owner.token, 'GET', `/api/v1/environments/${envId}`)).json();
      assert.deepEqual(env.serverIds, [app.id], 'placed on the first server');
    });
    after(() => h.close());

    const claim = (srv: { id: string; credential: string }, owner = 'run-a') =>
      h.call(srv.credential, 'POST', `/api/v1/agents/${srv.id}/jobs/claim`, {
        owner,
        kinds: ['backup.create', 'backup.restore'],
      });

    test('a backup is a job for the environment’s server; only that server claims it; listed only once recorded', async () => {
      const r = await h.call(h.owner.token, 'POST', `/api/v1/environments/${envId}/backups`, {});
      assert.equal(r.statusCode, 202, r.body);
      const job = r.json().job;
      assert.equal(job.kind, 'backup.create');
      assert.equal(job.lane, 'low');
      assert.equal(job.serverId, app.id);
      const backupId = job.params.backupId as string;
      assert.match(backupId, /^bak_/);
      // Another server can't claim it, nor act for the first one.
      assert.equal((await claim(other)).json().job, null);
      assert.equal(
        (await h.call(other.credential, 'POST', `/api/v1/agents/${app.id}/jobs/claim`, { owner: 'x', kinds: ['backup.create'] }))
          .statusCode,
        403,
      );
      // Users can't use the agent protocol.
      assert.equal(
        (await h.call(h.owner.token, 'POST', `/api/v1/agents/${app.id}/jobs/claim`, { owner: 'x', kinds: ['backup.create'] }))
          .statusCode,
        403,
      );
      const c = await claim(app);
      assert.equal(c.statusCode, 200, c.body);
      assert.equal(c.json().job.id, job.id);
      assert.equal(c.json().job.environmentId, envId);
      assert.equal((await claim(app, 'run-b')).json().job, null, 'claimed once');
      const p = await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/${job.id}/progress`, {
        owner: 'run-a',
        percent: 40,
        message: 'dumping the database',
        logs: [{ level: 'info', message: 'database: 1234 bytes' }],
      });
      assert.deepEqual(p.json(), { ok: true, cancelRequested: false });
      const seen = (await h.call(h.owner.token, 'GET', `/api/v1/jobs/${job.id}`)).json();
      assert.equal(seen.progress, 40);
      assert.equal(seen.message, 'dumping the database');
      // Not listed before restic confirmed it.
      assert.equal((await h.call(h.owner.token, 'GET', `/api/v1/environments/${envId}/backups`)).json().items.length, 0);
      // Another agent run (lost lease) can't report.
      const wrong = await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/${job.id}/progress`, {
        owner: 'run-b',
        percent: 50,
      });
      assert.equal(wrong.json().ok, false);
      const record = {
        owner: 'run-a',
        backupId,
        environmentId: envId,
        kind: 'manual',
        dbSnapshotId: HEX('a'),
        filesSnapshotId: HEX('b'),
        snapshotTime: '2026-11-25T03:00:00.000Z',
        dbBytes: 1000,
        filesBytes: 2000,
        addedBytes: 500,
      };
      // A record for an environment the job doesn't act on is refused.
      const s2 = await createSite(h, h.owner.token, { name: 'bk-two', domains: ['bk-two.example.com'] });
      const bad = await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/${job.id}/backups`, {
        ...record,
        backupId: 'bak_0000000000000000',
        environmentId: s2.environmentId,
      });
      assert.equal(bad.statusCode, 403, bad.body);
      const rec = await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/${job.id}/backups`, record);
      assert.equal(rec.statusCode, 200, rec.body);
      assert.equal(
        (await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/${job.id}/backups`, record)).json().ok,
        true,
        'idempotent',
      );
      const done = await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/${job.id}/complete`, {
        owner: 'run-a',
        result: { backupId },
      });
      assert.deepEqual(done.json(), { ok: true, outcome: 'succeeded' });
      const list = (await h.call(h.owner.token, 'GET', `/api/v1/environments/${envId}/backups`)).json().items;
      assert.equal(list.length, 1);
      assert.equal(list[0].id, backupId);
      assert.equal(list[0].siteName, 'bk-shop');
      assert.equal(list[0].dbSnapshotId, HEX('a'));
      assert.equal((await h.call(h.owner.token, 'GET', `/api/v1/backups/${backupId}`)).json().filesBytes, 2000);
      // A viewer reads but can't take or restore backups.
      const viewer = await h.makeUser('viewer');
      assert.equal((await h.call(viewer.token, 'GET', `/api/v1/backups/${backupId}`)).statusCode, 200);
      assert.equal((await h.call(viewer.token, 'POST', `/api/v1/environments/${envId}/backups`, {})).statusCode, 403);
      assert.equal((await h.call(viewer.token, 'POST', `/api/v1/backups/${backupId}/restore`, {})).statusCode, 403);
      // Another organization can't see it.
      const o2 = await h.makeOrg(`bk-org-${dialect}`);
      assert.equal((await h.call(o2.owner.token, 'GET', `/api/v1/backups/${backupId}`)).statusCode, 404);
    });

    test('restore: a job on the server with a new safety backup id; another site or environment is refused with a stable code', async () => {
      const backupId = (await h.call(h.owner.token, 'GET', `/api/v1/environments/${envId}/backups`)).json().items[0].id;
      const r = await h.call(h.owner.token, 'POST', `/api/v1/backups/${backupId}/restore`, { scope: 'database' });
      assert.equal(r.statusCode, 202, r.body);
      const job = r.json().job;
      assert.equal(job.kind, 'backup.restore');
      assert.equal(job.serverId, app.id);
      assert.equal(job.params.scope, 'database');
      assert.equal(job.params.dbSnapshotId, HEX('a'));
      assert.match(job.params.safetyBackupId, /^bak_/);
      const s2 = await createSite(h, h.owner.token, { name: 'bk-three', domains: ['bk-three.example.com'] });
      const wrong = await h.call(h.owner.token, 'POST', `/api/v1/backups/${backupId}/restore`, {
        environmentId: s2.environmentId,
      });
      assert.equal(wrong.statusCode, 422);
      assert.equal(wrong.json().error.code, 'TRIPLANE_ERR_BACKUP_WRONG_SITE');
      const missing = await h.call(h.owner.token, 'POST', '/api/v1/backups/bak_zzzzzzzzzzzzzzzz/restore', {});
      assert.equal(missing.statusCode, 404);
      // The agent fails it (not retryable): the job fails at once with the agent's code.
      const c = await claim(app, 'run-c');
      assert.equal(c.json().job.id, job.id);
      const f = await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/${job.id}/fail`, {
        owner: 'run-c',
        error: { code: 'TRIPLANE_ERR_BACKUP_SNAPSHOT_NOT_FOUND', message: 'the snapshots are not in the repository' },
        retryable: false,
      });
      assert.deepEqual(f.json(), { ok: true, outcome: 'failed' });
      const seen = (await h.call(h.owner.token, 'GET', `/api/v1/jobs/${job.id}`)).json();
      assert.equal(seen.state, 'failed');
      assert.equal(seen.error.code, 'TRIPLANE_ERR_BACKUP_SNAPSHOT_NOT_FOUND');
      // …and it is an event in the audit log, with the reason.
      const events = (await h.call(h.owner.token, 'GET', `/api/v1/audit?action=backup.restore.failed`)).json();
      assert.ok(
        events.items.some(
          (a: { details: { jobId?: string; code?: string } }) =>
            a.details.jobId === job.id && a.details.code === 'TRIPLANE_ERR_BACKUP_SNAPSHOT_NOT_FOUND',
        ),
        JSON.stringify(events),
      );
    });

    test('a cancel request reaches the agent through its progress call', async () => {
      const r = await h.call(h.owner.token, 'POST', `/api/v1/environments/${envId}/backups`, {});
      const job = r.json().job;
      assert.equal((await claim(app, 'run-d')).json().job.id, job.id);
      assert.equal((await h.call(h.owner.token, 'POST', `/api/v1/jobs/${job.id}/cancel`)).statusCode, 200);
      const p = await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/${job.id}/progress`, { owner: 'run-d' });
      assert.deepEqual(p.json(), { ok: true, cancelRequested: true });
      assert.equal(
        (await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/${job.id}/cancelled`, { owner: 'run-d' })).json().ok,
        true,
      );
      assert.equal((await h.call(h.owner.token, 'GET', `/api/v1/jobs/${job.id}`)).json().state, 'cancelled');
    });

    test('clone, staging, push, pull: env.sync jobs on the source server, targets pinned there', async () => {
      const c = await h.call(
        h.owner.token,
        'POST',
        `/api/v1/sites/${(await h.call(h.owner.token, 'GET', `/api/v1/environments/${envId}`)).json().siteId}/clone`,
        {
          name: 'bk-shop-copy',
          domains: ['copy.example.com'],
        },
      );
      assert.equal(c.statusCode, 202, c.body);
      const cl = c.json();
      assert.deepEqual(cl.environment.serverIds, [app.id], 'pinned to the source server');
      assert.equal(cl.job.kind, 'site.provision');
      assert.equal(cl.syncJob.kind, 'env.sync');
      assert.equal(cl.syncJob.serverId, app.id);
      assert.equal(cl.syncJob.environmentId, cl.environment.id);
      assert.equal(cl.syncJob.params.mode, 'clone');
      assert.equal(cl.syncJob.params.sourceEnvironmentId, envId);
      assert.equal(cl.syncJob.params.sourceUrl, 'https://bk-shop.example.com');
      assert.equal(cl.syncJob.params.targetUrl, 'https://copy.example.com');
      assert.equal(cl.syncJob.params.database, 'all');
      assert.match(cl.syncJob.params.sourceBackupId, /^bak_/);
      const siteId = cl.syncJob.params.siteId;
      assert.notEqual(siteId, undefined);
      const dupName = await h.call(h.owner.token, 'POST', `/api/v1/sites/${siteId}/clone`, { name: 'bk-shop-copy' });
      assert.equal(dupName.statusCode, 409);
      const dupDomain = await h.call(h.owner.token, 'POST', `/api/v1/sites/${siteId}/clone`, {
        name: 'other-copy',
        domains: ['bk-shop.example.com'],
      });
      assert.equal(dupDomain.statusCode, 409);
      // From a backup of another site: refused.
      const bk = (await h.call(h.owner.token, 'GET', `/api/v1/environments/${envId}/backups`)).json().items[0].id;
      const wrong = await h.call(h.owner.token, 'POST', `/api/v1/sites/${siteId}/clone`, {
        name: 'from-wrong',
        fromBackupId: bk,
      });
      assert.equal(wrong.statusCode, 422);
      assert.equal(wrong.json().error.code, 'TRIPLANE_ERR_BACKUP_WRONG_SITE');
      const shopSite = (await h.call(h.owner.token, 'GET', `/api/v1/environments/${envId}`)).json().siteId;
      const fromBk = await h.call(h.owner.token, 'POST', `/api/v1/sites/${shopSite}/clone`, {
        name: 'from-backup',
        fromBackupId: bk,
      });
      assert.equal(fromBk.statusCode, 202, fromBk.body);
      assert.equal(fromBk.json().syncJob.params.fromBackup.backupId, bk);
      // Staging.
      const st = await h.call(h.owner.token, 'POST', `/api/v1/sites/${shopSite}/staging`, {
        domains: ['staging.bk-shop.example.com'],
      });
      assert.equal(st.statusCode, 202, st.body);
      assert.equal(st.json().environment.name, 'staging');
      assert.equal(st.json().syncJob.params.mode, 'staging');
      assert.equal(st.json().syncJob.params.noindex, true);
      assert.equal(
        (await h.call(h.owner.token, 'POST', `/api/v1/sites/${shopSite}/staging`, {})).statusCode,
        409,
        'exists already',
      );
      // A second staging, filled from a backup of production instead of live.
      const st2 = await h.call(h.owner.token, 'POST', `/api/v1/sites/${shopSite}/staging`, { name: 'qa', fromBackupId: bk });
      assert.equal(st2.statusCode, 202, st2.body);
      assert.equal(st2.json().syncJob.params.fromBackup.backupId, bk);
      assert.equal(st2.json().syncJob.params.noindex, true);
      const st3 = await h.call(h.owner.token, 'POST', `/api/v1/sites/${siteId}/staging`, { name: 'qa', fromBackupId: bk });
      assert.equal(st3.json().error.code, 'TRIPLANE_ERR_BACKUP_WRONG_SITE');
      const stagingId = st.json().environment.id;
      // Push defaults to woo-safe + files with a pre-push backup; pull to all.
      const push = await h.call(h.owner.token, 'POST', `/api/v1/environments/${stagingId}/push`, {});
      assert.equal(push.statusCode, 202, push.body);
      const pp = push.json().job.params;
      assert.equal(pp.database, 'woo-safe');
      assert.equal(pp.files, true);
      assert.equal(pp.sourceEnvironmentId, stagingId);
      assert.equal(pp.targetEnvironmentId, envId);
      assert.match(pp.preBackupId, /^bak_/);
      const pull = await h.call(h.owner.token, 'POST', `/api/v1/environments/${stagingId}/pull`, {
        files: false,
        tables: ['wp_posts', 'wp_postmeta'],
      });
      assert.equal(pull.statusCode, 202, pull.body);
      assert.equal(pull.json().job.params.database, 'tables');
      assert.deepEqual(pull.json().job.params.tables, ['wp_posts', 'wp_postmeta']);
      assert.equal(pull.json().job.params.targetEnvironmentId, stagingId);
      // Across sites: refused.
      const x = await h.call(h.owner.token, 'POST', `/api/v1/environments/${stagingId}/push`, { to: cl.environment.id });
      assert.equal(x.statusCode, 422);
      assert.equal(x.json().error.code, 'TRIPLANE_ERR_BACKUP_WRONG_SITE');
      const nothing = await h.call(h.owner.token, 'POST', `/api/v1/environments/${stagingId}/push`, {
        files: false,
        database: 'none',
      });
      assert.equal(nothing.statusCode, 400);
      const viewer = await h.makeUser('viewer');
      assert.equal((await h.call(viewer.token, 'POST', `/api/v1/environments/${stagingId}/pull`, {})).statusCode, 403);
    });

    test('deleting a running site takes a pre-delete backup first; a failed or unclaimed one deletes nothing', async () => {
      const running = async (name: string) => {
        const s = await createSite(h, h.owner.token, { name, domains: [`${name}.example.com`] });
        await runHandler(h, siteProvision, s.jobId);
        await h.store.db.updateTable('environments').set({ status: 'running' }).where('id', '=', s.environmentId).execute();
        const env = (await h.call(h.owner.token, 'GET', `/api/v1/environments/${s.environmentId}`)).json();
        return { ...s, serverId: env.serverIds[0] as string };
      };
      const srvOf = (id: string) => (id === app.id ? app : other);
      // Earlier tests may have left backups queued on these servers: out of the way.
      await h.store.db.updateTable('jobs').set({ state: 'cancelled' }).where('state', '=', 'queued').execute();
      const claimPreDelete = async (srv: { id: string; credential: string }) => {
        const c = await h.call(srv.credential, 'POST', `/api/v1/agents/${srv.id}/jobs/claim`, {
          owner: 'run-del',
          kinds: ['backup.create'],
          wait: 5,
        });
        assert.equal(c.statusCode, 200, c.body);
        return c.json().job as { id: string; params: { backupId: string; kind: string; environmentId: string } };
      };

      // 1. Success: the site keeps running (still assigned) until the backup is confirmed.
      const a = await running('bk-del-ok');
      const del = await h.call(h.owner.token, 'DELETE', `/api/v1/sites/${a.siteId}?confirm=bk-del-ok`);
      assert.equal(del.statusCode, 202, del.body);
      assert.notEqual(del.json().site.status, 'deleting');
      assert.equal(del.json().job.params.backup, true);
      const again = await h.call(h.owner.token, 'DELETE', `/api/v1/sites/${a.siteId}?confirm=bk-del-ok`);
      assert.equal(again.json().job.id, del.json().job.id, 'a repeated delete returns the same job');
      const deleting = runHandler(h, siteDelete, del.json().job.id, { params: { drainTimeoutMs: 500 } });
      const srv = srvOf(a.serverId);
      const bj = await claimPreDelete(srv);
      assert.equal(bj.params.kind, 'pre-delete');
      assert.equal(bj.params.environmentId, a.environmentId);
      const asg = (await h.call(srv.credential, 'GET', `/api/v1/agents/${srv.id}/assignment`)).json();
      assert.ok(
        asg.environments.some((x: { id: string }) => x.id === a.environmentId),
        'still assigned while the backup runs',
      );
      const rec = await h.call(srv.credential, 'POST', `/api/v1/agents/${srv.id}/jobs/${bj.id}/backups`, {
        owner: 'run-del',
        backupId: bj.params.backupId,
        environmentId: a.environmentId,
        kind: 'pre-delete',
        dbSnapshotId: HEX('c'),
        filesSnapshotId: HEX('d'),
        snapshotTime: '2026-11-25T04:00:00.000Z',
        dbBytes: 10,
        filesBytes: 20,
        addedBytes: 30,
      });
      assert.equal(rec.statusCode, 200, rec.body);
      await h.call(srv.credential, 'POST', `/api/v1/agents/${srv.id}/jobs/${bj.id}/complete`, { owner: 'run-del', result: {} });
      const done = (await deleting) as { deleted: boolean; preDeleteBackups: { backupId: string }[] };
      assert.equal(done.deleted, true);
      assert.deepEqual(
        done.preDeleteBackups.map((b) => b.backupId),
        [bj.params.backupId],
      );
      assert.equal((await h.call(h.owner.token, 'GET', `/api/v1/sites/${a.siteId}`)).statusCode, 404);
      // The backup outlives its site: readable with an org-wide role, listed as a deleted site's.
      const got = await h.call(h.owner.token, 'GET', `/api/v1/backups/${bj.params.backupId}`);
      assert.equal(got.statusCode, 200, got.body);
      assert.equal(got.json().kind, 'pre-delete');
      const left = (await h.call(h.owner.token, 'GET', `/api/v1/orgs/${h.orgId}/backups?deletedSites=true`)).json();
      assert.deepEqual(
        left.items.map((b: { id: string }) => b.id),
        [bj.params.backupId],
      );
      const o2 = await h.makeOrg(`bk-del-org-${dialect}`);
      assert.equal((await h.call(o2.owner.token, 'GET', `/api/v1/backups/${bj.params.backupId}`)).statusCode, 404);
      assert.equal((await h.call(o2.owner.token, 'GET', `/api/v1/orgs/${h.orgId}/backups`)).statusCode, 404);

      // 2. The backup fails: the deletion fails with the reason, and nothing is deleted.
      const b = await running('bk-del-fail');
      const del2 = await h.call(h.owner.token, 'DELETE', `/api/v1/sites/${b.siteId}?confirm=bk-del-fail`);
      const deleting2 = runHandler(h, siteDelete, del2.json().job.id, { params: { drainTimeoutMs: 500 } });
      deleting2.catch(() => undefined); // it may fail before assert.rejects below is attached
      const srv2 = srvOf(b.serverId);
      const bj2 = await claimPreDelete(srv2);
      await h.call(srv2.credential, 'POST', `/api/v1/agents/${srv2.id}/jobs/${bj2.id}/fail`, {
        owner: 'run-del',
        error: { code: 'TRIPLANE_ERR_BACKUP_DUMP_FAILED', message: 'mariadb-dump failed (exit 2): disk full' },
        retryable: false,
      });
      await assert.rejects(deleting2, (e: Error & { code?: string }) => {
        assert.equal(e.code, 'TRIPLANE_ERR_BACKUP_FAILED');
        assert.match(e.message, /disk full/);
        assert.match(e.message, /nothing was deleted/);
        return true;
      });
      // (runHandler runs the handler alone; the queue would record the terminal failure like this)
      const failJob = (id: string) => h.store.db.updateTable('jobs').set({ state: 'failed' }).where('id', '=', id).execute();
      await failJob(del2.json().job.id);
      const still = (await h.call(h.owner.token, 'GET', `/api/v1/sites/${b.siteId}`)).json();
      assert.notEqual(still.status, 'deleting');
      assert.equal(still.environments[0].status, 'running');

      // 3. No agent picks the backup up: a clear error, the backup job cancelled, nothing deleted.
      const del3 = await h.call(h.owner.token, 'DELETE', `/api/v1/sites/${b.siteId}?confirm=bk-del-fail`);
      assert.notEqual(del3.json().job.id, del2.json().job.id, 'a failed deletion can be started again');
      await assert.rejects(
        runHandler(h, siteDelete, del3.json().job.id, { params: { backupClaimTimeoutMs: 1 } }),
        (e: Error & { code?: string }) => e.code === 'TRIPLANE_ERR_BACKUP_UNREACHABLE',
      );
      await failJob(del3.json().job.id);
      const pending = await h.store.db
        .selectFrom('jobs')
        .select('state')
        .where('idempotency_key', 'like', `pre-delete:${del3.json().job.id}:%`)
        .execute();
      assert.deepEqual(
        pending.map((j) => j.state),
        ['cancelled'],
      );
      assert.equal((await h.call(h.owner.token, 'GET', `/api/v1/sites/${b.siteId}`)).statusCode, 200);

      // 4. ?backup=false: leaves at once, no backup.
      const del4 = await h.call(h.owner.token, 'DELETE', `/api/v1/sites/${b.siteId}?confirm=bk-del-fail&backup=false`);
      assert.equal(del4.json().site.status, 'deleting');
      const r4 = (await runHandler(h, siteDelete, del4.json().job.id, { params: { drainTimeoutMs: 200 } })) as {
        preDeleteBackups: unknown[];
      };
      assert.deepEqual(r4.preDeleteBackups, []);
    });

    test('schedule: one scheduled backup per running environment per day in its window, prune after it', async () => {
      await h.store.db.updateTable('environments').set({ status: 'running' }).where('id', '=', envId).execute();
      const clock = new FakeClock(Date.parse('2026-11-25T00:00:00.000Z'));
      const slot = dueToday(envId, clock.now(), DEFAULT_BACKUP_POLICY);
      assert.ok(slot.at >= Date.parse('2026-11-25T02:00:00.000Z') && slot.at < Date.parse('2026-11-25T05:00:00.000Z'));
      assert.equal((await scheduleTick(h.store, { clock })).backups, 0, 'before the slot');
      clock.set(slot.at);
      assert.equal((await scheduleTick(h.store, { clock })).backups, 1);
      assert.equal((await scheduleTick(h.store, { clock })).backups, 0, 'once a day');
      clock.set(Date.parse('2026-11-25T05:31:00.000Z'));
      const t = await scheduleTick(h.store, { clock });
      assert.equal(t.prunes, 1);
      assert.equal((await scheduleTick(h.store, { clock })).prunes, 0);
      const prune = await h.store.db.selectFrom('jobs').selectAll().where('kind', '=', 'backup.prune').executeTakeFirstOrThrow();
      assert.equal(prune.server_id, app.id);
      assert.deepEqual(JSON.parse(prune.params), { keepDaily: 7, keepWeekly: 0, keepMonthly: 0 });
      clock.set(slot.at + 86_400_000);
      assert.equal((await scheduleTick(h.store, { clock })).backups, 1, 'the next day');
      const sched = await h.store.db
        .selectFrom('jobs')
        .selectAll()
        .where('idempotency_key', 'like', `backup:scheduled:${envId}:%`)
        .execute();
      assert.deepEqual(
        sched.map((j) => JSON.parse(j.params).kind),
        ['scheduled', 'scheduled'],
      );
    });
  });
}

test('schedule math: the window parses, jitter is stable and inside it', () => {
  assert.deepEqual(parseWindow('02:00-05:00'), { windowStartMin: 120, windowEndMin: 300 });
  assert.deepEqual(parseWindow('23:00-01:00'), { windowStartMin: 1380, windowEndMin: 60 });
  for (const bad of ['2-5', '25:00-01:00', '02:00-02:00', '02:61-03:00', ''])
    assert.throws(() => parseWindow(bad), /backup window/);
  const p = { ...DEFAULT_BACKUP_POLICY, ...parseWindow('23:00-01:00') };
  for (const id of ['env_aaaaaaaaaaaaaaaa', 'env_bbbbbbbbbbbbbbbb', 'env_cccccccccccccccc']) {
    const j = jitterMinutes(id, p);
    assert.ok(j >= 0 && j < 120);
    assert.equal(jitterMinutes(id, p), j, 'stable');
    const d = dueToday(id, Date.parse('2026-11-25T12:00:00Z'), p);
    const minutes = (d.at - Date.parse('2026-11-25T00:00:00Z')) / 60_000;
    assert.ok((minutes >= 1380 && minutes < 1440) || (minutes >= 0 && minutes < 60), `${minutes}`);
  }
});
