import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Cast, checkedCall, DIALECTS, makeCast } from '../../../identity/test-support.ts';
import { createHarness, type Harness, type TestUser } from '../../../testing/harness.ts';

for (const dialect of DIALECTS) {
  describe(`member routes (${dialect})`, () => {
    let h: Harness;
    let call: Harness['call'];
    let c: Cast;
    let base: string;
    const freshUser = async (): Promise<TestUser> => {
      // A user with no grant in the default organization (made in a throwaway one).
      const o = await h.makeOrg(`tmp-${Math.random().toString(36).slice(2, 8)}`);
      return o.owner;
    };
    const memberIdOf = async (orgId: string, userId: string, scope = '*') =>
      (
        await h.store.db
          .selectFrom('memberships')
          .select('id')
          .where('org_id', '=', orgId)
          .where('user_id', '=', userId)
          .where('scope', '=', scope)
          .executeTakeFirstOrThrow()
      ).id;

    before(async () => {
      h = await createHarness({ dialect });
      call = checkedCall(h);
      c = await makeCast(h);
      base = `/api/v1/orgs/${h.orgId}/members`;
    });
    after(() => h.close());

    test('GET members: org-wide members see all; site-scoped members see only themselves; others 404', async () => {
      for (const who of [c.superuser, c.owner, c.admin, c.developer, c.viewer]) {
        const r = await call(who.token, 'GET', base);
        assert.equal(r.statusCode, 200);
        const ids = r.json().items.map((m: { userId: string }) => m.userId);
        for (const u of [c.superuser, c.owner, c.admin, c.developer, c.viewer, c.siteDev]) assert.ok(ids.includes(u.userId));
      }
      const own = (await call(c.siteDev.token, 'GET', base)).json();
      assert.equal(own.items.length, 1);
      assert.equal(own.items[0].userId, c.siteDev.userId);
      assert.equal(own.items[0].siteId, c.siteId);
      assert.equal(own.items[0].email, c.siteDev.email);
      assert.equal((await call(c.other.owner.token, 'GET', base)).statusCode, 404);
      assert.equal((await call(null, 'GET', base)).statusCode, 401);
      assert.equal((await call(c.superuser.token, 'GET', '/api/v1/orgs/org_0000000000000000/members')).statusCode, 404);
    });

    test('POST members: admins and owners add existing users by id or email', async () => {
      for (const who of [c.developer, c.viewer, c.siteDev]) {
        const u = await freshUser();
        const r = await call(who.token, 'POST', base, { userId: u.userId, role: 'viewer' });
        assert.equal(r.statusCode, 403, who.email);
      }
      const u0 = await freshUser();
      assert.equal((await call(c.other.owner.token, 'POST', base, { userId: u0.userId, role: 'viewer' })).statusCode, 404);
      assert.equal((await call(null, 'POST', base, { userId: u0.userId, role: 'viewer' })).statusCode, 401);

      const byId = await call(c.admin.token, 'POST', base, { userId: u0.userId, role: 'developer' });
      assert.equal(byId.statusCode, 201);
      const m = byId.json();
      assert.equal(m.role, 'developer');
      assert.equal(m.siteId, null);
      assert.equal(m.orgId, h.orgId);
      assert.equal(m.email, u0.email);
      assert.equal((await call(u0.token, 'GET', `/api/v1/orgs/${h.orgId}`)).statusCode, 200, 'the grant takes effect');

      const u1 = await freshUser();
      const byEmail = await call(c.owner.token, 'POST', base, { email: u1.email.toUpperCase(), role: 'viewer' });
      assert.equal(byEmail.statusCode, 201);
      assert.equal(byEmail.json().userId, u1.userId);

      const dup = await call(c.admin.token, 'POST', base, { userId: u0.userId, role: 'viewer' });
      assert.equal(dup.statusCode, 409);
      assert.equal(dup.json().error.code, 'TRIPLANE_ERR_ALREADY_EXISTS');
      const unknown = await call(c.admin.token, 'POST', base, { email: 'nobody@example.test', role: 'viewer' });
      assert.equal(unknown.statusCode, 404);
      assert.equal((await call(c.admin.token, 'POST', base, { userId: 'usr_0000000000000000', role: 'viewer' })).statusCode, 404);
      for (const body of [
        { role: 'viewer' },
        { userId: u0.userId, email: u0.email, role: 'viewer' },
        { userId: u0.userId, role: 'god' },
        { userId: u0.userId, role: 'viewer', extra: 1 },
      ]) {
        const r = await call(c.admin.token, 'POST', base, body);
        assert.equal(r.statusCode, 400, JSON.stringify(body));
      }
      const a = await h.store.db
        .selectFrom('audit_log')
        .select('id')
        .where('action', '=', 'member.create')
        .where('org_id', '=', h.orgId)
        .execute();
      assert.equal(a.length, 2);
    });

    test('POST members: site grants need a site of this organization', async () => {
      const u = await freshUser();
      const r = await call(c.admin.token, 'POST', base, { userId: u.userId, role: 'developer', siteId: c.siteId });
      assert.equal(r.statusCode, 201);
      assert.equal(r.json().siteId, c.siteId);
      const foreign = await call(c.admin.token, 'POST', base, { userId: u.userId, role: 'viewer', siteId: c.other.siteId });
      assert.equal(foreign.statusCode, 404);
      const missing = await call(c.admin.token, 'POST', base, {
        userId: u.userId,
        role: 'viewer',
        siteId: 'site_0000000000000000',
      });
      assert.equal(missing.statusCode, 404);
      const ownerOnSite = await call(c.owner.token, 'POST', base, { userId: u.userId, role: 'owner', siteId: c.siteId });
      assert.equal(ownerOnSite.statusCode, 422);
      // Org-wide grant next to a site grant is a different scope, so allowed.
      assert.equal((await call(c.admin.token, 'POST', base, { userId: u.userId, role: 'viewer' })).statusCode, 201);
      const list = (await call(u.token, 'GET', base)).json();
      assert.ok(list.items.length > 2, 'with an org-wide grant the user sees everyone');
    });

    test('only an owner may grant, change or remove the owner role', async () => {
      const u = await freshUser();
      const r = await call(c.admin.token, 'POST', base, { userId: u.userId, role: 'owner' });
      assert.equal(r.statusCode, 403);
      const made = await call(c.owner.token, 'POST', base, { userId: u.userId, role: 'owner' });
      assert.equal(made.statusCode, 201);
      const mid = made.json().id;
      assert.equal((await call(c.admin.token, 'PATCH', `${base}/${mid}`, { role: 'viewer' })).statusCode, 403);
      assert.equal((await call(c.admin.token, 'DELETE', `${base}/${mid}`)).statusCode, 403);
      const adminId = await memberIdOf(h.orgId, c.admin.userId);
      assert.equal(
        (await call(c.admin.token, 'PATCH', `${base}/${adminId}`, { role: 'owner' })).statusCode,
        403,
        'no self-promotion',
      );
      assert.equal((await call(c.owner.token, 'PATCH', `${base}/${mid}`, { role: 'admin' })).json().role, 'admin');
      assert.equal((await call(c.owner.token, 'DELETE', `${base}/${mid}`)).statusCode, 204);
    });

    test('PATCH members: admins change roles; viewers and developers cannot; unknown ids 404', async () => {
      const u = await freshUser();
      const mid = (await call(c.admin.token, 'POST', base, { userId: u.userId, role: 'viewer' })).json().id;
      for (const who of [c.developer, c.viewer, c.siteDev]) {
        assert.equal((await call(who.token, 'PATCH', `${base}/${mid}`, { role: 'admin' })).statusCode, 403, who.email);
      }
      assert.equal((await call(c.other.owner.token, 'PATCH', `${base}/${mid}`, { role: 'admin' })).statusCode, 404);
      assert.equal((await call(null, 'PATCH', `${base}/${mid}`, { role: 'admin' })).statusCode, 401);
      const r = await call(c.admin.token, 'PATCH', `${base}/${mid}`, { role: 'developer' });
      assert.equal(r.statusCode, 200);
      assert.equal(r.json().role, 'developer');
      assert.equal((await call(c.admin.token, 'PATCH', `${base}/mem_0000000000000000`, { role: 'viewer' })).statusCode, 404);
      // A member id of another organization is not found through this one.
      const otherOwnerMid = await memberIdOf(c.other.orgId, c.other.owner.userId);
      assert.equal((await call(c.admin.token, 'PATCH', `${base}/${otherOwnerMid}`, { role: 'viewer' })).statusCode, 404);
      assert.equal((await call(c.admin.token, 'PATCH', `${base}/${mid}`, { role: 'root' })).statusCode, 400);
      const a = await h.store.db
        .selectFrom('audit_log')
        .select('details')
        .where('action', '=', 'member.update')
        .where('target_id', '=', mid)
        .execute();
      assert.equal(a.length, 1);
      assert.deepEqual(JSON.parse(a[0]?.details ?? '{}').to, 'developer');
    });

    test('DELETE members: admins remove; members may leave; others cannot', async () => {
      const u = await freshUser();
      const mid = (await call(c.admin.token, 'POST', base, { userId: u.userId, role: 'viewer' })).json().id;
      for (const who of [c.developer, c.viewer])
        assert.equal((await call(who.token, 'DELETE', `${base}/${mid}`)).statusCode, 403);
      assert.equal((await call(c.siteDev.token, 'DELETE', `${base}/${mid}`)).statusCode, 404, 'invisible to site-scoped members');
      assert.equal((await call(c.other.owner.token, 'DELETE', `${base}/${mid}`)).statusCode, 404);
      assert.equal((await call(null, 'DELETE', `${base}/${mid}`)).statusCode, 401);
      assert.equal((await call(c.admin.token, 'DELETE', `${base}/${mid}`)).statusCode, 204);
      assert.equal((await call(c.admin.token, 'DELETE', `${base}/${mid}`)).statusCode, 404);
      assert.equal((await call(u.token, 'GET', `/api/v1/orgs/${h.orgId}`)).statusCode, 404, 'the grant is gone');

      const leaver = await freshUser();
      const lid = (await call(c.admin.token, 'POST', base, { userId: leaver.userId, role: 'viewer', siteId: c.siteId })).json()
        .id;
      assert.equal((await call(leaver.token, 'DELETE', `${base}/${lid}`)).statusCode, 204, 'a member may leave');
      const a = await h.store.db
        .selectFrom('audit_log')
        .select('actor_id')
        .where('action', '=', 'member.delete')
        .where('target_id', '=', lid)
        .execute();
      assert.equal(a[0]?.actor_id, leaver.userId);
    });

    test('an organization never loses its last owner', async () => {
      const o = await h.makeOrg('solo-org');
      const ownerMid = await memberIdOf(o.orgId, o.owner.userId);
      const url = `/api/v1/orgs/${o.orgId}/members`;
      const demote = await call(o.owner.token, 'PATCH', `${url}/${ownerMid}`, { role: 'admin' });
      assert.equal(demote.statusCode, 409);
      assert.equal(demote.json().error.code, 'TRIPLANE_ERR_CONFLICT');
      assert.equal((await call(o.owner.token, 'DELETE', `${url}/${ownerMid}`)).statusCode, 409, 'the last owner cannot leave');
      assert.equal(
        (await call(c.superuser.token, 'DELETE', `${url}/${ownerMid}`)).statusCode,
        409,
        'not even by an administrator',
      );
      const role = await h.store.db.selectFrom('memberships').select('role').where('id', '=', ownerMid).executeTakeFirstOrThrow();
      assert.equal(role.role, 'owner', 'nothing half-written');

      // With a second owner, either may step down, but not both at once.
      const second = await freshUser();
      const sid = (await call(o.owner.token, 'POST', url, { userId: second.userId, role: 'owner' })).json().id;
      const [r1, r2] = await Promise.all([
        call(o.owner.token, 'PATCH', `${url}/${ownerMid}`, { role: 'admin' }),
        call(second.token, 'PATCH', `${url}/${sid}`, { role: 'admin' }),
      ]);
      assert.deepEqual([r1.statusCode, r2.statusCode].sort(), [200, 409]);
      const owners = await h.store.db
        .selectFrom('memberships')
        .select('id')
        .where('org_id', '=', o.orgId)
        .where('role', '=', 'owner')
        .execute();
      assert.equal(owners.length, 1);
    });
  });
}
