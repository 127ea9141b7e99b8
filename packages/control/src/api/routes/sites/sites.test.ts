import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSite } from '../../../desired/test-support.ts';
import { createHarness, type Harness } from '../../../testing/harness.ts';

async function counts(h: Harness) {
  const n = async (t: 'sites' | 'environments' | 'domains' | 'jobs' | 'audit_log') =>
    Number(
      (
        await h.store.db
          .selectFrom(t)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  return {
    sites: await n('sites'),
    envs: await n('environments'),
    domains: await n('domains'),
    jobs: await n('jobs'),
    audit: await n('audit_log'),
  };
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`${dialect}: sites`, () => {
    let h: Harness;
    before(async () => {
      h = await createHarness({ dialect });
    });
    after(() => h.close());

    test('creating needs admin on the organization; the answer is 202 with site, production and job', async () => {
      const viewer = await h.makeUser('viewer');
      const developer = await h.makeUser('developer');
      const admin = await h.makeUser('admin');
      const other = await h.makeOrg('other-create');
      const body = { orgId: h.orgId, name: 'rbac-site', kind: 'wordpress', plan: 'essentials' };
      assert.equal((await h.call(null, 'POST', '/api/v1/sites', body)).statusCode, 401);
      assert.equal((await h.call(viewer.token, 'POST', '/api/v1/sites', body)).statusCode, 403);
      assert.equal((await h.call(developer.token, 'POST', '/api/v1/sites', body)).statusCode, 403);
      const notMine = await h.call(other.owner.token, 'POST', '/api/v1/sites', body);
      assert.equal(notMine.statusCode, 404);
      assert.equal(notMine.json().error.code, 'TRIPLANE_ERR_NOT_FOUND');
      const r = await h.call(admin.token, 'POST', '/api/v1/sites', body);
      assert.equal(r.statusCode, 202, r.body);
      const b = r.json();
      assert.equal(b.site.status, 'provisioning');
      assert.equal(b.environment.name, 'production');
      assert.equal(b.environment.status, 'pending');
      assert.equal(b.job.kind, 'site.provision');
      assert.equal(b.job.lane, 'interactive');
      const audit = await h.store.db.selectFrom('audit_log').selectAll().where('target_id', '=', b.site.id).execute();
      assert.deepEqual(
        audit.map((a) => [a.action, a.actor_id]),
        [['site.create', admin.userId]],
      );
    });

    test('reading: every role of the org and site-scoped members see the site; other orgs get 404', async () => {
      const { siteId } = await createSite(h, h.owner.token, { name: 'read-site', domains: ['read.example.com'] });
      const { siteId: hidden } = await createSite(h, h.owner.token, { name: 'hidden-site' });
      const siteViewer = await h.makeUser('viewer', { siteId });
      const other = await h.makeOrg('other-read');
      for (const role of ['owner', 'admin', 'developer', 'viewer'] as const) {
        const u = await h.makeUser(role);
        const r = await h.call(u.token, 'GET', `/api/v1/sites/${siteId}`);
        assert.equal(r.statusCode, 200, role);
        assert.equal(r.json().environments.length, 1);
        assert.equal(r.json().domains[0].hostname, 'read.example.com');
      }
      assert.equal((await h.call(siteViewer.token, 'GET', `/api/v1/sites/${siteId}`)).statusCode, 200);
      assert.equal((await h.call(siteViewer.token, 'GET', `/api/v1/sites/${hidden}`)).statusCode, 404);
      assert.equal((await h.call(other.owner.token, 'GET', `/api/v1/sites/${siteId}`)).statusCode, 404);
      assert.equal((await h.call(null, 'GET', `/api/v1/sites/${siteId}`)).statusCode, 401);
      assert.equal((await h.call(h.owner.token, 'GET', '/api/v1/sites/site_0000000000000000')).statusCode, 404);
      // Lists follow the same visibility.
      const mine = (await h.call(siteViewer.token, 'GET', '/api/v1/sites')).json();
      assert.deepEqual(
        mine.items.map((s: { id: string }) => s.id),
        [siteId],
      );
      assert.equal((await h.call(other.owner.token, 'GET', '/api/v1/sites')).json().items.length, 0);
      const all = (await h.call(h.owner.token, 'GET', `/api/v1/sites?orgId=${h.orgId}`)).json();
      assert.ok(all.items.some((s: { id: string }) => s.id === hidden));
    });

    test('list pages with a stable cursor', async () => {
      const org = await h.makeOrg('paging');
      const made: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await h.call(org.owner.token, 'POST', '/api/v1/sites', {
          orgId: org.orgId,
          name: `page-${i}`,
          kind: 'php',
          plan: 'essentials',
        });
        made.push(r.json().site.id);
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const url: string = `/api/v1/sites?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
        const r = await h.call(org.owner.token, 'GET', url);
        assert.equal(r.statusCode, 200);
        assert.ok(r.json().items.length <= 2);
        seen.push(...r.json().items.map((s: { id: string }) => s.id));
        cursor = r.json().nextCursor;
      } while (cursor);
      assert.equal(new Set(seen).size, seen.length, 'no site twice');
      assert.deepEqual([...seen].sort(), [...made].sort());
      assert.equal((await h.call(org.owner.token, 'GET', '/api/v1/sites?cursor=garbage')).statusCode, 400);
    });

    test('duplicate names and hostnames are 409 and leave nothing half-written', async () => {
      await createSite(h, h.owner.token, { name: 'dup-site', domains: ['dup.example.com'] });
      const before = await counts(h);
      const sameName = await h.call(h.owner.token, 'POST', '/api/v1/sites', {
        orgId: h.orgId,
        name: 'dup-site',
        kind: 'php',
        plan: 'essentials',
      });
      assert.equal(sameName.statusCode, 409);
      assert.equal(sameName.json().error.code, 'TRIPLANE_ERR_ALREADY_EXISTS');
      for (const domains of [
        ['fresh.example.com', 'DUP.example.com'],
        ['twice.example.com', 'twice.example.com'],
      ]) {
        const r = await h.call(h.owner.token, 'POST', '/api/v1/sites', {
          orgId: h.orgId,
          name: 'dup-other',
          kind: 'php',
          plan: 'essentials',
          domains,
        });
        assert.equal(r.statusCode, 409, JSON.stringify(domains));
      }
      assert.deepEqual(await counts(h), before);
      // The same name in another organization is fine.
      const other = await h.makeOrg('other-dup');
      const ok = await h.call(other.owner.token, 'POST', '/api/v1/sites', {
        orgId: other.orgId,
        name: 'dup-site',
        kind: 'php',
        plan: 'essentials',
      });
      assert.equal(ok.statusCode, 202);
    });

    test('plan rules: pro needs an external database, essentials refuses one (422); bad input 400', async () => {
      const db = { host: 'db.example.com', port: 3306, name: 'shop', user: 'shop' };
      const base = { orgId: h.orgId, kind: 'woocommerce' };
      const pro = await h.call(h.owner.token, 'POST', '/api/v1/sites', { ...base, name: 'pro-no-db', plan: 'pro' });
      assert.equal(pro.statusCode, 422);
      assert.equal(pro.json().error.code, 'TRIPLANE_ERR_UNPROCESSABLE');
      const ess = await h.call(h.owner.token, 'POST', '/api/v1/sites', {
        ...base,
        name: 'ess-db',
        plan: 'essentials',
        externalDatabase: db,
      });
      assert.equal(ess.statusCode, 422);
      const ok = await h.call(h.owner.token, 'POST', '/api/v1/sites', {
        ...base,
        name: 'pro-db',
        plan: 'pro',
        externalDatabase: db,
        php: { memoryLimitMb: 512 },
      });
      assert.equal(ok.statusCode, 202, ok.body);
      assert.deepEqual(ok.json().environment.externalDatabase, db);
      assert.equal(ok.json().environment.php.memoryLimitMb, 512);
      for (const bad of [
        { ...base, name: 'Bad Name', plan: 'essentials' },
        { ...base, name: 'x1', plan: 'gold' },
        { ...base, name: 'x2', plan: 'essentials', domains: ['not a host'] },
        { ...base, name: 'x3', plan: 'essentials', extra: 1 },
        { ...base, name: 'x4', plan: 'essentials', php: { workers: 0 } },
      ]) {
        const r = await h.call(h.owner.token, 'POST', '/api/v1/sites', bad);
        assert.equal(r.statusCode, 400, JSON.stringify(bad));
        assert.equal(r.json().error.code, 'TRIPLANE_ERR_VALIDATION');
      }
    });

    test('Magento is refused with 422 until its stack (OpenSearch) exists, and nothing is written', async () => {
      const r = await h.call(h.owner.token, 'POST', '/api/v1/sites', {
        orgId: h.orgId,
        name: 'mage',
        kind: 'magento',
        plan: 'essentials',
      });
      assert.equal(r.statusCode, 422);
      assert.equal(r.json().error.code, 'TRIPLANE_ERR_UNPROCESSABLE');
      assert.match(r.json().error.message, /OpenSearch/);
      const rows = await h.store.db.selectFrom('sites').select('id').where('name', '=', 'mage').execute();
      assert.equal(rows.length, 0);
    });

    test('Idempotency-Key: a retried create answers with the same site and job', async () => {
      const body = { orgId: h.orgId, name: 'idem-site', kind: 'php', plan: 'essentials' };
      const headers = { 'idempotency-key': 'create-idem-1' };
      const a = await h.call(h.owner.token, 'POST', '/api/v1/sites', body, headers);
      const b = await h.call(h.owner.token, 'POST', '/api/v1/sites', body, headers);
      assert.equal(a.statusCode, 202);
      assert.equal(b.statusCode, 202);
      assert.equal(a.json().site.id, b.json().site.id);
      assert.equal(a.json().job.id, b.json().job.id);
      const n = await h.store.db.selectFrom('sites').select('id').where('name', '=', 'idem-site').execute();
      assert.equal(n.length, 1);
    });

    test('PATCH renames (admin); DELETE needs admin and ?confirm=<name>, answers 202 with the job', async () => {
      const { siteId } = await createSite(h, h.owner.token, { name: 'to-rename' });
      const developer = await h.makeUser('developer');
      const siteAdmin = await h.makeUser('admin', { siteId });
      assert.equal((await h.call(developer.token, 'PATCH', `/api/v1/sites/${siteId}`, { name: 'renamed' })).statusCode, 403);
      const r = await h.call(siteAdmin.token, 'PATCH', `/api/v1/sites/${siteId}`, { name: 'renamed' });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.json().name, 'renamed');
      await createSite(h, h.owner.token, { name: 'taken-name' });
      assert.equal((await h.call(h.owner.token, 'PATCH', `/api/v1/sites/${siteId}`, { name: 'taken-name' })).statusCode, 409);

      assert.equal((await h.call(developer.token, 'DELETE', `/api/v1/sites/${siteId}?confirm=renamed`)).statusCode, 403);
      const noConfirm = await h.call(siteAdmin.token, 'DELETE', `/api/v1/sites/${siteId}`);
      assert.equal(noConfirm.statusCode, 422);
      assert.equal((await h.call(siteAdmin.token, 'DELETE', `/api/v1/sites/${siteId}?confirm=wrong`)).statusCode, 422);
      const del = await h.call(siteAdmin.token, 'DELETE', `/api/v1/sites/${siteId}?confirm=renamed`);
      assert.equal(del.statusCode, 202, del.body);
      assert.equal(del.json().site.status, 'deleting');
      assert.equal(del.json().job.kind, 'site.delete');
      const again = await h.call(siteAdmin.token, 'DELETE', `/api/v1/sites/${siteId}?confirm=renamed`);
      assert.equal(again.json().job.id, del.json().job.id, 'a repeated delete returns the running job');
      const envs = await h.store.db.selectFrom('environments').select('status').where('site_id', '=', siteId).execute();
      assert.deepEqual(
        envs.map((e) => e.status),
        ['deleting'],
      );
    });
  });
}
