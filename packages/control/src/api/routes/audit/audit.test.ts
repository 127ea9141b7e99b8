import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSite } from '../../../desired/test-support.ts';
import { createHarness, type Harness } from '../../../testing/harness.ts';

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`${dialect}: audit`, () => {
    let h: Harness;
    before(async () => {
      h = await createHarness({ dialect });
    });
    after(() => h.close());

    test('admins read their organization, newest first, filtered and paged; others are refused', async () => {
      const admin = await h.makeUser('admin');
      const developer = await h.makeUser('developer');
      const viewer = await h.makeUser('viewer');
      const other = await h.makeOrg('other-audit');
      const sites: string[] = [];
      for (const name of ['aud-one', 'aud-two', 'aud-three']) sites.push((await createSite(h, admin.token, { name })).siteId);
      await createSite(h, other.owner.token, { orgId: other.orgId, name: 'theirs' });

      assert.equal((await h.call(null, 'GET', '/api/v1/audit')).statusCode, 401);
      assert.equal((await h.call(developer.token, 'GET', '/api/v1/audit')).statusCode, 403);
      assert.equal((await h.call(viewer.token, 'GET', `/api/v1/audit?orgId=${h.orgId}`)).statusCode, 403);
      assert.equal((await h.call(admin.token, 'GET', `/api/v1/audit?orgId=${other.orgId}`)).statusCode, 404);

      const mine = (await h.call(admin.token, 'GET', '/api/v1/audit?action=site.create')).json();
      assert.deepEqual(
        mine.items.map((e: { targetId: string }) => e.targetId),
        [...sites].reverse(),
        'newest first, only this organization',
      );
      assert.equal(mine.items[0].actorId, admin.userId);
      assert.equal(mine.items[0].actorVia, 'token');

      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const r = await h.call(admin.token, 'GET', `/api/v1/audit?orgId=${h.orgId}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        assert.equal(r.statusCode, 200);
        seen.push(...r.json().items.map((e: { id: string }) => e.id));
        cursor = r.json().nextCursor;
      } while (cursor);
      assert.deepEqual(seen, [...seen].sort().reverse());
      assert.equal(new Set(seen).size, seen.length);

      const one = (await h.call(admin.token, 'GET', `/api/v1/audit?targetType=site&targetId=${sites[1]}`)).json();
      assert.equal(one.items.length, 1);
      const future = (await h.call(admin.token, 'GET', '/api/v1/audit?since=2999-01-01T00:00:00Z')).json();
      assert.equal(future.items.length, 0);
      assert.equal((await h.call(admin.token, 'GET', '/api/v1/audit?since=yesterday')).statusCode, 400);

      // The superuser sees every organization and platform entries.
      const all = (await h.call(h.owner.token, 'GET', '/api/v1/audit?action=site.create')).json();
      assert.ok(all.items.some((e: { orgId: string }) => e.orgId === other.orgId));
    });
  });
}
