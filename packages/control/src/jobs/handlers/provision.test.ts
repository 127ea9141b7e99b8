import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSite, joinServer, runHandler } from '../../desired/test-support.ts';
import { createHarness, type Harness } from '../../testing/harness.ts';
import { environmentDelete } from './environment-delete.ts';
import { environmentProvision } from './environment-provision.ts';
import { siteProvision } from './site-provision.ts';

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`${dialect}: provisioning handlers`, () => {
    let h: Harness;
    let app1: string;
    let app2: string;
    before(async () => {
      h = await createHarness({ dialect });
      app1 = (await joinServer(h, 'prov-1', 'app', '10.5.0.1')).id;
      app2 = (await joinServer(h, 'prov-2', 'app', '10.5.0.2')).id;
    });
    after(() => h.close());

    test('concurrent provisioning spreads environments and never shares a port or Unix user', async () => {
      const made = [];
      for (let i = 0; i < 6; i++) made.push(await createSite(h, h.owner.token, { name: `par-${i}` }));
      await Promise.all(made.map((s) => runHandler(h, siteProvision, s.jobId)));
      const envs = await h.store.db.selectFrom('environments').select(['server_ids', 'runtime']).execute();
      const load = new Map<string, number>();
      const ports = new Set<string>();
      const users = new Set<string>();
      const slots = new Set<number>();
      for (const e of envs) {
        const rt = JSON.parse(e.runtime ?? '{}');
        for (const s of JSON.parse(e.server_ids)) {
          load.set(s, (load.get(s) ?? 0) + 1);
          const key = `${s}:${rt.webPorts[s]}`;
          assert.ok(!ports.has(key), `port reused: ${key}`);
          ports.add(key);
        }
        assert.ok(!users.has(rt.unixUser));
        users.add(rt.unixUser);
        assert.ok(!slots.has(rt.uidSlot));
        slots.add(rt.uidSlot);
      }
      assert.equal(load.get(app1), 3);
      assert.equal(load.get(app2), 3);
      const sites = await h.store.db.selectFrom('sites').select('status').execute();
      assert.ok(sites.every((s) => s.status === 'active'));
    });

    test('pinned environments go where they are told; rerun is a no-op; delete with no agents is immediate', async () => {
      const { siteId } = await createSite(h, h.owner.token, { name: 'pinned' });
      const r = await h.call(h.owner.token, 'POST', `/api/v1/sites/${siteId}/environments`, {
        name: 'staging',
        serverIds: [app2],
      });
      assert.equal(r.statusCode, 202, r.body);
      const out = (await runHandler(h, environmentProvision, r.json().job.id)) as {
        serverIds: string[];
        runtime: { pinned: boolean };
      };
      assert.deepEqual(out.serverIds, [app2]);
      assert.equal(out.runtime.pinned, true);
      const again = (await runHandler(h, environmentProvision, r.json().job.id)) as { serverIds: string[] };
      assert.deepEqual(again.serverIds, [app2]);
      const envId = r.json().environment.id;
      const del = await h.call(h.owner.token, 'DELETE', `/api/v1/environments/${envId}?confirm=staging`);
      assert.equal(del.statusCode, 202);
      const done = (await runHandler(h, environmentDelete, del.json().job.id, { params: { drainTimeoutMs: 2000 } })) as {
        deleted: boolean;
      };
      assert.equal(done.deleted, true);
      assert.equal((await h.call(h.owner.token, 'GET', `/api/v1/environments/${envId}`)).statusCode, 404);
      // A job for an environment that is gone does nothing.
      assert.deepEqual(await runHandler(h, environmentProvision, r.json().job.id), { skipped: 'environment not found' });
    });
  });
}
