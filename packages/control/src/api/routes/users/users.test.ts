import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Cast, checkedCall, DIALECTS, login, makeCast, sessionCall, setPassword } from '../../../identity/test-support.ts';
import { createHarness, type Harness } from '../../../testing/harness.ts';

const PW = 'twelve chars or more';

for (const dialect of DIALECTS) {
  describe(`user routes (${dialect})`, () => {
    let h: Harness;
    let call: Harness['call'];
    let c: Cast;

    before(async () => {
      h = await createHarness({ dialect });
      call = checkedCall(h);
      c = await makeCast(h);
    });
    after(() => h.close());

    test('POST /users: platform administrators only; email lower-cased, unique, validated', async () => {
      for (const who of [c.owner, c.admin, c.developer, c.viewer, c.siteDev, c.other.owner]) {
        const r = await call(who.token, 'POST', '/api/v1/users', { email: 'x@example.test', name: 'X' });
        assert.equal(r.statusCode, 403, who.email);
      }
      assert.equal((await call(null, 'POST', '/api/v1/users', { email: 'x@example.test', name: 'X' })).statusCode, 401);

      const r = await call(c.superuser.token, 'POST', '/api/v1/users', {
        email: 'New.Person@Example.TEST',
        name: 'New',
        password: PW,
      });
      assert.equal(r.statusCode, 201);
      const u = r.json();
      assert.equal(u.email, 'new.person@example.test');
      assert.equal(u.hasPassword, true);
      assert.equal(u.isSuperuser, false);
      assert.equal(u.disabled, false);
      assert.deepEqual(Object.keys(u).sort(), [
        'createdAt',
        'disabled',
        'email',
        'hasPassword',
        'id',
        'isSuperuser',
        'name',
        'updatedAt',
      ]);
      const row = await h.store.db.selectFrom('users').selectAll().where('id', '=', u.id).executeTakeFirstOrThrow();
      assert.match(row.password_hash ?? '', /^scrypt\$/);
      const a = await h.store.db
        .selectFrom('audit_log')
        .selectAll()
        .where('action', '=', 'user.create')
        .where('target_id', '=', u.id)
        .execute();
      assert.equal(a.length, 1);
      assert.doesNotMatch(a[0]?.details ?? '', new RegExp(PW));

      const dup = await call(c.superuser.token, 'POST', '/api/v1/users', { email: 'NEW.person@example.test', name: 'Dup' });
      assert.equal(dup.statusCode, 409);
      assert.equal(dup.json().error.code, 'TRIPLANE_ERR_ALREADY_EXISTS');

      for (const body of [
        { email: 'not an email', name: 'x' },
        { email: 'a@example.test', name: '' },
        { email: 'a@example.test', name: 'x', password: 'short' },
        { email: 'a@example.test', name: 'x', password: 'p'.repeat(201) },
        { email: 'a@example.test', name: 'x', isSuperuser: true },
        { email: 'a@example.test' },
      ]) {
        const bad = await call(c.superuser.token, 'POST', '/api/v1/users', body);
        assert.equal(bad.statusCode, 400, JSON.stringify(body));
        assert.equal(bad.json().error.code, 'TRIPLANE_ERR_VALIDATION');
      }
      const created = await h.store.db.selectFrom('users').select('id').where('email', '=', 'a@example.test').execute();
      assert.equal(created.length, 0);

      // The new user can sign in with the password given.
      const s = await login(h, 'new.person@example.test', PW);
      assert.equal(s.res.json().user.id, u.id);
    });

    test('GET /users: platform administrators only, with paging and an email filter', async () => {
      for (const who of [c.owner, c.admin, c.viewer, c.siteDev]) {
        assert.equal((await call(who.token, 'GET', '/api/v1/users')).statusCode, 403);
      }
      assert.equal((await call(null, 'GET', '/api/v1/users')).statusCode, 401);
      const all = (await call(c.superuser.token, 'GET', '/api/v1/users?limit=500')).json();
      assert.ok(all.items.length >= 7);
      assert.equal(all.nextCursor, null);
      const byEmail = (
        await call(c.superuser.token, 'GET', `/api/v1/users?email=${encodeURIComponent(c.viewer.email.toUpperCase())}`)
      ).json();
      assert.deepEqual(
        byEmail.items.map((u: { id: string }) => u.id),
        [c.viewer.userId],
      );
      const seen = new Set<string>();
      let cursor: string | null = null;
      do {
        const url: string = `/api/v1/users?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
        const p = (await call(c.superuser.token, 'GET', url)).json();
        for (const u of p.items) seen.add(u.id);
        cursor = p.nextCursor;
      } while (cursor);
      assert.equal(seen.size, all.items.length);
    });

    test('GET /users/{id}: yourself, or anyone for administrators; others are 404', async () => {
      assert.equal((await call(c.viewer.token, 'GET', `/api/v1/users/${c.viewer.userId}`)).json().id, c.viewer.userId);
      assert.equal((await call(c.superuser.token, 'GET', `/api/v1/users/${c.viewer.userId}`)).statusCode, 200);
      for (const who of [c.owner, c.admin, c.other.owner]) {
        const r = await call(who.token, 'GET', `/api/v1/users/${c.viewer.userId}`);
        assert.equal(r.statusCode, 404, who.email);
      }
      assert.equal((await call(c.superuser.token, 'GET', '/api/v1/users/usr_0000000000000000')).statusCode, 404);
      assert.equal((await call(null, 'GET', `/api/v1/users/${c.viewer.userId}`)).statusCode, 401);
    });

    test('PATCH /users/{id}: name by yourself; disabled by administrators only', async () => {
      const r = await call(c.viewer.token, 'PATCH', `/api/v1/users/${c.viewer.userId}`, { name: 'Vera Viewer' });
      assert.equal(r.statusCode, 200);
      assert.equal(r.json().name, 'Vera Viewer');
      assert.equal((await call(c.owner.token, 'PATCH', `/api/v1/users/${c.viewer.userId}`, { name: 'x' })).statusCode, 404);
      const selfDisable = await call(c.viewer.token, 'PATCH', `/api/v1/users/${c.viewer.userId}`, { disabled: true });
      assert.equal(selfDisable.statusCode, 403);
      assert.equal(
        (await call(c.superuser.token, 'PATCH', `/api/v1/users/${c.superuser.userId}`, { disabled: true })).statusCode,
        409,
      );
      for (const body of [{}, { email: 'x@example.test' }, { isSuperuser: true }, { name: 5 }]) {
        assert.equal(
          (await call(c.viewer.token, 'PATCH', `/api/v1/users/${c.viewer.userId}`, body)).statusCode,
          400,
          JSON.stringify(body),
        );
      }

      const target = await h.makeUser('viewer');
      const off = await call(c.superuser.token, 'PATCH', `/api/v1/users/${target.userId}`, { disabled: true });
      assert.equal(off.json().disabled, true);
      assert.equal((await call(target.token, 'GET', '/api/v1/auth/me')).statusCode, 401, 'a disabled user is locked out');
      const on = await call(c.superuser.token, 'PATCH', `/api/v1/users/${target.userId}`, { disabled: false });
      assert.equal(on.json().disabled, false);
      assert.equal((await call(target.token, 'GET', '/api/v1/auth/me')).statusCode, 200);
      const a = await h.store.db
        .selectFrom('audit_log')
        .select('details')
        .where('action', '=', 'user.update')
        .where('target_id', '=', target.userId)
        .execute();
      assert.equal(a.length, 2);
    });

    test('changing your own password needs the current one and signs out your other sessions', async () => {
      const u = await h.makeUser('viewer');
      const url = `/api/v1/users/${u.userId}`;
      // No password yet: setting the first one needs no current password.
      assert.equal((await call(u.token, 'PATCH', url, { password: PW })).statusCode, 200);
      const s1 = await login(h, u.email, PW);
      const s2 = await login(h, u.email, PW);
      const missing = await call(u.token, 'PATCH', url, { password: 'another long password' });
      assert.equal(missing.statusCode, 400);
      const wrong = await call(u.token, 'PATCH', url, { password: 'another long password', currentPassword: 'nope nope nope' });
      assert.equal(wrong.statusCode, 403);
      const lonely = await call(u.token, 'PATCH', url, { currentPassword: PW });
      assert.equal(lonely.statusCode, 400);
      const short = await call(u.token, 'PATCH', url, { password: 'short', currentPassword: PW });
      assert.equal(short.statusCode, 400);

      const ok = await sessionCall(h, s1, 'PATCH', url, { password: 'another long password', currentPassword: PW });
      assert.equal(ok.statusCode, 200);
      assert.equal((await sessionCall(h, s1, 'GET', '/api/v1/auth/me')).statusCode, 200, 'the session that changed it stays');
      assert.equal((await sessionCall(h, s2, 'GET', '/api/v1/auth/me')).statusCode, 401, 'other sessions end');
      const old = await call(null, 'POST', '/api/v1/auth/login', { email: u.email, password: PW });
      assert.equal(old.statusCode, 401);
      await login(h, u.email, 'another long password');

      // An administrator resets someone else's password without knowing it.
      const reset = await call(c.superuser.token, 'PATCH', url, { password: 'reset by the admin' });
      assert.equal(reset.statusCode, 200);
      await login(h, u.email, 'reset by the admin');
      // …but changing their own needs their current password like anyone.
      await setPassword(h.store, c.superuser.userId, PW);
      const own = await call(c.superuser.token, 'PATCH', `/api/v1/users/${c.superuser.userId}`, {
        password: 'brand new password',
      });
      assert.equal(own.statusCode, 400);
      const audits = await h.store.db.selectFrom('audit_log').select('details').where('action', '=', 'user.update').execute();
      for (const a of audits) assert.doesNotMatch(a.details ?? '', /another long password|reset by the admin|twelve chars/);
    });
  });
}
