import assert from 'node:assert/strict';
import { scryptSync, timingSafeEqual } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { FormatRegistry } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { BASIC_AUTH_HASH_PATTERN, EdgeSnapshot } from '@triplane/spec';
import { createSite, joinServer, runHandler } from '../../../desired/test-support.ts';
import { siteProvision } from '../../../jobs/handlers/site-provision.ts';
import { createHarness, type Harness } from '../../../testing/harness.ts';

if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => !Number.isNaN(Date.parse(v)));

const PASSWORD = 'open sesame 4 staging';

/** Checks a `scrypt:N:r:p:salt:key` hash the way the edge does. */
function matches(hash: string, password: string): boolean {
  const [, n, r, p, salt, key] = hash.split(':') as [string, string, string, string, string, string];
  const expected = Buffer.from(key, 'base64');
  const got = scryptSync(password.normalize('NFKC'), Buffer.from(salt, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: 64 * 1024 * 1024,
  });
  return timingSafeEqual(got, expected);
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`${dialect}: staging marks and environment protection`, () => {
    let h: Harness;
    let edge: { id: string; credential: string };
    let siteId: string;
    let prodId: string;
    let stagingId: string;
    before(async () => {
      h = await createHarness({ dialect });
      await joinServer(h, 'pr-app', 'app', '10.4.0.1');
      edge = await joinServer(h, 'pr-edge', 'edge', '10.4.0.9');
      const s = await createSite(h, h.owner.token, { name: 'pr-shop', domains: ['pr-shop.example.com'] });
      await runHandler(h, siteProvision, s.jobId);
      siteId = s.siteId;
      prodId = s.environmentId;
      const st = await h.call(h.owner.token, 'POST', `/api/v1/sites/${siteId}/staging`, { domains: ['stg.pr-shop.example.com'] });
      assert.equal(st.statusCode, 202, st.body);
      stagingId = st.json().environment.id;
    });
    after(() => h.close());

    const snapshot = async () => {
      const r = await h.call(edge.credential, 'GET', '/api/v1/edge/snapshot');
      assert.equal(r.statusCode, 200, r.body);
      const snap = r.json();
      assert.ok(Value.Check(EdgeSnapshot, snap), JSON.stringify([...Value.Errors(EdgeSnapshot, snap)][0]));
      return { snap: snap as EdgeSnapshot, body: r.body };
    };
    const policyOf = (snap: EdgeSnapshot, id: string) => snap.policies.find((p) => p.environmentId === id);

    test('the staging route marks the environment staging; the snapshot asks for noindex on it, never on production', async () => {
      const stg = (await h.call(h.owner.token, 'GET', `/api/v1/environments/${stagingId}`)).json();
      assert.equal(stg.staging, true);
      assert.equal(stg.protection, null);
      const prod = (await h.call(h.owner.token, 'GET', `/api/v1/environments/${prodId}`)).json();
      assert.equal(prod.staging, false);
      // an environment added by the plain route is not a staging copy
      const qa = await h.call(h.owner.token, 'POST', `/api/v1/sites/${siteId}/environments`, { name: 'qa' });
      assert.equal(qa.statusCode, 202, qa.body);
      assert.equal(qa.json().environment.staging, false);
      const { snap } = await snapshot();
      assert.equal(policyOf(snap, stagingId)?.noindex, true);
      assert.equal(policyOf(snap, stagingId)?.basicAuth, null);
      assert.equal(policyOf(snap, prodId)?.noindex, false);
    });

    test('protect: developer and up; viewers, other orgs and anonymous refused; bad input 400', async () => {
      const url = `/api/v1/environments/${stagingId}/protection`;
      const viewer = await h.makeUser('viewer');
      const other = await h.makeOrg('pr-other');
      const body = { user: 'preview', password: PASSWORD };
      assert.equal((await h.call(null, 'PUT', url, body)).statusCode, 401);
      assert.equal((await h.call(viewer.token, 'PUT', url, body)).statusCode, 403);
      assert.equal((await h.call(other.owner.token, 'PUT', url, body)).statusCode, 404);
      assert.equal((await h.call(viewer.token, 'DELETE', url)).statusCode, 403);
      assert.equal(
        (await h.call(h.owner.token, 'PUT', '/api/v1/environments/env_0000000000000000/protection', body)).statusCode,
        404,
      );
      for (const bad of [
        { user: 'a:b', password: PASSWORD },
        { user: '', password: PASSWORD },
        { user: 'preview', password: 'short' },
        { user: 'preview', password: `x${'\u0000'}yyyyyyyy` },
        { user: 'preview', password: 'y'.repeat(201) },
        { user: 'preview' },
        { user: 'preview', password: PASSWORD, extra: 1 },
      ]) {
        const r = await h.call(h.owner.token, 'PUT', url, bad);
        assert.equal(r.statusCode, 400, JSON.stringify(bad));
        assert.equal(r.json().error.code, 'TRIPLANE_ERR_VALIDATION');
      }
      assert.equal((await h.call(h.owner.token, 'GET', `/api/v1/environments/${stagingId}`)).json().protection, null);
    });

    test('protect stores and ships the scrypt hash only; the DTO shows the user; audited without the password', async () => {
      const developer = await h.makeUser('developer');
      const rev0 = (await snapshot()).snap.revision;
      const r = await h.call(developer.token, 'PUT', `/api/v1/environments/${stagingId}/protection`, {
        user: 'preview',
        password: PASSWORD,
      });
      assert.equal(r.statusCode, 200, r.body);
      assert.deepEqual(r.json().protection, { user: 'preview' });
      assert.equal(r.body.includes(PASSWORD), false);
      assert.doesNotMatch(r.body, /scrypt/);
      const shown = await h.call(developer.token, 'GET', `/api/v1/sites/${siteId}`);
      assert.doesNotMatch(shown.body, /scrypt/);
      assert.equal(shown.body.includes(PASSWORD), false);

      const row = await h.store.db
        .selectFrom('environments')
        .select('protection')
        .where('id', '=', stagingId)
        .executeTakeFirstOrThrow();
      assert.equal(row.protection?.includes(PASSWORD), false);
      const stored = JSON.parse(row.protection as string) as { user: string; hash: string };
      assert.equal(stored.user, 'preview');
      assert.match(stored.hash, new RegExp(BASIC_AUTH_HASH_PATTERN));

      const { snap, body } = await snapshot();
      assert.ok(snap.revision > rev0, 'the revision is bumped so edges reload');
      assert.equal(body.includes(PASSWORD), false, 'the snapshot never carries the password');
      const auth = policyOf(snap, stagingId)?.basicAuth;
      assert.ok(auth);
      assert.equal(auth.user, 'preview');
      assert.equal(auth.realm, 'pr-shop staging');
      assert.equal(auth.hash, stored.hash);
      assert.ok(matches(auth.hash, PASSWORD), 'the hash verifies the password');
      assert.ok(!matches(auth.hash, `${PASSWORD}!`));
      assert.equal(policyOf(snap, prodId)?.basicAuth, null);

      const entries = await h.store.db
        .selectFrom('audit_log')
        .selectAll()
        .where('target_id', '=', stagingId)
        .where('action', '=', 'environment.protect')
        .execute();
      assert.equal(entries.length, 1);
      assert.deepEqual(JSON.parse(entries[0]?.details as string), { user: 'preview' });
      assert.equal(JSON.stringify(entries).includes(PASSWORD), false);
      assert.doesNotMatch(JSON.stringify(entries), /scrypt/);

      // a new password gets a new salt: the hash changes
      await h.call(developer.token, 'PUT', `/api/v1/environments/${stagingId}/protection`, {
        user: 'preview',
        password: PASSWORD,
      });
      assert.notEqual(policyOf((await snapshot()).snap, stagingId)?.basicAuth?.hash, auth.hash);
    });

    test('unprotect removes it from the DTO and the snapshot; repeating it is a no-op', async () => {
      const developer = await h.makeUser('developer');
      const url = `/api/v1/environments/${stagingId}/protection`;
      const r = await h.call(developer.token, 'DELETE', url);
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.json().protection, null);
      const { snap } = await snapshot();
      assert.equal(policyOf(snap, stagingId)?.basicAuth, null);
      assert.equal(policyOf(snap, stagingId)?.noindex, true, 'still noindex');
      const again = await h.call(developer.token, 'DELETE', url);
      assert.equal(again.statusCode, 200);
      assert.equal((await snapshot()).snap.revision, snap.revision, 'nothing changed: same revision');
      const audits = await h.store.db
        .selectFrom('audit_log')
        .select('action')
        .where('target_id', '=', stagingId)
        .where('action', '=', 'environment.unprotect')
        .orderBy('at')
        .execute();
      assert.equal(audits.length, 2, 'both audited, the no-op too');
    });

    test('production can be protected too (before launch); its realm names it', async () => {
      const r = await h.call(h.owner.token, 'PUT', `/api/v1/environments/${prodId}/protection`, {
        user: 'owner',
        password: PASSWORD,
      });
      assert.equal(r.statusCode, 200, r.body);
      const p = policyOf((await snapshot()).snap, prodId);
      assert.equal(p?.basicAuth?.realm, 'pr-shop production');
      assert.equal(p?.noindex, false);
      assert.equal((await h.call(h.owner.token, 'DELETE', `/api/v1/environments/${prodId}/protection`)).statusCode, 200);
    });
  });
}
