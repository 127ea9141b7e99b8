import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Cast, checkedCall, DIALECTS, makeCast, testClock } from '../../../identity/test-support.ts';
import { createHarness, type Harness } from '../../../testing/harness.ts';
import { hashSecret } from '../../auth/secrets.ts';

const DAY = 24 * 3600 * 1000;

for (const dialect of DIALECTS) {
  describe(`token routes (${dialect})`, () => {
    let h: Harness;
    let call: Harness['call'];
    let c: Cast;
    const clock = testClock();

    before(async () => {
      h = await createHarness({ dialect, clock });
      call = checkedCall(h);
      c = await makeCast(h);
    });
    after(() => h.close());

    test('POST /tokens shows the secret once and stores only its hash', async () => {
      const r = await call(c.viewer.token, 'POST', '/api/v1/tokens', { name: 'ci' });
      assert.equal(r.statusCode, 201);
      const t = r.json();
      assert.match(t.token, /^tpl_[A-Za-z0-9_-]{43}$/);
      assert.equal(t.tokenPrefix, t.token.slice(0, 8));
      assert.equal(t.name, 'ci');
      assert.equal(t.userId, c.viewer.userId);
      assert.equal(t.expiresAt, null);
      assert.equal(t.revokedAt, null);
      const row = await h.store.db.selectFrom('api_tokens').selectAll().where('id', '=', t.id).executeTakeFirstOrThrow();
      assert.equal(row.token_hash, hashSecret(t.token));
      assert.equal(row.token_prefix, t.tokenPrefix);
      // The new token works, and never shows up again in full.
      const me = await call(t.token, 'GET', '/api/v1/auth/me');
      assert.equal(me.json().user.id, c.viewer.userId);
      const list = await call(t.token, 'GET', '/api/v1/tokens');
      assert.doesNotMatch(list.body, new RegExp(t.token.slice(8)));
      const listed = list.json().items.find((x: { id: string }) => x.id === t.id);
      assert.deepEqual(Object.keys(listed).sort(), [
        'createdAt',
        'expiresAt',
        'id',
        'lastUsedAt',
        'name',
        'revokedAt',
        'tokenPrefix',
        'userId',
      ]);
      assert.ok(listed.lastUsedAt, 'last use is recorded');
      const one = await call(c.viewer.token, 'GET', `/api/v1/tokens/${t.id}`);
      assert.equal(one.json().id, t.id);
      assert.equal(one.json().token, undefined);
      const a = await h.store.db
        .selectFrom('audit_log')
        .select('details')
        .where('action', '=', 'token.create')
        .where('target_id', '=', t.id)
        .execute();
      assert.equal(a.length, 1);
      assert.doesNotMatch(a[0]?.details ?? '', new RegExp(t.token.slice(8)));
    });

    test('every role, site-scoped users included, manages only their own tokens', async () => {
      for (const who of [c.owner, c.admin, c.developer, c.viewer, c.siteDev, c.other.owner]) {
        const made = await call(who.token, 'POST', '/api/v1/tokens', { name: 'mine' });
        assert.equal(made.statusCode, 201, `${who.email}: ${made.body}`);
        const mine = made.json();
        const list = (await call(who.token, 'GET', '/api/v1/tokens')).json();
        assert.ok(
          list.items.every((t: { userId: string }) => t.userId === who.userId),
          who.email,
        );
        // (Failed once in CI, not reproduced: say what was there.)
        assert.ok(
          list.items.some((t: { id: string }) => t.id === mine.id),
          `${who.email}: ${mine.id} not in ${JSON.stringify(list)}`,
        );
        // Someone else's token is invisible (404), for reading and for revoking.
        const stranger = who === c.viewer ? c.developer : c.viewer;
        assert.equal((await call(stranger.token, 'GET', `/api/v1/tokens/${mine.id}`)).statusCode, 404);
        assert.equal((await call(stranger.token, 'DELETE', `/api/v1/tokens/${mine.id}`)).statusCode, 404);
        assert.equal((await call(mine.token, 'GET', '/api/v1/auth/me')).statusCode, 200, 'not revoked by the stranger');
        const other = await call(who.token, 'GET', `/api/v1/tokens?userId=${stranger.userId}`);
        assert.equal(other.statusCode, 403);
      }
      for (const [m, u] of [
        ['GET', '/api/v1/tokens'],
        ['POST', '/api/v1/tokens'],
        ['DELETE', '/api/v1/tokens/tok_0000000000000000'],
      ] as const) {
        const r = await call(null, m, u, m === 'POST' ? { name: 'x' } : undefined);
        assert.equal(r.statusCode, 401, `${m} ${u}`);
      }
    });

    test('revoking a token makes it fail with 401 at once; revoking twice is harmless', async () => {
      const t = (await call(c.developer.token, 'POST', '/api/v1/tokens', { name: 'short-lived' })).json();
      assert.equal((await call(t.token, 'GET', '/api/v1/auth/me')).statusCode, 200);
      const r = await call(c.developer.token, 'DELETE', `/api/v1/tokens/${t.id}`);
      assert.equal(r.statusCode, 204);
      const after = await call(t.token, 'GET', '/api/v1/auth/me');
      assert.equal(after.statusCode, 401);
      assert.equal(after.json().error.code, 'TRIPLANE_ERR_UNAUTHENTICATED');
      assert.equal((await call(c.developer.token, 'DELETE', `/api/v1/tokens/${t.id}`)).statusCode, 204);
      const audits = await h.store.db
        .selectFrom('audit_log')
        .select('id')
        .where('action', '=', 'token.revoke')
        .where('target_id', '=', t.id)
        .execute();
      assert.equal(audits.length, 1);
      const active = (await call(c.developer.token, 'GET', '/api/v1/tokens')).json();
      assert.ok(!active.items.some((x: { id: string }) => x.id === t.id), 'revoked tokens are hidden by default');
      const all = (await call(c.developer.token, 'GET', '/api/v1/tokens?includeRevoked=true')).json();
      assert.ok(all.items.find((x: { id: string }) => x.id === t.id)?.revokedAt);
      // A token may revoke itself.
      const selfish = (await call(c.developer.token, 'POST', '/api/v1/tokens', { name: 'self' })).json();
      assert.equal((await call(selfish.token, 'DELETE', `/api/v1/tokens/${selfish.id}`)).statusCode, 204);
      assert.equal((await call(selfish.token, 'GET', '/api/v1/tokens')).statusCode, 401);
    });

    test("platform administrators list and revoke anyone's tokens", async () => {
      const t = (await call(c.admin.token, 'POST', '/api/v1/tokens', { name: 'leaked' })).json();
      const list = (await call(c.superuser.token, 'GET', `/api/v1/tokens?userId=${c.admin.userId}`)).json();
      assert.ok(list.items.some((x: { id: string }) => x.id === t.id));
      assert.equal((await call(c.superuser.token, 'GET', `/api/v1/tokens/${t.id}`)).statusCode, 200);
      assert.equal((await call(c.superuser.token, 'DELETE', `/api/v1/tokens/${t.id}`)).statusCode, 204);
      assert.equal((await call(t.token, 'GET', '/api/v1/auth/me')).statusCode, 401);
      assert.equal((await call(c.superuser.token, 'DELETE', '/api/v1/tokens/tok_0000000000000000')).statusCode, 404);
      assert.equal((await call(c.superuser.token, 'DELETE', '/api/v1/tokens/garbage')).statusCode, 400);
    });

    test('expiresInDays: valid until then, 401 after', async () => {
      const r = await call(c.viewer.token, 'POST', '/api/v1/tokens', { name: 'week', expiresInDays: 7 });
      assert.equal(r.statusCode, 201);
      const t = r.json();
      assert.equal(Date.parse(t.expiresAt) - clock.now(), 7 * DAY);
      clock.advance(7 * DAY - 60_000);
      assert.equal((await call(t.token, 'GET', '/api/v1/auth/me')).statusCode, 200);
      clock.advance(61_000);
      const expired = await call(t.token, 'GET', '/api/v1/auth/me');
      assert.equal(expired.statusCode, 401);
      assert.equal(expired.json().error.code, 'TRIPLANE_ERR_UNAUTHENTICATED');
      assert.equal((await call(c.viewer.token, 'GET', '/api/v1/auth/me')).statusCode, 200, 'tokens without expiry live on');
    });

    test('token input is validated by schema', async () => {
      for (const body of [
        {},
        { name: '' },
        { name: 'x'.repeat(101) },
        { name: 'x', expiresInDays: 0 },
        { name: 'x', expiresInDays: 3651 },
        { name: 'x', expiresInDays: 1.5 },
        { name: 'x', expiresInDays: '7' },
        { name: 'x', scopes: ['all'] },
      ]) {
        const r = await call(c.viewer.token, 'POST', '/api/v1/tokens', body);
        assert.equal(r.statusCode, 400, JSON.stringify(body));
        assert.equal(r.json().error.code, 'TRIPLANE_ERR_VALIDATION');
      }
      assert.equal((await call(c.viewer.token, 'POST', '/api/v1/tokens', { name: 'x', expiresInDays: 3650 })).statusCode, 201);
    });
  });
}
