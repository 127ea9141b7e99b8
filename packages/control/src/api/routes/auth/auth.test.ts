import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  assertClean,
  checkedCall,
  DIALECTS,
  login,
  type Res,
  sessionCall,
  setPassword,
  testClock,
} from '../../../identity/test-support.ts';
import { createHarness, type Harness, type TestUser } from '../../../testing/harness.ts';
import { CSRF_COOKIE, SESSION_COOKIE } from '../../auth/authenticate.ts';
import { hashSecret } from '../../auth/secrets.ts';

const PW = 'correct horse battery staple';

for (const dialect of DIALECTS) {
  describe(`auth routes (${dialect})`, () => {
    let h: Harness;
    let call: Harness['call'];
    const clock = testClock();
    let dev: TestUser;

    before(async () => {
      h = await createHarness({ dialect, clock, loginRateLimit: { perKey: 1000, perIp: 1000, windowMs: 60_000 } });
      call = checkedCall(h);
      dev = await h.makeUser('developer');
      await setPassword(h.store, dev.userId, PW);
    });
    after(() => h.close());

    test('login sets an httpOnly SameSite=Strict session cookie and a readable CSRF cookie', async () => {
      const { res, cookie, csrf } = await login(h, dev.email.toUpperCase(), PW);
      const body = res.json();
      assert.equal(body.user.id, dev.userId);
      assert.equal(body.user.email, dev.email);
      assert.equal(body.csrfToken, csrf);
      assert.match(cookie, /^tps_[A-Za-z0-9_-]{43}$/);
      assert.match(csrf, /^tpc_/);
      const sc = res.cookies.find((c) => c.name === SESSION_COOKIE);
      const cc = res.cookies.find((c) => c.name === CSRF_COOKIE);
      assert.equal(sc?.httpOnly, true);
      assert.equal(sc?.sameSite, 'Strict');
      assert.equal(sc?.path, '/');
      assert.equal(sc?.secure, undefined, 'no Secure flag unless secureCookies');
      assert.equal(sc?.maxAge, 12 * 3600);
      assert.notEqual(cc?.httpOnly, true);
      assert.equal(cc?.sameSite, 'Strict');
      // Stored hashed, with an expiry 12 h out.
      const row = await h.store.db
        .selectFrom('sessions')
        .selectAll()
        .where('token_hash', '=', hashSecret(cookie))
        .executeTakeFirst();
      assert.ok(row);
      assert.equal(row.user_id, dev.userId);
      assert.equal(row.csrf_hash, hashSecret(csrf));
      assert.equal(Date.parse(row.expires_at) - clock.now(), 12 * 3600 * 1000);
      const plain = await h.store.db.selectFrom('sessions').select('id').where('token_hash', '=', cookie).executeTakeFirst();
      assert.equal(plain, undefined, 'the cookie value is not stored');
    });

    test('secureCookies adds the Secure flag', async () => {
      const h2 = await createHarness({ dialect, secureCookies: true });
      try {
        const u = await h2.makeUser('viewer');
        await setPassword(h2.store, u.userId, PW);
        const { res } = await login(h2, u.email, PW);
        for (const name of [SESSION_COOKIE, CSRF_COOKIE]) {
          assert.equal(res.cookies.find((c) => c.name === name)?.secure, true, name);
        }
      } finally {
        await h2.close();
      }
    });

    test('wrong password, unknown email, disabled user and password-less user get the same 401', async () => {
      const noPw = await h.makeUser('viewer');
      const disabled = await h.makeUser('viewer');
      await setPassword(h.store, disabled.userId, PW);
      await h.store.db.updateTable('users').set({ disabled: 1 }).where('id', '=', disabled.userId).execute();
      const attempts = [
        { email: dev.email, password: 'wrong password here' },
        { email: 'nobody@example.test', password: PW },
        { email: disabled.email, password: PW },
        { email: noPw.email, password: PW },
      ];
      const bodies = new Set<string>();
      for (const a of attempts) {
        const r = await call(null, 'POST', '/api/v1/auth/login', a);
        assert.equal(r.statusCode, 401, JSON.stringify(a));
        assert.equal(r.json().error.code, 'TRIPLANE_ERR_UNAUTHENTICATED');
        assert.equal(r.headers['set-cookie'], undefined);
        bodies.add(r.body);
      }
      assert.equal(bodies.size, 1, 'one indistinguishable answer');
    });

    test('an unknown email costs the same scrypt work as a wrong password', async () => {
      const time = async (email: string) => {
        const t0 = performance.now();
        const r = await h.call(null, 'POST', '/api/v1/auth/login', { email, password: 'not the password' });
        assert.equal(r.statusCode, 401);
        return performance.now() - t0;
      };
      const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
      const known: number[] = [];
      const unknown: number[] = [];
      for (let i = 0; i < 5; i++) {
        known.push(await time(dev.email));
        unknown.push(await time(`ghost${i}@example.test`));
      }
      const k = median(known);
      const u = median(unknown);
      assert.ok(u > k * 0.5 && k > u * 0.5, `timings differ: known ${k.toFixed(1)} ms, unknown ${u.toFixed(1)} ms`);
    });

    test('login failures and successes are audited with the email, never the password', async () => {
      await call(null, 'POST', '/api/v1/auth/login', { email: dev.email, password: 'a-very-secret-guess' });
      await login(h, dev.email, PW);
      const rows = await h.store.db
        .selectFrom('audit_log')
        .selectAll()
        .where('action', 'in', ['auth.login', 'auth.login_failed'])
        .execute();
      const failed = rows.filter((r) => r.action === 'auth.login_failed');
      const ok = rows.filter((r) => r.action === 'auth.login' && r.actor_id === dev.userId);
      assert.ok(failed.some((r) => JSON.parse(r.details ?? '{}').email === dev.email));
      assert.ok(ok.length > 0);
      assert.equal(ok[0]?.actor_via, 'session');
      for (const r of rows) {
        assert.doesNotMatch(r.details ?? '', /a-very-secret-guess|correct horse/);
        assert.doesNotMatch(r.details ?? '', /password/i);
      }
    });

    test('login input is validated by schema', async () => {
      for (const body of [
        {},
        { email: dev.email },
        { email: 'not-an-email', password: PW },
        { email: dev.email, password: PW, extra: 1 },
        { email: dev.email, password: 'x'.repeat(201) },
        { email: 5, password: PW },
      ]) {
        const r = await call(null, 'POST', '/api/v1/auth/login', body);
        assert.equal(r.statusCode, 400, JSON.stringify(body));
        assert.equal(r.json().error.code, 'TRIPLANE_ERR_VALIDATION');
      }
    });

    test('GET /auth/me tells the user, memberships and how they authenticated', async () => {
      const s = await login(h, dev.email, PW);
      const bySession = await sessionCall(h, s, 'GET', '/api/v1/auth/me');
      assert.equal(bySession.statusCode, 200);
      const me = bySession.json();
      assert.equal(me.via, 'session');
      assert.equal(me.user.id, dev.userId);
      assert.equal(me.memberships.length, 1);
      assert.equal(me.memberships[0].orgId, h.orgId);
      assert.equal(me.memberships[0].role, 'developer');
      assert.equal(me.memberships[0].orgSlug, 'default');
      const byToken = await call(dev.token, 'GET', '/api/v1/auth/me');
      assert.equal(byToken.json().via, 'token');
      const anon = await call(null, 'GET', '/api/v1/auth/me');
      assert.equal(anon.statusCode, 401);
      assert.equal(anon.json().error.code, 'TRIPLANE_ERR_UNAUTHENTICATED');
    });

    test('a session-cookie mutation needs the x-csrf-token header', async () => {
      const s = await login(h, dev.email, PW);
      const none = await sessionCall(h, { cookie: s.cookie }, 'POST', '/api/v1/tokens', { name: 'csrf-less' });
      assert.equal(none.statusCode, 403);
      assert.equal(none.json().error.code, 'TRIPLANE_ERR_CSRF');
      const wrong = await sessionCall(h, { cookie: s.cookie, csrf: 'tpc_wrong' }, 'POST', '/api/v1/tokens', { name: 'x' });
      assert.equal(wrong.json().error.code, 'TRIPLANE_ERR_CSRF');
      const other = await login(h, dev.email, PW);
      const crossed = await sessionCall(h, { cookie: s.cookie, csrf: other.csrf }, 'POST', '/api/v1/tokens', { name: 'x' });
      assert.equal(crossed.json().error.code, 'TRIPLANE_ERR_CSRF', "another session's CSRF token is refused");
      const ok = await sessionCall(h, s, 'POST', '/api/v1/tokens', { name: 'with-csrf' });
      assert.equal(ok.statusCode, 201);
      const read = await sessionCall(h, { cookie: s.cookie }, 'GET', '/api/v1/tokens');
      assert.equal(read.statusCode, 200, 'reads need no CSRF token');
    });

    test('logout revokes the session and clears both cookies', async () => {
      const s = await login(h, dev.email, PW);
      const noCsrf = await sessionCall(h, { cookie: s.cookie }, 'POST', '/api/v1/auth/logout');
      assert.equal(noCsrf.statusCode, 403);
      const out = await sessionCall(h, s, 'POST', '/api/v1/auth/logout');
      assert.equal(out.statusCode, 204);
      for (const name of [SESSION_COOKIE, CSRF_COOKIE]) {
        const c = out.cookies.find((x) => x.name === name);
        assert.ok(c, `${name} cleared`);
        assert.equal(c.value, '');
        assert.ok(c.expires && c.expires.getTime() <= Date.now(), `${name} expired`);
      }
      const after = await sessionCall(h, s, 'GET', '/api/v1/auth/me');
      assert.equal(after.statusCode, 401);
      const audited = await h.store.db.selectFrom('audit_log').select('id').where('action', '=', 'auth.logout').execute();
      assert.ok(audited.length >= 1);
      // Logout with a token is a harmless no-op.
      assert.equal((await call(dev.token, 'POST', '/api/v1/auth/logout')).statusCode, 204);
      assert.equal((await call(null, 'POST', '/api/v1/auth/logout')).statusCode, 401);
    });

    test('a stale session cookie does not block signing in again', async () => {
      const s = await login(h, dev.email, PW);
      await sessionCall(h, s, 'POST', '/api/v1/auth/logout');
      const res = (await h.app.inject({
        method: 'POST',
        url: '/api/v1/auth/login',
        payload: { email: dev.email, password: PW },
        cookies: { [SESSION_COOKIE]: s.cookie },
      })) as Res;
      assertClean(res);
      assert.equal(res.statusCode, 200);
    });

    test('sessions expire after 12 hours', async () => {
      const s = await login(h, dev.email, PW);
      clock.advance(12 * 3600 * 1000 - 1000);
      assert.equal((await sessionCall(h, s, 'GET', '/api/v1/auth/me')).statusCode, 200);
      clock.advance(2000);
      const r = await sessionCall(h, s, 'GET', '/api/v1/auth/me');
      assert.equal(r.statusCode, 401);
      assert.equal(r.json().error.code, 'TRIPLANE_ERR_UNAUTHENTICATED');
    });

    test('disabling a user ends their sessions at once', async () => {
      const u = await h.makeUser('viewer');
      await setPassword(h.store, u.userId, PW);
      const s = await login(h, u.email, PW);
      const r = await call(h.owner.token, 'PATCH', `/api/v1/users/${u.userId}`, { disabled: true });
      assert.equal(r.statusCode, 200);
      assert.equal((await sessionCall(h, s, 'GET', '/api/v1/auth/me')).statusCode, 401);
      assert.equal((await call(u.token, 'GET', '/api/v1/auth/me')).statusCode, 401);
    });
  });

  describe(`login rate limiting (${dialect})`, () => {
    let h: Harness;
    const clock = testClock(Date.UTC(2030, 0, 1, 0, 0, 10));
    let a: TestUser;
    let b: TestUser;
    let c: TestUser;
    const attempt = async (ip: string, email: string, password = 'wrong wrong wrong') =>
      assertClean(
        (await h.app.inject({
          method: 'POST',
          url: '/api/v1/auth/login',
          payload: { email, password },
          remoteAddress: ip,
        })) as Res,
      );

    before(async () => {
      h = await createHarness({ dialect, clock, loginRateLimit: { perKey: 3, perIp: 6, windowMs: 60_000 } });
      a = await h.makeUser('viewer');
      b = await h.makeUser('viewer');
      c = await h.makeUser('viewer');
      for (const u of [a, b, c]) await setPassword(h.store, u.userId, PW);
    });
    after(() => h.close());

    test('per (ip, email): the 4th attempt in a window is 429 with Retry-After, even with the right password', async () => {
      for (let i = 0; i < 3; i++) assert.equal((await attempt('10.0.0.1', a.email)).statusCode, 401);
      const r = await attempt('10.0.0.1', a.email, PW);
      assert.equal(r.statusCode, 429);
      assert.equal(r.json().error.code, 'TRIPLANE_ERR_RATE_LIMITED');
      assert.equal(r.headers['retry-after'], '50', 'the window ends 50 s later');
      // Another IP, and another email from the same IP, are not blocked by this pair.
      assert.equal((await attempt('10.0.0.2', a.email, PW)).statusCode, 200);
      assert.equal((await attempt('10.0.0.1', b.email, PW)).statusCode, 200);
      const audited = await h.store.db
        .selectFrom('audit_log')
        .select('details')
        .where('action', '=', 'auth.login_rate_limited')
        .execute();
      assert.ok(audited.some((x) => JSON.parse(x.details ?? '{}').email === a.email));
    });

    test("per ip: a success doesn't reset the ip's or other emails' counters", async () => {
      const ip = '10.0.0.9';
      assert.equal((await attempt(ip, b.email)).statusCode, 401); // ip 1, (ip,b) 1
      assert.equal((await attempt(ip, b.email)).statusCode, 401); // ip 2, (ip,b) 2
      assert.equal((await attempt(ip, c.email, PW)).statusCode, 200); // ip 3, (ip,c) reset
      assert.equal((await attempt(ip, b.email)).statusCode, 401); // ip 4, (ip,b) 3
      assert.equal((await attempt(ip, b.email, PW)).statusCode, 429, '(ip,b) kept its count'); // ip 5, (ip,b) 4
      assert.equal((await attempt(ip, c.email, PW)).statusCode, 200); // ip 6
      const r = await attempt(ip, c.email, PW); // ip 7 > 6
      assert.equal(r.statusCode, 429, 'the per-ip limit holds across emails');
      assert.ok(Number(r.headers['retry-after']) >= 1);
      assert.equal((await attempt('10.0.0.10', c.email, PW)).statusCode, 200, 'other ips are unaffected');
    });

    test('a new window lets the caller try again, and old counters are purged', async () => {
      clock.advance(60_000);
      assert.equal((await attempt('10.0.0.1', a.email, PW)).statusCode, 200);
      assert.equal((await attempt('10.0.0.9', c.email, PW)).statusCode, 200);
      const rows = await h.store.db.selectFrom('rate_limits').selectAll().execute();
      const windowStart = Math.floor(clock.now() / 60_000) * 60_000;
      assert.ok(
        rows.every((r) => Number(r.window_start) === windowStart),
        'counters of ended windows are deleted',
      );
    });

    test('concurrent attempts are all counted (atomic upsert)', async () => {
      const ip = '10.0.1.1';
      const results = await Promise.all(Array.from({ length: 6 }, () => attempt(ip, `burst@example.test`)));
      const limited = results.filter((r) => r.statusCode === 429).length;
      assert.equal(limited, 3, 'exactly 3 attempts pass for the pair');
    });
  });
}
