import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSite } from '../../../desired/test-support.ts';
import { createHarness, type Harness } from '../../../testing/harness.ts';

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`${dialect}: environments`, () => {
    let h: Harness;
    let siteId: string;
    let prodId: string;
    before(async () => {
      h = await createHarness({ dialect });
      const s = await createSite(h, h.owner.token, { name: 'envs' });
      siteId = s.siteId;
      prodId = s.environmentId;
    });
    after(() => h.close());

    test('create needs developer; viewers read; other orgs and anonymous are refused', async () => {
      const viewer = await h.makeUser('viewer');
      const developer = await h.makeUser('developer');
      const siteDev = await h.makeUser('developer', { siteId });
      const other = await h.makeOrg('other-envs');
      const url = `/api/v1/sites/${siteId}/environments`;
      assert.equal((await h.call(null, 'POST', url, { name: 'staging' })).statusCode, 401);
      assert.equal((await h.call(viewer.token, 'POST', url, { name: 'staging' })).statusCode, 403);
      assert.equal((await h.call(other.owner.token, 'POST', url, { name: 'staging' })).statusCode, 404);
      const r = await h.call(developer.token, 'POST', url, { name: 'staging', php: { workers: 8 } });
      assert.equal(r.statusCode, 202, r.body);
      assert.equal(r.json().job.kind, 'environment.provision');
      assert.equal(r.json().environment.php.workers, 8);
      assert.equal((await h.call(siteDev.token, 'POST', url, { name: 'qa' })).statusCode, 202);
      assert.equal((await h.call(developer.token, 'POST', url, { name: 'staging' })).statusCode, 409);
      const list = await h.call(viewer.token, 'GET', url);
      assert.equal(list.statusCode, 200);
      assert.deepEqual(
        list.json().items.map((e: { name: string }) => e.name),
        ['production', 'staging', 'qa'],
      );
      assert.equal((await h.call(other.owner.token, 'GET', url)).statusCode, 404);
      assert.equal((await h.call(viewer.token, 'GET', `/api/v1/environments/${prodId}`)).statusCode, 200);
      assert.equal((await h.call(other.owner.token, 'GET', `/api/v1/environments/${prodId}`)).statusCode, 404);
      assert.equal((await h.call(viewer.token, 'GET', '/api/v1/environments/env_0000000000000000')).statusCode, 404);
    });

    test('essentials: one replica and no external database (422); unknown servers (422)', async () => {
      const url = `/api/v1/sites/${siteId}/environments`;
      assert.equal((await h.call(h.owner.token, 'POST', url, { name: 'two', replicas: 2 })).statusCode, 422);
      const db = { host: 'db.example.com', port: 3306, name: 'x', user: 'x' };
      assert.equal((await h.call(h.owner.token, 'POST', url, { name: 'xdb', externalDatabase: db })).statusCode, 422);
      assert.equal(
        (await h.call(h.owner.token, 'POST', url, { name: 'pin', serverIds: ['srv_0000000000000000'] })).statusCode,
        422,
      );
      assert.equal((await h.call(h.owner.token, 'PATCH', `/api/v1/environments/${prodId}`, { replicas: 3 })).statusCode, 422);
    });

    test('PATCH (developer) merges settings and bumps generation and revision', async () => {
      const viewer = await h.makeUser('viewer');
      const developer = await h.makeUser('developer');
      const rev = async () =>
        Number((await h.store.db.selectFrom('state_revision').select('revision').executeTakeFirstOrThrow()).revision);
      assert.equal(
        (await h.call(viewer.token, 'PATCH', `/api/v1/environments/${prodId}`, { php: { workers: 2 } })).statusCode,
        403,
      );
      const r0 = await rev();
      const r = await h.call(developer.token, 'PATCH', `/api/v1/environments/${prodId}`, {
        php: { workers: 2 },
        resources: { memoryMb: 2048 },
      });
      assert.equal(r.statusCode, 200, r.body);
      const e = r.json();
      assert.equal(e.php.workers, 2);
      assert.equal(e.php.memoryLimitMb, 256, 'unchanged fields stay');
      assert.equal(e.resources.memoryMb, 2048);
      assert.equal(e.generation, 2);
      assert.ok((await rev()) > r0);
      assert.equal((await h.call(developer.token, 'PATCH', `/api/v1/environments/${prodId}`, {})).statusCode, 400);
      assert.equal(
        (await h.call(developer.token, 'PATCH', `/api/v1/environments/${prodId}`, { php: { bogus: 1 } })).statusCode,
        400,
      );
    });

    test('actions (developer) answer 202 with an environment.action job', async () => {
      const viewer = await h.makeUser('viewer');
      assert.equal((await h.call(viewer.token, 'POST', `/api/v1/environments/${prodId}/actions/restart`)).statusCode, 403);
      for (const action of ['restart', 'stop', 'start']) {
        const r = await h.call(h.owner.token, 'POST', `/api/v1/environments/${prodId}/actions/${action}`);
        assert.equal(r.statusCode, 202, r.body);
        assert.equal(r.json().job.kind, 'environment.action');
        assert.equal(r.json().job.params.action, action);
      }
      assert.equal((await h.call(h.owner.token, 'POST', `/api/v1/environments/${prodId}/actions/explode`)).statusCode, 400);
    });

    test('DELETE: admin, ?confirm=<name>, production only with its site (409)', async () => {
      const developer = await h.makeUser('developer');
      const created = await h.call(h.owner.token, 'POST', `/api/v1/sites/${siteId}/environments`, { name: 'doomed' });
      const id = created.json().environment.id;
      assert.equal((await h.call(developer.token, 'DELETE', `/api/v1/environments/${id}?confirm=doomed`)).statusCode, 403);
      assert.equal((await h.call(h.owner.token, 'DELETE', `/api/v1/environments/${id}`)).statusCode, 422);
      const prod = await h.call(h.owner.token, 'DELETE', `/api/v1/environments/${prodId}?confirm=production`);
      assert.equal(prod.statusCode, 409);
      const r = await h.call(h.owner.token, 'DELETE', `/api/v1/environments/${id}?confirm=doomed`);
      assert.equal(r.statusCode, 202, r.body);
      assert.equal(r.json().environment.status, 'deleting');
      assert.equal(r.json().job.kind, 'environment.delete');
      assert.equal((await h.call(h.owner.token, 'PATCH', `/api/v1/environments/${id}`, { replicas: 1 })).statusCode, 409);
    });
  });
}
