import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Clock } from '@triplane/kernel';
import { drive, type OriginReply } from './drive.ts';
import { CacheEngine, magentoPatternTags } from './engine.ts';
import type { HeaderMap } from './headers.ts';
import { magentoProfile, magentoUrl } from './magento-profile.ts';
import { MemoryStorage } from './memory-storage.ts';
import type { ProfileOptions } from './profile.ts';
import type { CacheRequest, OriginRequest } from './request.ts';

class FakeClock implements Clock {
  #now = Date.parse('2026-01-01T00:00:00Z');
  now(): number {
    return this.#now;
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}

const PAGE = { 'cache-control': 'public, max-age=86400, s-maxage=86400', pragma: 'cache', 'content-type': 'text/html' };

function setup(reply: (r: OriginRequest) => OriginReply | 'error', opts: ProfileOptions = {}) {
  const clock = new FakeClock();
  let healthy = true;
  const engine = new CacheEngine({
    profile: magentoProfile(opts),
    storage: new MemoryStorage({ maxBytes: 64 * 1024 * 1024 }),
    clock,
    originHealthy: () => healthy,
  });
  const o = { hits: 0, seen: [] as OriginRequest[], reply };
  const get = (url: string, headers: HeaderMap = {}, extra: Partial<CacheRequest> = {}) =>
    drive(engine, { method: 'GET', url, host: 'shop.example', scheme: 'https', headers, purgeAllowed: false, ...extra }, (r) => {
      o.hits++;
      o.seen.push(r);
      return o.reply(r);
    });
  const purge = (headers: HeaderMap, purgeAllowed = true) =>
    get('/', headers, { method: 'PURGE', purgeAllowed, host: '127.0.0.1' });
  return { clock, engine, o, get, purge, setHealthy: (h: boolean) => (healthy = h) };
}

const ok = (headers: HeaderMap = PAGE, body = 'page'): OriginReply => ({ status: 200, headers, body });

describe('6.2 magento grace', () => {
  test('6.2.26 expired 60 s ago, healthy: stale body, Grace: normal, one background fetch', async () => {
    const s = setup(() => ok({ ...PAGE, 'cache-control': 'public, max-age=100' }));
    await s.get('/p.html');
    s.clock.advance(160_000);
    const r = await s.get('/p.html');
    assert.equal(r.headers['x-magento-cache-debug'], 'HIT');
    assert.equal(r.headers.grace, 'normal (healthy server)');
    await r.background;
    assert.equal(s.o.hits, 2);
  });

  test('6.2.27 expired 400 s ago (beyond grace_period 300 s), healthy: synchronous fetch', async () => {
    let v = 'old';
    const s = setup(() => ok({ ...PAGE, 'cache-control': 'public, max-age=100' }, v));
    await s.get('/p.html');
    v = 'new';
    s.clock.advance(500_000);
    const r = await s.get('/p.html');
    assert.equal(r.text, 'new');
    assert.equal(r.headers['x-magento-cache-debug'], 'MISS');
  });

  test('6.2.28 unhealthy origin: stale for up to 3 days, then gone → 503', async () => {
    let up = true;
    const s = setup(() => (up ? ok({ ...PAGE, 'cache-control': 'public, max-age=100' }) : 'error'));
    await s.get('/p.html');
    up = false;
    s.setHealthy(false);
    s.clock.advance(2 * 86_400_000);
    const r = await s.get('/p.html');
    assert.equal(r.text, 'page');
    assert.equal(r.headers.grace, 'unlimited (unhealthy server)');
    await r.background;
    s.clock.advance(1.5 * 86_400_000);
    assert.equal((await s.get('/p.html')).status, 503);
  });
});

describe('6.3 magento cookies', () => {
  test('6.3.31 [SEC] Set-Cookie stripped from the stored object and from the first client', async () => {
    const s = setup(() => ok({ ...PAGE, 'set-cookie': ['PHPSESSID=U1; path=/', 'private_content_version=abc'] }));
    const c1 = await s.get('/p.html');
    const c2 = await s.get('/p.html');
    assert.equal(c1.headers['set-cookie'], undefined);
    assert.equal(c2.headers['set-cookie'], undefined);
    assert.equal(c2.headers['x-magento-cache-debug'], 'HIT');
    assert.equal(s.o.hits, 1);
  });

  test('6.3.32 [SEC] an anonymous response that sets X-Magento-Vary is not stored', async () => {
    let n = 0;
    const s = setup(() =>
      n++ === 0 ? ok({ ...PAGE, 'set-cookie': ['X-Magento-Vary=abc; path=/'] }, 'context') : ok(PAGE, 'default'),
    );
    await s.get('/p.html');
    const second = await s.get('/p.html');
    assert.equal(s.o.hits, 2);
    assert.equal(second.text, 'default');
  });

  test('6.3.33 [SEC] X-Magento-Vary splits the key; other cookies do not', async () => {
    const s = setup((r) => ok(PAGE, `ctx=${r.headers.cookie ?? ''}`));
    await s.get('/p.html', { cookie: 'X-Magento-Vary=G1' });
    await s.get('/p.html', { cookie: 'X-Magento-Vary=G2' });
    await s.get('/p.html');
    assert.equal(s.o.hits, 3);
    const g1 = await s.get('/p.html', { cookie: '_ga=1; X-Magento-Vary=G1; PHPSESSID=zz' });
    assert.equal(g1.headers['x-magento-cache-debug'], 'HIT');
    assert.match(g1.text, /G1/);
    const anon = await s.get('/p.html', { cookie: '_ga=2; PHPSESSID=yy' });
    assert.equal(anon.text, 'ctx=');
    assert.equal(s.o.hits, 3);
  });

  test('6.3.38 GraphQL: Bearer without cache id passes; with cache id cached per (id, Authorized)', async () => {
    const s = setup(() => ok({ ...PAGE, 'x-magento-cache-id': 'C1' }));
    const p = await s.get('/graphql?query=q', { authorization: 'Bearer t' });
    assert.equal(p.cacheStatus, 'PASS');
    await s.get('/graphql?query=q', { authorization: 'Bearer t', 'x-magento-cache-id': 'C1' });
    const hit = await s.get('/graphql?query=q', { authorization: 'Bearer t', 'x-magento-cache-id': 'C1' });
    assert.equal(hit.cacheStatus, 'HIT');
    const noBearer = await s.get('/graphql?query=q', { 'x-magento-cache-id': 'C1' });
    assert.notEqual(noBearer.cacheStatus, 'HIT');
  });

  test('6.3.39 [SEC] GraphQL response with a different X-Magento-Cache-Id is not stored', async () => {
    const s = setup(() => ok({ ...PAGE, 'x-magento-cache-id': 'OTHER' }));
    const h = { authorization: 'Bearer t', 'x-magento-cache-id': 'C1' };
    await s.get('/graphql?query=q', h);
    await s.get('/graphql?query=q', h);
    assert.equal(s.o.hits, 2);
  });

  test('6.3.40 [SEC] magento: private is never stored and its Cache-Control is not rewritten', async () => {
    const s = setup(() => ok({ 'cache-control': 'private, max-age=600' }));
    const a = await s.get('/p.html');
    await s.get('/p.html');
    assert.equal(s.o.hits, 2);
    assert.equal(a.headers['cache-control'], 'private, max-age=600');
    const t = setup(() => ok({ 'cache-control': 'no-store' }));
    await t.get('/p.html');
    await t.get('/p.html');
    assert.equal(t.o.hits, 2);
  });

  test('6.3.37 [SEC] magento deviation: Authorization (non-GraphQL) passes', async () => {
    const s = setup((r) => ok(PAGE, r.headers.authorization ? 'SECRET' : 'public'));
    await s.get('/staging.html', { authorization: 'Basic dTpw' });
    const anon = await s.get('/staging.html');
    assert.equal(anon.text, 'public');
  });
});

describe('6.4 magento paths and query', () => {
  test('6.4.43 customer, checkout and health check paths pass', async () => {
    const s = setup(() => ok());
    for (const u of ['/customer/account/', '/checkout/cart/', '/health_check.php', '/pub/health_check.php']) {
      await s.get(u);
      await s.get(u);
    }
    assert.equal(s.o.hits, 8);
  });

  test('6.4.44 query parameters are sorted for key and origin', async () => {
    const s = setup(() => ok());
    await s.get('/c.html?b=2&a=1');
    assert.equal(s.o.seen[0]?.url, '/c.html?a=1&b=2');
    assert.equal((await s.get('/c.html?a=1&b=2')).headers['x-magento-cache-debug'], 'HIT');
  });

  test('6.4.45 marketing parameters are removed by name', async () => {
    const s = setup(() => ok());
    await s.get('/p.html?utm_source=x&gclid=y&color=red&fbclid=z');
    assert.equal(s.o.seen[0]?.url, '/p.html?color=red');
    assert.equal((await s.get('/p.html?color=red')).headers['x-magento-cache-debug'], 'HIT');
    assert.equal(s.o.hits, 1);
    assert.equal(magentoUrl('/p?xutm_a=1'), '/p?xutm_a=1');
  });

  test('6.4.46 static/media pass by default; cacheStatic caches without Cookie and keeps Cache-Control', async () => {
    const s = setup(() => ok({ 'cache-control': 'public, max-age=31536000' }));
    await s.get('/static/version1/frontend/x/styles.css');
    await s.get('/static/version1/frontend/x/styles.css');
    assert.equal(s.o.hits, 2);
    const t = setup(() => ok({ 'cache-control': 'public, max-age=31536000' }), { cacheStatic: true });
    await t.get('/media/catalog/x.jpg', { cookie: 'PHPSESSID=1' });
    assert.equal(t.o.seen[0]?.headers.cookie, undefined);
    const hit = await t.get('/media/catalog/x.jpg', { cookie: 'PHPSESSID=2' });
    assert.equal(hit.headers['x-magento-cache-debug'], 'HIT');
    assert.equal(hit.headers['cache-control'], 'public, max-age=31536000');
  });
});

describe('6.5/6.6 magento delivery and PURGE', () => {
  test('6.5.54 [SEC] magento strips tags, debug, Age, X-Powered-By, Server, Via, X-Varnish, Link', async () => {
    const s = setup(() =>
      ok({
        ...PAGE,
        'x-magento-tags': 'cat_p_1',
        'x-powered-by': 'PHP',
        server: 'nginx',
        via: '1.1 x',
        'x-varnish': '1',
        link: '<x>',
        'surrogate-control': 'max-age=60',
      }),
    );
    for (const r of [await s.get('/p.html'), await s.get('/p.html')]) {
      for (const h of ['x-magento-tags', 'x-powered-by', 'server', 'via', 'x-varnish', 'link', 'age', 'surrogate-control'])
        assert.equal(r.headers[h], undefined, h);
    }
  });

  test('6.6.55 [SEC] PURGE from outside the ACL → 405, nothing invalidated', async () => {
    const s = setup(() => ok({ ...PAGE, 'x-magento-tags': 'cat_p_1' }));
    await s.get('/p.html');
    const r = await s.purge({ 'x-magento-tags-pattern': '.*' }, false);
    assert.equal(r.status, 405);
    assert.equal((await s.get('/p.html')).headers['x-magento-cache-debug'], 'HIT');
    assert.equal(s.o.hits, 1);
  });

  test('6.6.56 PURGE without pattern or pool → 400', async () => {
    const s = setup(() => ok());
    assert.equal((await s.purge({})).status, 400);
  });

  test('6.6.57 Magento tag pattern purges matching objects on every host only', async () => {
    const tagsFor: Record<string, string> = { '/p1.html': 'cat_p_42,cat_c_7', '/p2.html': 'cat_p_420', '/p3.html': 'cms_p_1' };
    const s = setup((r) => ok({ ...PAGE, 'x-magento-tags': tagsFor[r.url]! }));
    for (const host of ['shop.example', 'shop2.example']) for (const u of Object.keys(tagsFor)) await s.get(u, {}, { host });
    const r = await s.purge({ 'x-magento-tags-pattern': '((^|,)cat_p_42(,|$))' });
    assert.equal(r.status, 200);
    assert.ok(r.headers['content-length']);
    const before = s.o.hits;
    for (const host of ['shop.example', 'shop2.example']) {
      assert.equal((await s.get('/p1.html', {}, { host })).headers['x-magento-cache-debug'], 'MISS');
      assert.equal((await s.get('/p2.html', {}, { host })).headers['x-magento-cache-debug'], 'HIT');
      assert.equal((await s.get('/p3.html', {}, { host })).headers['x-magento-cache-debug'], 'HIT');
    }
    assert.equal(s.o.hits, before + 2);
  });

  test('6.6.58 2 000 tagged objects: 7 680-byte pattern and .* purge fast; .* hits empty-tag objects, not untagged ones', async () => {
    const s = setup((r) =>
      r.url === '/untagged'
        ? ok()
        : r.url === '/empty'
          ? ok({ ...PAGE, 'x-magento-tags': '' })
          : ok({ ...PAGE, 'x-magento-tags': `t${r.url.slice(3)},all` }),
    );
    for (let i = 0; i < 2000; i++) await s.get(`/o/${i}`);
    await s.get('/untagged');
    await s.get('/empty', {}, {});
    const groups: string[] = [];
    let len = 0;
    for (let i = 0; len < 7600; i++) {
      const g = `((^|,)t${i}(,|$))`;
      groups.push(g);
      len += g.length + 1;
    }
    const pattern = groups.join('|');
    assert.ok(pattern.length <= 7680);
    assert.equal(magentoPatternTags(pattern)?.length, groups.length);
    // timed on the engine call itself (synchronous), not the async driver around it
    let t0 = performance.now();
    s.engine.purge({ kind: 'magento-pattern', pattern });
    assert.ok(performance.now() - t0 < 100);
    assert.equal(s.engine.storage.stats().objects, 2002 - groups.length);
    assert.equal((await s.purge({ 'x-magento-tags-pattern': '((^|,)t999999(,|$))' })).status, 200);
    t0 = performance.now();
    s.engine.purge({ kind: 'magento-pattern', pattern: '.*' });
    assert.ok(performance.now() - t0 < 100);
    assert.equal(s.engine.storage.stats().objects, 1); // only /untagged survives: /empty has an (empty) X-Magento-Tags
  });

  test('6.6.59 a purge during an in-flight fetch: the next GET is a miss', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const s = setup(() => ok({ ...PAGE, 'x-magento-tags': 'cat_p_9' }));
    s.o.reply = () => ok({ ...PAGE, 'x-magento-tags': 'cat_p_9' });
    const slow = drive(
      s.engine,
      { method: 'GET', url: '/slow.html', host: 'shop.example', scheme: 'https', headers: {}, purgeAllowed: false },
      async () => {
        await gate;
        return ok({ ...PAGE, 'x-magento-tags': 'cat_p_9' });
      },
    );
    await new Promise((r) => setTimeout(r, 5));
    await s.purge({ 'x-magento-tags-pattern': '((^|,)cat_p_9(,|$))' });
    release();
    await slow;
    assert.equal((await s.get('/slow.html')).headers['x-magento-cache-debug'], 'MISS');
  });

  test('6.6.60 debug headers, browser cache headers; 404 and 5xx never stored', async () => {
    const s = setup((r) => (r.url === '/404' ? { status: 404, headers: PAGE } : r.url === '/500' ? { status: 500 } : ok()));
    const miss = await s.get('/p.html');
    const hit = await s.get('/p.html');
    assert.equal(miss.headers['x-magento-cache-debug'], 'MISS');
    assert.equal(hit.headers['x-magento-cache-debug'], 'HIT');
    assert.equal(hit.headers.grace, 'none');
    assert.equal(hit.headers['cache-control'], 'no-store, no-cache, must-revalidate, max-age=0');
    assert.equal(hit.headers.pragma, 'no-cache');
    assert.equal(hit.headers.expires, '-1');
    const u = await s.get('/u.html', {}, { method: 'POST' });
    assert.equal(u.headers['x-magento-cache-debug'], 'UNCACHEABLE');
    for (const url of ['/404', '/404', '/500', '/500']) await s.get(url);
    assert.equal(s.o.hits, 1 + 1 + 4);
  });
});
