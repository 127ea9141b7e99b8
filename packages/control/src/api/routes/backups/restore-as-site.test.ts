import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { FormatRegistry } from '@sinclair/typebox';
import { createSite, joinServer, runHandler } from '../../../desired/test-support.ts';
import { siteDelete } from '../../../jobs/handlers/site-delete.ts';
import { siteProvision } from '../../../jobs/handlers/site-provision.ts';
import { createHarness, type Harness } from '../../../testing/harness.ts';

if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => !Number.isNaN(Date.parse(v)));

const HEX = (c: string) => c.repeat(64);

/**
 * `POST /backups/{id}/restore-as-site`: a deleted site comes back from its pre-delete backup as a
 * new site (and a live site's backup becomes a clone of it). The agent side is e2e/backups.test.ts.
 */
for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`${dialect}: restore a backup as a new site`, () => {
    let h: Harness;
    let app: { id: string; credential: string };
    before(async () => {
      h = await createHarness({ dialect });
      app = await joinServer(h, 'ras-app', 'app', '10.4.0.1');
    });
    after(() => h.close());

    const restore = (token: string, id: string, body: unknown) =>
      h.call(token, 'POST', `/api/v1/backups/${id}/restore-as-site`, body);
    const codeOf = (r: { json(): { error: { code: string } } }) => r.json().error.code;

    /** A running site on the app server, with one domain. */
    async function runningSite(name: string) {
      const s = await createSite(h, h.owner.token, { name, domains: [`${name}.example.com`] });
      await runHandler(h, siteProvision, s.jobId);
      await h.store.db.updateTable('environments').set({ status: 'running' }).where('id', '=', s.environmentId).execute();
      return s;
    }

    /** The agent's side of a backup job: claim it, record what restic made, complete it. */
    async function agentTakesBackup(files: string) {
      const c = await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/claim`, {
        owner: 'run-ras',
        kinds: ['backup.create'],
        wait: 5,
      });
      const job = c.json().job as { id: string; params: { backupId: string; kind: string; environmentId: string } };
      assert.ok(job, c.body);
      const rec = await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/${job.id}/backups`, {
        owner: 'run-ras',
        backupId: job.params.backupId,
        environmentId: job.params.environmentId,
        kind: job.params.kind,
        dbSnapshotId: HEX('e'),
        filesSnapshotId: HEX(files),
        snapshotTime: '2026-11-25T05:00:00.000Z',
        dbBytes: 10,
        filesBytes: 20,
        addedBytes: 30,
      });
      assert.equal(rec.statusCode, 200, rec.body);
      await h.call(app.credential, 'POST', `/api/v1/agents/${app.id}/jobs/${job.id}/complete`, { owner: 'run-ras', result: {} });
      return job.params.backupId;
    }

    /** A variant of a backup row (another id and snapshot), for the refusals. */
    async function variant(id: string, files: string, change: Record<string, unknown>): Promise<string> {
      const row = await h.store.db.selectFrom('backups').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      const copy = { ...row, id: `bak_ras${files.repeat(13)}`, files_snapshot_id: HEX(files), ...change };
      await h.store.db.insertInto('backups').values(copy).execute();
      return copy.id;
    }

    test("a deleted site's pre-delete backup becomes a new site: production on the backup's server, clone from the backup, old URL recorded", async () => {
      const old = await runningSite('ras-old');
      const del = await h.call(h.owner.token, 'DELETE', `/api/v1/sites/${old.siteId}?confirm=ras-old`);
      assert.equal(del.statusCode, 202, del.body);
      const deleting = runHandler(h, siteDelete, del.json().job.id, { params: { drainTimeoutMs: 200 } });
      const backupId = await agentTakesBackup('1');
      await deleting;
      assert.equal((await h.call(h.owner.token, 'GET', `/api/v1/sites/${old.siteId}`)).statusCode, 404);
      const row = await h.store.db.selectFrom('backups').selectAll().where('id', '=', backupId).executeTakeFirstOrThrow();
      assert.equal(row.kind, 'pre-delete');
      const spec = JSON.parse(row.source_spec ?? 'null');
      assert.deepEqual([spec.kind, spec.plan, spec.url], ['wordpress', 'essentials', 'https://ras-old.example.com']);
      assert.equal(spec.php.version, '8.2');

      const r = await restore(h.owner.token, backupId, { name: 'ras-back', domains: ['back.example.com'] });
      assert.equal(r.statusCode, 202, r.body);
      const b = r.json();
      assert.deepEqual(
        [b.site.name, b.site.kind, b.site.plan, b.site.status],
        ['ras-back', 'wordpress', 'essentials', 'provisioning'],
      );
      assert.equal(b.environment.name, 'production');
      assert.deepEqual(b.environment.serverIds, [app.id], "pinned to the backup's server");
      assert.deepEqual(
        b.domains.map((d: { hostname: string; primary: boolean }) => [d.hostname, d.primary]),
        [['back.example.com', true]],
      );
      assert.equal(b.job.kind, 'site.provision');
      assert.equal(b.syncJob.kind, 'env.sync');
      assert.equal(b.syncJob.serverId, app.id);
      const p = b.syncJob.params;
      assert.equal(p.mode, 'clone');
      assert.equal(p.sourceEnvironmentId, old.environmentId);
      assert.equal(p.targetEnvironmentId, b.environment.id);
      assert.deepEqual(p.fromBackup, { backupId, dbSnapshotId: HEX('e'), filesSnapshotId: HEX('1') });
      assert.equal(p.sourceSpecFromBackup, true, 'the agent may read the gone source from the backup');
      assert.equal(p.sourceUrl, 'https://ras-old.example.com', 'the old URL, as recorded with the backup');
      assert.equal(p.targetUrl, 'https://back.example.com');
      assert.equal(p.database, 'all');
      assert.equal(p.noindex, false);
      assert.equal(p.sourceBackupId, undefined, 'no fresh backup of a source that is gone');
      // The new site is a site like any other: it provisions onto the backup's server.
      await runHandler(h, siteProvision, b.job.id);
      const asg = (await h.call(app.credential, 'GET', `/api/v1/agents/${app.id}/assignment`)).json();
      assert.ok(asg.environments.some((e: { id: string }) => e.id === b.environment.id));
      const events = (await h.call(h.owner.token, 'GET', '/api/v1/audit?action=backup.restore-as-site')).json().items;
      assert.equal(events.length, 1);
      assert.equal(events[0].targetId, b.site.id);
      assert.deepEqual(
        [events[0].details.backupId, events[0].details.fromDeletedSite, events[0].details.syncJobId],
        [backupId, true, b.syncJob.id],
      );

      // Refusals, each with its stable code.
      const taken = await restore(h.owner.token, backupId, { name: 'ras-back' });
      assert.deepEqual([taken.statusCode, codeOf(taken)], [409, 'TRIPLANE_ERR_ALREADY_EXISTS']);
      const domainTaken = await restore(h.owner.token, backupId, { name: 'ras-back-2', domains: ['back.example.com'] });
      assert.deepEqual([domainTaken.statusCode, codeOf(domainTaken)], [409, 'TRIPLANE_ERR_ALREADY_EXISTS']);
      const missing = await restore(h.owner.token, 'bak_zzzzzzzzzzzzzzzz', { name: 'ras-none' });
      assert.deepEqual([missing.statusCode, codeOf(missing)], [404, 'TRIPLANE_ERR_NOT_FOUND']);
      const bad = await restore(h.owner.token, backupId, { name: 'Not A Slug' });
      assert.equal(bad.statusCode, 400);
      const pruned = await variant(backupId, '2', { state: 'pruned' });
      const rp = await restore(h.owner.token, pruned, { name: 'ras-pruned' });
      assert.deepEqual([rp.statusCode, codeOf(rp)], [409, 'TRIPLANE_ERR_BACKUP_PRUNED']);
      const staging = await variant(backupId, '3', { environment_name: 'staging' });
      const rs = await restore(h.owner.token, staging, { name: 'ras-staging' });
      assert.deepEqual([rs.statusCode, codeOf(rs)], [422, 'TRIPLANE_ERR_BACKUP_WRONG_ENVIRONMENT']);
      const serverGone = await variant(backupId, '4', { server_id: 'srv_zzzzzzzzzzzzzzzz' });
      const rg = await restore(h.owner.token, serverGone, { name: 'ras-gone' });
      assert.deepEqual([rg.statusCode, codeOf(rg)], [409, 'TRIPLANE_ERR_BACKUP_UNREACHABLE']);
      const unrecorded = await variant(backupId, '5', { source_spec: null });
      const ru = await restore(h.owner.token, unrecorded, { name: 'ras-old-format' });
      assert.deepEqual([ru.statusCode, codeOf(ru)], [422, 'TRIPLANE_ERR_UNPROCESSABLE']);
      await h.store.db
        .updateTable('servers')
        .set({ last_heartbeat_at: '2000-01-01T00:00:00.000Z' })
        .where('id', '=', app.id)
        .execute();
      const ro = await restore(h.owner.token, backupId, { name: 'ras-offline' });
      assert.deepEqual([ro.statusCode, codeOf(ro)], [409, 'TRIPLANE_ERR_BACKUP_UNREACHABLE']);
      await h.store.db
        .updateTable('servers')
        .set({ last_heartbeat_at: new Date().toISOString() })
        .where('id', '=', app.id)
        .execute();
      // Org-wide roles: a developer sees the backup but can't make a site; other orgs don't see it.
      const dev = await h.makeUser('developer');
      assert.equal((await h.call(dev.token, 'GET', `/api/v1/backups/${backupId}`)).statusCode, 200);
      assert.equal((await restore(dev.token, backupId, { name: 'ras-dev' })).statusCode, 403);
      const viewer = await h.makeUser('viewer');
      assert.equal((await restore(viewer.token, backupId, { name: 'ras-viewer' })).statusCode, 403);
      const o2 = await h.makeOrg(`ras-org-${dialect}`);
      const foreign = await restore(o2.owner.token, backupId, { name: 'ras-foreign' });
      assert.deepEqual([foreign.statusCode, codeOf(foreign)], [404, 'TRIPLANE_ERR_NOT_FOUND']);
      assert.equal(
        (await h.store.db.selectFrom('sites').select('id').where('name', 'like', 'ras-%').execute()).length,
        1,
        'no refused call left a site behind',
      );
    });

    test("a live site's backup: a clone from that backup (the live source is left to the agent's usual checks)", async () => {
      const live = await runningSite('ras-live');
      const r0 = await h.call(h.owner.token, 'POST', `/api/v1/environments/${live.environmentId}/backups`, {});
      assert.equal(r0.statusCode, 202, r0.body);
      const backupId = await agentTakesBackup('6');
      // recorded before migration 010 (no source spec): the live rows stand in while the site exists
      await h.store.db.updateTable('backups').set({ source_spec: null }).where('id', '=', backupId).execute();
      const r = await restore(h.owner.token, backupId, { name: 'ras-live-copy' });
      assert.equal(r.statusCode, 202, r.body);
      const p = r.json().syncJob.params;
      assert.equal(p.sourceEnvironmentId, live.environmentId);
      assert.equal(p.sourceUrl, 'https://ras-live.example.com');
      assert.equal(p.targetUrl, null, 'no domain: the agent uses the web port');
      assert.equal(p.fromBackup.backupId, backupId);
      assert.equal(r.json().site.kind, 'wordpress');
      assert.deepEqual(r.json().domains, []);
      const events = (await h.call(h.owner.token, 'GET', '/api/v1/audit?action=backup.restore-as-site')).json().items;
      assert.ok(
        events.some(
          (e: { details: { backupId: string; fromDeletedSite: boolean } }) =>
            e.details.backupId === backupId && !e.details.fromDeletedSite,
        ),
      );
    });
  });
}
