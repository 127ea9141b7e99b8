import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSite } from '../../../desired/test-support.ts';
import { createHarness, type Harness } from '../../../testing/harness.ts';

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`${dialect}: domains`, () => {
    let h: Harness;
    let envId: string;
    let siteId: string;
    before(async () => {
      h = await createHarness({ dialect });
      const s = await createSite(h, h.owner.token, { name: 'doms' });
      envId = s.environmentId;
      siteId = s.siteId;
    });
    after(() => h.close());

    test('add (developer): lower-cased, first is primary, unique across the platform (409)', async () => {
      const viewer = await h.makeUser('viewer');
      const siteDev = await h.makeUser('developer', { siteId });
      const other = await h.makeOrg('other-doms');
      const url = `/api/v1/environments/${envId}/domains`;
      assert.equal((await h.call(null, 'POST', url, { hostname: 'a.example.com' })).statusCode, 401);
      assert.equal((await h.call(viewer.token, 'POST', url, { hostname: 'a.example.com' })).statusCode, 403);
      assert.equal((await h.call(other.owner.token, 'POST', url, { hostname: 'a.example.com' })).statusCode, 404);
      const a = await h.call(siteDev.token, 'POST', url, { hostname: 'A.Example.COM' });
      assert.equal(a.statusCode, 201, a.body);
      assert.equal(a.json().hostname, 'a.example.com');
      assert.equal(a.json().primary, true);
      const b = await h.call(siteDev.token, 'POST', url, { hostname: 'b.example.com' });
      assert.equal(b.json().primary, false);
      const dup = await h.call(h.owner.token, 'POST', url, { hostname: 'a.EXAMPLE.com' });
      assert.equal(dup.statusCode, 409);
      assert.equal(dup.json().error.code, 'TRIPLANE_ERR_ALREADY_EXISTS');
      // Unique across organizations too.
      const { environmentId: otherEnv } = await createSite(h, other.owner.token, { orgId: other.orgId, name: 'theirs' });
      assert.equal(
        (await h.call(other.owner.token, 'POST', `/api/v1/environments/${otherEnv}/domains`, { hostname: 'b.example.com' }))
          .statusCode,
        409,
      );
      for (const hostname of ['nodot', '-bad.example.com', 'a..b.com', 'x'.repeat(64) + '.com', 'sp ace.com']) {
        assert.equal((await h.call(h.owner.token, 'POST', url, { hostname })).statusCode, 400, hostname);
      }
      const list = await h.call(viewer.token, 'GET', url);
      assert.deepEqual(
        list.json().items.map((d: { hostname: string; primary: boolean }) => [d.hostname, d.primary]),
        [
          ['a.example.com', true],
          ['b.example.com', false],
        ],
      );
    });

    test('switching the primary is atomic; deleting the primary promotes the next one', async () => {
      const url = `/api/v1/environments/${envId}/domains`;
      const items = (await h.call(h.owner.token, 'GET', url)).json().items as { id: string; hostname: string }[];
      const b = items.find((d) => d.hostname === 'b.example.com')!;
      const a = items.find((d) => d.hostname === 'a.example.com')!;
      const viewer = await h.makeUser('viewer');
      assert.equal((await h.call(viewer.token, 'PATCH', `/api/v1/domains/${b.id}`, { primary: true })).statusCode, 403);
      const r = await h.call(h.owner.token, 'PATCH', `/api/v1/domains/${b.id}`, { primary: true });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.json().primary, true);
      const prim = await h.store.db
        .selectFrom('domains')
        .select('hostname')
        .where('environment_id', '=', envId)
        .where('is_primary', '=', 1)
        .execute();
      assert.deepEqual(
        prim.map((d) => d.hostname),
        ['b.example.com'],
      );
      assert.equal((await h.call(h.owner.token, 'PATCH', `/api/v1/domains/${b.id}`, { primary: false })).statusCode, 400);
      assert.equal((await h.call(viewer.token, 'DELETE', `/api/v1/domains/${b.id}`)).statusCode, 403);
      assert.equal((await h.call(h.owner.token, 'DELETE', `/api/v1/domains/${b.id}`)).statusCode, 204);
      assert.equal((await h.call(h.owner.token, 'GET', `/api/v1/domains/${a.id}`)).json().primary, true);
      assert.equal((await h.call(h.owner.token, 'GET', `/api/v1/domains/${b.id}`)).statusCode, 404);
      const audit = await h.store.db
        .selectFrom('audit_log')
        .select('action')
        .where('target_id', '=', b.id)
        .orderBy('id')
        .execute();
      assert.deepEqual(
        audit.map((x) => x.action),
        ['domain.create', 'domain.update', 'domain.delete'],
      );
    });
  });
}
