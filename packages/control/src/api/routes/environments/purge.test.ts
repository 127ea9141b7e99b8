import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadPurges, recordPurge } from '../../../desired/purges.ts';
import { createSite } from '../../../desired/test-support.ts';
import { createHarness, type Harness } from '../../../testing/harness.ts';

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`${dialect}: environment purge`, () => {
    let h: Harness;
    let siteId: string;
    let envId: string;
    const url = () => `/api/v1/environments/${envId}/purge`;
    const snapshot = async () => {
      const r = await h.call(h.owner.token, 'GET', '/api/v1/edge/snapshot');
      assert.equal(r.statusCode, 200, r.body);
      return r.json();
    };
    before(async () => {
      h = await createHarness({ dialect });
      const s = await createSite(h, h.owner.token, { name: 'purgy', domains: ['shop.example.test', 'www.shop.example.test'] });
      siteId = s.siteId;
      envId = s.environmentId;
    });
    after(() => h.close());

    test('developer and up purge; viewers 403, other organizations 404, anonymous 401', async () => {
      const viewer = await h.makeUser('viewer');
      const developer = await h.makeUser('developer');
      const siteDev = await h.makeUser('developer', { siteId });
      const siteViewer = await h.makeUser('viewer', { siteId });
      const other = await h.makeOrg('other-purge');
      const body = { all: true };
      assert.equal((await h.call(null, 'POST', url(), body)).statusCode, 401);
      assert.equal((await h.call(viewer.token, 'POST', url(), body)).statusCode, 403);
      assert.equal((await h.call(siteViewer.token, 'POST', url(), body)).statusCode, 403);
      const foreign = await h.call(other.owner.token, 'POST', url(), body);
      assert.equal(foreign.statusCode, 404);
      assert.equal(foreign.json().error.code, 'TRIPLANE_ERR_NOT_FOUND');
      assert.equal(
        (await h.call(developer.token, 'POST', '/api/v1/environments/env_0000000000000000/purge', body)).statusCode,
        404,
      );
      const r = await h.call(developer.token, 'POST', url(), body);
      assert.equal(r.statusCode, 202, r.body);
      assert.match(r.json().purgeId, /^prg_/);
      assert.equal(r.json().kind, 'all');
      assert.deepEqual(r.json().values, []);
      assert.equal((await h.call(siteDev.token, 'POST', url(), { tags: ['cat_p_42'] })).statusCode, 202);
      assert.equal((await h.call(h.owner.token, 'POST', url(), { tags: ['cat_p_42'] })).statusCode, 202);
    });

    test('the body is exactly one of urls, tags or all: true, bounded', async () => {
      const bad: unknown[] = [
        {},
        { all: false },
        { all: 'yes' },
        { urls: [] },
        { tags: [] },
        { urls: ['/a'], tags: ['b'] },
        { urls: ['/a'], all: true },
        { urls: ['relative/path'] },
        { urls: ['ftp://shop.example.test/x'] },
        { urls: ['/with space'] },
        { urls: [`/${'a'.repeat(2048)}`] },
        { urls: Array.from({ length: 101 }, (_, i) => `/p${i}`) },
        { tags: ['a,b'] },
        { tags: ['a b'] },
        { tags: ['x'.repeat(257)] },
        { urls: ['http://'] },
        { urls: ['http://user@shop.example.test/'] },
        { urls: '/a' },
      ];
      for (const b of bad) {
        const r = await h.call(h.owner.token, 'POST', url(), b);
        assert.equal(r.statusCode, 400, `${JSON.stringify(b).slice(0, 80)} → ${r.statusCode} ${r.body}`);
        assert.equal(r.json().error.code, 'TRIPLANE_ERR_VALIDATION');
      }
      const elsewhere = await h.call(h.owner.token, 'POST', url(), { urls: ['https://other.example.test/a'] });
      assert.equal(elsewhere.statusCode, 422, elsewhere.body);
      assert.equal(elsewhere.json().error.code, 'TRIPLANE_ERR_UNPROCESSABLE');
    });

    test('urls are kept as sent, absolute ones normalised to scheme://host (no port) and checked against the domains', async () => {
      const r = await h.call(h.owner.token, 'POST', url(), {
        urls: ['/a?x=1#frag', 'HTTPS://WWW.Shop.Example.Test:8443?q=1', 'http://shop.example.test/b/../c', '/a?x=1'],
      });
      assert.equal(r.statusCode, 202, r.body);
      assert.deepEqual(r.json().values, ['/a?x=1', 'https://www.shop.example.test/?q=1', 'http://shop.example.test/b/../c']);
      assert.equal(r.json().kind, 'url');
    });

    test('a purge is audited, bumps the revision and is listed in the edge snapshot with contiguous seqs', async () => {
      const rev = async () =>
        Number((await h.store.db.selectFrom('state_revision').select('revision').executeTakeFirstOrThrow()).revision);
      const r0 = await rev();
      const r = await h.call(h.owner.token, 'POST', url(), { tags: ['cat_p_1', 'cat_p_2', 'cat_p_1'] });
      assert.equal(r.statusCode, 202, r.body);
      const p = r.json();
      assert.deepEqual(p.values, ['cat_p_1', 'cat_p_2']);
      assert.ok((await rev()) > r0, 'the revision moved');
      const a = await h.store.db
        .selectFrom('audit_log')
        .selectAll()
        .where('action', '=', 'environment.purge')
        .where('target_id', '=', envId)
        .orderBy('id', 'desc')
        .executeTakeFirstOrThrow();
      assert.equal(a.actor_id, h.owner.userId);
      assert.deepEqual(JSON.parse(a.details ?? '{}'), {
        purgeId: p.purgeId,
        seq: p.seq,
        kind: 'tag',
        count: 2,
        values: ['cat_p_1', 'cat_p_2'],
      });
      const snap = await snapshot();
      assert.equal(snap.purgeSeq, p.seq);
      const seqs = snap.purges.map((x: { seq: number }) => x.seq);
      assert.deepEqual(
        seqs,
        Array.from({ length: seqs.length }, (_, i) => i + 1),
        'contiguous from 1',
      );
      assert.deepEqual(snap.purges.at(-1), {
        seq: p.seq,
        environmentId: envId,
        kind: 'tag',
        values: ['cat_p_1', 'cat_p_2'],
        createdAt: p.createdAt,
      });
    });

    test('a long-polling edge snapshot request wakes at once on a purge', async () => {
      const first = await h.call(h.owner.token, 'GET', '/api/v1/edge/snapshot');
      const etag = first.headers.etag as string;
      const started = Date.now();
      const held = h.call(h.owner.token, 'GET', '/api/v1/edge/snapshot?wait=20', undefined, { 'if-none-match': etag });
      await new Promise((res) => setTimeout(res, 300));
      const p = await h.call(h.owner.token, 'POST', url(), { urls: ['/woken'] });
      assert.equal(p.statusCode, 202);
      const r = await held;
      assert.equal(r.statusCode, 200);
      assert.ok(Date.now() - started < 10_000, 'answered by the purge, not by the end of the wait');
      assert.equal(r.json().purgeSeq, p.json().seq);
    });

    test('concurrent purges get distinct contiguous seqs', async () => {
      const before = (await snapshot()).purgeSeq as number;
      const rs = await Promise.all(
        Array.from({ length: 8 }, (_, i) => h.call(h.owner.token, 'POST', url(), { urls: [`/c${i}`] })),
      );
      for (const r of rs) assert.equal(r.statusCode, 202, r.body);
      const seqs = rs.map((r) => r.json().seq as number).sort((a, b) => a - b);
      assert.deepEqual(
        seqs,
        Array.from({ length: 8 }, (_, i) => before + 1 + i),
      );
    });

    test('the window is pruned on insert by count, age and value budget, always keeping the newest', async () => {
      await h.store.db.deleteFrom('edge_purges').execute();
      let now = Date.parse('2030-01-01T00:00:00Z');
      const clock = { now: () => now };
      const w = { maxPurges: 3, maxAgeMs: 60_000, maxValues: 5 };
      const add = (values: string[]) =>
        h.store.transaction((trx) => recordPurge(trx, { environmentId: envId, kind: 'tag', values, actorId: null, clock }, w));
      for (let i = 1; i <= 5; i++) assert.equal((await add([`t${i}`])).seq, i);
      assert.deepEqual(
        (await loadPurges(h.store.db)).purges.map((p) => p.seq),
        [3, 4, 5],
        'by count',
      );
      now += 61_000;
      assert.equal((await add(['t6'])).seq, 6);
      assert.deepEqual(
        (await loadPurges(h.store.db)).purges.map((p) => p.seq),
        [6],
        'by age',
      );
      now += 120_000;
      await h.store.transaction((trx) => trx.deleteFrom('edge_purges').where('seq', '<', 6).execute());
      // Older than the window but the newest: kept, so the next seq continues.
      assert.deepEqual((await loadPurges(h.store.db)).purgeSeq, 6);
      assert.equal((await add(['a', 'b', 'c'])).seq, 7);
      assert.equal((await add(['d', 'e'])).seq, 8);
      assert.deepEqual(
        (await loadPurges(h.store.db)).purges.map((p) => p.seq),
        [7, 8],
        'within the value budget',
      );
      assert.equal((await add(['f'])).seq, 9);
      assert.deepEqual(
        (await loadPurges(h.store.db)).purges.map((p) => p.seq),
        [8, 9],
        'over the value budget',
      );
      assert.equal((await add(Array.from({ length: 9 }, (_, i) => `big${i}`))).seq, 10);
      const after = await loadPurges(h.store.db);
      assert.deepEqual(
        after.purges.map((p) => p.seq),
        [10],
        'a purge larger than the budget alone is still kept',
      );
      assert.equal(after.purgeSeq, 10);
    });

    test('a purge of an environment being deleted is refused (409)', async () => {
      const s = await createSite(h, h.owner.token, { name: 'doomed' });
      await h.store.db.updateTable('environments').set({ status: 'deleting' }).where('id', '=', s.environmentId).execute();
      const r = await h.call(h.owner.token, 'POST', `/api/v1/environments/${s.environmentId}/purge`, { all: true });
      assert.equal(r.statusCode, 409, r.body);
    });
  });
}
