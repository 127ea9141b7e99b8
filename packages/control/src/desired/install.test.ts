import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { siteProvision } from '../jobs/handlers/site-provision.ts';
import { createHarness, type Harness } from '../testing/harness.ts';
import { newInstallIntent } from './install.ts';
import { createSite, joinServer, runHandler } from './test-support.ts';

test('newInstallIntent: defaults, request values, URL from the primary domain', () => {
  const a = newInstallIntent({ siteName: 'blog', domains: [] });
  assert.equal(a.title, 'blog');
  assert.equal(a.adminUser, 'admin');
  assert.equal(a.adminEmail, 'admin@example.invalid');
  assert.match(a.adminPassword, /^[A-Za-z0-9_-]{24}$/);
  assert.equal(a.url, undefined);
  assert.notEqual(newInstallIntent({ siteName: 'blog', domains: [] }).adminPassword, a.adminPassword);
  const b = newInstallIntent({ siteName: 'shop', domains: ['shop.example.com'], title: 'Shop', adminUser: 'boss' });
  assert.deepEqual(
    { ...b, adminPassword: '' },
    {
      title: 'Shop',
      adminUser: 'boss',
      adminEmail: 'admin@shop.example.com',
      adminPassword: '',
      url: 'https://shop.example.com',
    },
  );
});

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`${dialect}: WordPress install intent`, () => {
    let h: Harness;
    before(async () => {
      h = await createHarness({ dialect });
    });
    after(() => h.close());

    test('POST /sites returns the admin login once; the agent gets it until it reports installed', async () => {
      const srv = await joinServer(h, 'wp-app', 'app', '10.3.0.1');
      const s = await createSite(h, h.owner.token, { name: 'wpsite', wordpress: { title: 'My Blog', adminUser: 'editor' } });
      const login = s.body.wordpress;
      assert.equal(login.title, 'My Blog');
      assert.equal(login.adminUser, 'editor');
      assert.match(login.adminPassword, /^[A-Za-z0-9_-]{24}$/);
      await runHandler(h, siteProvision, s.jobId);

      // Not in the job, the audit log or the environment's API shape.
      const job = (await h.call(h.owner.token, 'GET', `/api/v1/jobs/${s.jobId}`)).body;
      assert.ok(!job.includes(login.adminPassword));
      const env = (await h.call(h.owner.token, 'GET', `/api/v1/environments/${s.environmentId}`)).body;
      assert.ok(!env.includes(login.adminPassword));
      const audit = await h.store.db.selectFrom('audit_log').select('details').execute();
      assert.ok(!JSON.stringify(audit).includes(login.adminPassword));

      const asgUrl = `/api/v1/agents/${srv.id}/assignment`;
      const asg = (await h.call(srv.credential, 'GET', asgUrl)).json();
      const assigned = asg.environments.find((e: { id: string }) => e.id === s.environmentId);
      assert.deepEqual(assigned.install, {
        title: 'My Blog',
        adminUser: 'editor',
        adminEmail: 'admin@example.invalid',
        adminPassword: login.adminPassword,
      });

      // Running but not installed yet: the intent stays.
      const statusUrl = `/api/v1/agents/${srv.id}/status`;
      let r = await h.call(srv.credential, 'POST', statusUrl, { environments: [{ id: s.environmentId, status: 'running' }] });
      assert.equal(r.statusCode, 200, r.body);
      assert.ok((await h.call(srv.credential, 'GET', asgUrl)).json().environments[0].install);

      const revisionOf = async () =>
        Number((await h.store.db.selectFrom('state_revision').select('revision').executeTakeFirstOrThrow()).revision);
      const r0 = await revisionOf();
      r = await h.call(srv.credential, 'POST', statusUrl, {
        environments: [{ id: s.environmentId, status: 'running', installed: true }],
      });
      assert.equal(r.statusCode, 200, r.body);
      assert.ok((await revisionOf()) > r0, 'the assignment changed: watchers are woken');
      // Reporting installed again is telemetry only.
      const r1 = await revisionOf();
      await h.call(srv.credential, 'POST', statusUrl, {
        environments: [{ id: s.environmentId, status: 'running', installed: true }],
      });
      assert.equal(await revisionOf(), r1);
      const after1 = (await h.call(srv.credential, 'GET', asgUrl)).json();
      assert.equal(after1.environments[0].install, undefined, 'dropped once installed');
      const row = await h.store.db
        .selectFrom('environments')
        .select('install_intent')
        .where('id', '=', s.environmentId)
        .executeTakeFirstOrThrow();
      assert.equal(row.install_intent, null);
      // Sticky: a later report without the flag keeps it.
      await h.call(srv.credential, 'POST', statusUrl, { environments: [{ id: s.environmentId, status: 'running' }] });
      const e = (await h.call(h.owner.token, 'GET', `/api/v1/environments/${s.environmentId}`)).json();
      assert.equal(e.observed[0].installed, true);
    });

    test('no install intent for php sites; wordpress settings refused there', async () => {
      const s = await createSite(h, h.owner.token, { name: 'plainphp', kind: 'php' });
      assert.equal(s.body.wordpress, undefined);
      const bad = await h.call(h.owner.token, 'POST', '/api/v1/sites', {
        orgId: h.orgId,
        name: 'plainphp2',
        kind: 'php',
        plan: 'essentials',
        wordpress: { title: 'x' },
      });
      assert.equal(bad.statusCode, 400);
    });
  });
}
