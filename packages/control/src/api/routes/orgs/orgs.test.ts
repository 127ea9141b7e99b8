import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Cast, checkedCall, DIALECTS, makeCast, makeSite } from '../../../identity/test-support.ts';
import { createHarness, type Harness } from '../../../testing/harness.ts';

for (const dialect of DIALECTS) {
  describe(`organization routes (${dialect})`, () => {
    let h: Harness;
    let call: Harness['call'];
    let c: Cast;

    before(async () => {
      h = await createHarness({ dialect });
      call = checkedCall(h);
      c = await makeCast(h);
    });
    after(() => h.close());

    test('GET /orgs lists what the caller can see', async () => {
      const ids = async (token: string) => {
        const r = await call(token, 'GET', '/api/v1/orgs');
        assert.equal(r.statusCode, 200);
        return (r.json().items as { id: string }[]).map((o) => o.id).sort();
      };
      assert.deepEqual(await ids(c.superuser.token), [h.orgId, c.other.orgId].sort());
      for (const who of [c.owner, c.admin, c.developer, c.viewer, c.siteDev]) {
        assert.deepEqual(await ids(who.token), [h.orgId]);
      }
      assert.deepEqual(await ids(c.other.owner.token), [c.other.orgId]);
      assert.equal((await call(null, 'GET', '/api/v1/orgs')).statusCode, 401);
    });

    test('GET /orgs pages with a cursor', async () => {
      const first = (await call(c.superuser.token, 'GET', '/api/v1/orgs?limit=1')).json();
      assert.equal(first.items.length, 1);
      assert.ok(first.nextCursor);
      const second = (await call(c.superuser.token, 'GET', `/api/v1/orgs?limit=1&cursor=${first.nextCursor}`)).json();
      assert.equal(second.items.length, 1);
      assert.notEqual(second.items[0].id, first.items[0].id);
      assert.equal((await call(c.superuser.token, 'GET', '/api/v1/orgs?limit=0')).statusCode, 400);
    });

    test('POST /orgs: platform administrators only; the creator becomes owner', async () => {
      for (const who of [c.owner, c.admin, c.viewer, c.other.owner]) {
        const r = await call(who.token, 'POST', '/api/v1/orgs', { slug: 'nope', name: 'Nope' });
        assert.equal(r.statusCode, 403);
        assert.equal(r.json().error.code, 'TRIPLANE_ERR_FORBIDDEN');
      }
      assert.equal((await call(null, 'POST', '/api/v1/orgs', { slug: 'nope', name: 'Nope' })).statusCode, 401);
      const r = await call(c.superuser.token, 'POST', '/api/v1/orgs', { slug: 'acme', name: 'Acme Inc.' });
      assert.equal(r.statusCode, 201);
      const org = r.json();
      assert.equal(org.slug, 'acme');
      assert.match(org.id, /^org_/);
      const m = await h.store.db.selectFrom('memberships').selectAll().where('org_id', '=', org.id).execute();
      assert.equal(m.length, 1);
      assert.equal(m[0]?.user_id, c.superuser.userId);
      assert.equal(m[0]?.role, 'owner');
      assert.equal(m[0]?.scope, '*');
      const a = await h.store.db
        .selectFrom('audit_log')
        .selectAll()
        .where('action', '=', 'org.create')
        .where('target_id', '=', org.id)
        .execute();
      assert.equal(a.length, 1);
      assert.equal(a[0]?.actor_id, c.superuser.userId);

      const dup = await call(c.superuser.token, 'POST', '/api/v1/orgs', { slug: 'acme', name: 'Again' });
      assert.equal(dup.statusCode, 409);
      assert.equal(dup.json().error.code, 'TRIPLANE_ERR_ALREADY_EXISTS');
      const count = await h.store.db.selectFrom('organizations').select('id').where('name', '=', 'Again').execute();
      assert.equal(count.length, 0, 'nothing half-written');
      for (const body of [
        { slug: 'Bad Slug', name: 'x' },
        { slug: 'ok-slug' },
        { slug: 'ok-slug', name: 'x', extra: true },
        { slug: 'ok', name: '' },
      ]) {
        const bad = await call(c.superuser.token, 'POST', '/api/v1/orgs', body);
        assert.equal(bad.statusCode, 400, JSON.stringify(body));
        assert.equal(bad.json().error.code, 'TRIPLANE_ERR_VALIDATION');
      }
    });

    test('GET /orgs/{id}: any grant sees it; other organizations and unknown ids are 404', async () => {
      for (const who of [c.superuser, c.owner, c.admin, c.developer, c.viewer, c.siteDev]) {
        const r = await call(who.token, 'GET', `/api/v1/orgs/${h.orgId}`);
        assert.equal(r.statusCode, 200);
        assert.equal(r.json().id, h.orgId);
      }
      const hidden = await call(c.other.owner.token, 'GET', `/api/v1/orgs/${h.orgId}`);
      assert.equal(hidden.statusCode, 404);
      assert.equal(hidden.json().error.code, 'TRIPLANE_ERR_NOT_FOUND');
      assert.equal((await call(c.superuser.token, 'GET', '/api/v1/orgs/org_0000000000000000')).statusCode, 404);
      assert.equal((await call(c.superuser.token, 'GET', '/api/v1/orgs/not-an-id')).statusCode, 400);
      assert.equal((await call(null, 'GET', `/api/v1/orgs/${h.orgId}`)).statusCode, 401);
    });

    test('PATCH /orgs/{id}: owners only', async () => {
      for (const who of [c.admin, c.developer, c.viewer, c.siteDev]) {
        const r = await call(who.token, 'PATCH', `/api/v1/orgs/${h.orgId}`, { name: 'Hijacked' });
        assert.equal(r.statusCode, 403, who.email);
      }
      assert.equal((await call(c.other.owner.token, 'PATCH', `/api/v1/orgs/${h.orgId}`, { name: 'x' })).statusCode, 404);
      assert.equal((await call(null, 'PATCH', `/api/v1/orgs/${h.orgId}`, { name: 'x' })).statusCode, 401);
      const r = await call(c.owner.token, 'PATCH', `/api/v1/orgs/${h.orgId}`, { name: 'Renamed' });
      assert.equal(r.statusCode, 200);
      assert.equal(r.json().name, 'Renamed');
      assert.equal(r.json().slug, 'default');
      const bySuper = await call(c.superuser.token, 'PATCH', `/api/v1/orgs/${c.other.orgId}`, { slug: 'other-renamed' });
      assert.equal(bySuper.json().slug, 'other-renamed');
      const dup = await call(c.owner.token, 'PATCH', `/api/v1/orgs/${h.orgId}`, { slug: 'other-renamed' });
      assert.equal(dup.statusCode, 409);
      assert.equal(dup.json().error.code, 'TRIPLANE_ERR_ALREADY_EXISTS');
      assert.equal((await call(c.owner.token, 'PATCH', `/api/v1/orgs/${h.orgId}`, {})).statusCode, 400);
      const a = await h.store.db.selectFrom('audit_log').select('details').where('action', '=', 'org.update').execute();
      assert.equal(a.length, 2);
    });

    test('DELETE /orgs/{id}: platform administrators only, and only without sites', async () => {
      assert.equal((await call(c.other.owner.token, 'DELETE', `/api/v1/orgs/${c.other.orgId}`)).statusCode, 403);
      assert.equal((await call(c.owner.token, 'DELETE', `/api/v1/orgs/${c.other.orgId}`)).statusCode, 404);
      assert.equal((await call(null, 'DELETE', `/api/v1/orgs/${c.other.orgId}`)).statusCode, 401);
      const busy = await call(c.superuser.token, 'DELETE', `/api/v1/orgs/${c.other.orgId}`);
      assert.equal(busy.statusCode, 409);
      assert.equal(busy.json().error.code, 'TRIPLANE_ERR_CONFLICT');

      const empty = (await call(c.superuser.token, 'POST', '/api/v1/orgs', { slug: 'empty-org', name: 'Empty' })).json();
      await h.makeUser('viewer', { orgId: empty.id });
      const gone = await call(c.superuser.token, 'DELETE', `/api/v1/orgs/${empty.id}`);
      assert.equal(gone.statusCode, 204);
      assert.equal((await call(c.superuser.token, 'GET', `/api/v1/orgs/${empty.id}`)).statusCode, 404);
      const left = await h.store.db.selectFrom('memberships').select('id').where('org_id', '=', empty.id).execute();
      assert.equal(left.length, 0);
      assert.equal((await call(c.superuser.token, 'DELETE', `/api/v1/orgs/${empty.id}`)).statusCode, 404);
      const a = await h.store.db
        .selectFrom('audit_log')
        .select('id')
        .where('action', '=', 'org.delete')
        .where('target_id', '=', empty.id)
        .execute();
      assert.equal(a.length, 1);
      // A site created later blocks deletion again.
      const later = (await call(c.superuser.token, 'POST', '/api/v1/orgs', { slug: 'later', name: 'Later' })).json();
      await makeSite(h.store, later.id, 'blog');
      assert.equal((await call(c.superuser.token, 'DELETE', `/api/v1/orgs/${later.id}`)).statusCode, 409);
    });
  });
}
