import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { Clock } from '@triplane/kernel';
import { type Driven, drive, type OriginFn, type OriginReply } from './drive.ts';
import { CacheEngine } from './engine.ts';
import { genericProfile } from './generic-profile.ts';
import type { HeaderMap } from './headers.ts';
import { MemoryStorage } from './memory-storage.ts';
import type { ProfileOptions } from './profile.ts';
import type { CacheRequest, OriginRequest } from './request.ts';
import type { TtlDefaults } from './ttl.ts';
import { wordpressProfile } from './wordpress-profile.ts';

/** A clock the test moves by hand (same as testkit's FakeClock; cache does not depend on testkit). */
class FakeClock implements Clock {
  #now = Date.parse('2026-01-01T00:00:00Z');
  now(): number {
    return this.#now;
  }
  advance(ms: number): void {
    this.#now += ms;
  }
}

/** A counting origin; `reply` can be swapped between requests. */
class Origin {
  hits = 0;
  requests: OriginRequest[] = [];
  reply: (r: OriginRequest) => OriginReply | Promise<OriginReply> | 'error';
  constructor(reply: Origin['reply']) {
    this.reply = reply;
  }
  readonly fn: OriginFn = (r) => {
    this.hits++;
    this.requests.push(r);
    return this.reply(r);
  };
  get last(): OriginRequest {
    return this.requests[this.requests.length - 1]!;
  }
}

interface Setup {
  clock: FakeClock;
  engine: CacheEngine;
  origin: Origin;
  get: (url: string, headers?: HeaderMap, extra?: Partial<CacheRequest>) => Promise<Driven>;
}

function setup(
  reply: Origin['reply'],
  opts: { profile?: 'generic' | 'wordpress'; profileOptions?: ProfileOptions; defaults?: Partial<TtlDefaults> } = {},
): Setup {
  const clock = new FakeClock();
  const profile = opts.profile === 'wordpress' ? wordpressProfile(opts.profileOptions) : genericProfile(opts.profileOptions);
  const engine = new CacheEngine({
    profile,
    storage: new MemoryStorage({ maxBytes: 64 * 1024 * 1024 }),
    clock,
    debugHeader: true,
    defaults: opts.defaults,
  });
  const origin = new Origin(reply);
  const get = (url: string, headers: HeaderMap = {}, extra: Partial<CacheRequest> = {}) =>
    drive(engine, { method: 'GET', url, host: 'a.example', scheme: 'https', headers, purgeAllowed: false, ...extra }, origin.fn);
  return { clock, engine, origin, get };
}

const ok = (headers: HeaderMap = {}, body = 'B'): OriginReply => ({ status: 200, headers, body });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const httpDate = (ms: number) => new Date(ms).toUTCString();

describe('6.1 core caching', () => {
  test('6.1.1 public max-age=60: second GET 1 s later is a HIT with Age ≥ 1, origin hits 1', async () => {
    for (const profile of ['generic', 'wordpress'] as const) {
      const s = setup(() => ok({ 'cache-control': 'public, max-age=60' }, 'B'), { profile });
      const a = await s.get('/a');
      s.clock.advance(1000);
      const b = await s.get('/a');
      assert.equal(a.status, 200);
      assert.equal(b.text, 'B');
      assert.equal(s.origin.hits, 1);
      assert.equal(b.headers['x-cache'], 'HIT');
      assert.ok(Number(b.headers.age) >= 1);
    }
  });

  test('6.1.2 s-maxage wins over max-age', async () => {
    const s = setup(() => ok({ 'cache-control': 'max-age=5, s-maxage=60' }));
    await s.get('/a');
    s.clock.advance(10_000);
    const b = await s.get('/a');
    assert.equal(b.cacheStatus, 'HIT');
    assert.equal(s.origin.hits, 1);
  });

  test('6.1.3 Expires = Date+60 s is honoured; Expires before Date is not stored', async () => {
    const s = setup(() => ok({ date: httpDate(s.clock.now()), expires: httpDate(s.clock.now() + 60_000) }));
    await s.get('/a');
    s.clock.advance(30_000);
    assert.equal((await s.get('/a')).cacheStatus, 'HIT');
    assert.equal(s.origin.hits, 1);
    const t = setup(() => ok({ date: httpDate(t.clock.now()), expires: httpDate(t.clock.now() - 60_000) }));
    await t.get('/a');
    await t.get('/a');
    assert.equal(t.origin.hits, 2);
  });

  test('6.1.4 default TTL 120 s + grace 10 s', async () => {
    const s = setup(() => ok());
    await s.get('/a');
    s.clock.advance(60_000);
    assert.equal((await s.get('/a')).cacheStatus, 'HIT');
    s.clock.advance(75_000); // t = 135 s
    await s.get('/a');
    assert.equal(s.origin.hits, 2);
  });

  test('6.1.5 302 without freshness is not stored; 301 gets the default TTL', async () => {
    const s = setup(() => ({ status: 302, headers: { location: '/b' } }));
    await s.get('/r');
    await s.get('/r');
    assert.equal(s.origin.hits, 2);
    const t = setup(() => ({ status: 301, headers: { location: '/b' } }));
    await t.get('/r');
    await t.get('/r');
    assert.equal(t.origin.hits, 1);
  });

  test('6.1.6 a 503 is never stored', async () => {
    let n = 0;
    const s = setup(() => (n++ === 0 ? { status: 503, body: 'down' } : ok({ 'cache-control': 'max-age=60' })));
    assert.equal((await s.get('/a')).status, 503);
    assert.equal((await s.get('/a')).status, 200);
    assert.equal(s.origin.hits, 2);
  });

  test('6.1.7 Age from the origin shortens freshness and counts on delivery', async () => {
    const s = setup(() => ok({ 'cache-control': 'max-age=60', age: '50' }));
    const a = await s.get('/a');
    assert.ok(Number(a.headers.age) >= 50);
    s.clock.advance(15_000);
    const b = await s.get('/a');
    assert.notEqual(b.cacheStatus, 'HIT'); // expired at ~10 s: stale-with-refresh (grace) or refetch
    await b.background;
    assert.equal(s.origin.hits, 2);
  });

  test('6.1.8 POST is passed with its body and invalidates the stored GET object', async () => {
    const s = setup(() => ok({ 'cache-control': 'max-age=60' }));
    await s.get('/form');
    const post = await s.get('/form', { 'content-length': '3' }, { method: 'POST' });
    assert.equal(post.cacheStatus, 'PASS');
    assert.equal(s.origin.last.method, 'POST');
    assert.equal(s.origin.last.forwardBody, true);
    await s.get('/form');
    assert.equal(s.origin.hits, 3);
  });

  test('6.1.9 PRI → 405; extension methods passed; PURGE/BAN never forwarded', async () => {
    const s = setup(() => ok({ 'cache-control': 'max-age=60' }));
    assert.equal((await s.get('/', {}, { method: 'PRI' })).status, 405);
    const p = await s.get('/', {}, { method: 'PROPFIND' });
    assert.equal(p.cacheStatus, 'PASS');
    assert.equal(s.origin.hits, 1);
    for (const method of ['PURGE', 'BAN']) {
      assert.equal((await s.get('/', {}, { method })).status, 405);
      assert.equal((await s.get('/', {}, { method, purgeAllowed: true })).status, 200);
    }
    assert.equal(s.origin.hits, 1);
    assert.equal(s.engine.storage.stats().objects, 0);
  });

  test('6.1.10 HEAD miss fetches GET, answers without body with full Content-Length; GET then HITs', async () => {
    const img = Buffer.alloc(204_800, 7);
    const s = setup(() => ok({ 'cache-control': 'max-age=600', 'content-type': 'image/jpeg' }, img as unknown as string));
    const h = await s.get('/img.jpg', {}, { method: 'HEAD' });
    assert.equal(s.origin.last.method, 'GET');
    assert.equal(h.body, null);
    assert.equal(h.headers['content-length'], '204800');
    const g = await s.get('/img.jpg');
    assert.equal(g.cacheStatus, 'HIT');
    assert.equal(g.body?.length, 204_800);
    assert.equal(s.origin.hits, 1);
  });

  test('6.1.11 Range on a cold cache: full fetch, 206 to the client, 416 when unsatisfiable', async () => {
    const img = Buffer.alloc(204_800, 1);
    const s = setup(() => ok({ 'cache-control': 'max-age=600' }, img as unknown as string));
    const r = await s.get('/img.jpg', { range: 'bytes=0-99' });
    assert.equal(s.origin.last.headers.range, undefined);
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], 'bytes 0-99/204800');
    assert.equal(r.body?.length, 100);
    const r2 = await s.get('/img.jpg', { range: 'bytes=100-199' });
    assert.equal(r2.cacheStatus, 'HIT');
    assert.equal(r2.status, 206);
    const bad = await s.get('/img.jpg', { range: 'bytes=999999-' });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers['content-range'], 'bytes */204800');
    assert.equal(s.origin.hits, 1);
  });

  test('6.1.12 If-None-Match (strong and weak) on a stored object → 304 with ETag and Cache-Control', async () => {
    const s = setup(() => ok({ 'cache-control': 'max-age=60', etag: '"v1"' }));
    await s.get('/a');
    for (const inm of ['"v1"', 'W/"v1"']) {
      const r = await s.get('/a', { 'if-none-match': inm });
      assert.equal(r.status, 304);
      assert.equal(r.body, null);
      assert.equal(r.headers.etag, '"v1"');
      assert.equal(r.headers['cache-control'], 'max-age=60');
    }
    assert.equal(s.origin.hits, 1);
  });

  test('6.1.13 If-None-Match takes precedence over If-Modified-Since', async () => {
    const lm = httpDate(Date.parse('2025-12-01T00:00:00Z'));
    const s = setup(() => ok({ 'cache-control': 'max-age=60', etag: '"v1"', 'last-modified': lm }));
    await s.get('/a');
    const r = await s.get('/a', { 'if-none-match': '"other"', 'if-modified-since': lm });
    assert.equal(r.status, 200);
    assert.equal(r.text, 'B');
  });

  test('6.1.14 client conditionals are not forwarded on a miss; client still gets 304', async () => {
    const s = setup(() => ok({ 'cache-control': 'max-age=60', etag: '"v1"' }));
    const r = await s.get('/a', { 'if-none-match': '"v1"', 'if-modified-since': httpDate(s.clock.now()) });
    assert.equal(s.origin.last.headers['if-none-match'], undefined);
    assert.equal(s.origin.last.headers['if-modified-since'], undefined);
    assert.equal(r.status, 304);
  });

  test('6.1.15 keep: conditional refetch with the stored ETag, 304 refreshes the object', async () => {
    let n = 0;
    const s = setup(
      () =>
        n++ === 0
          ? ok({ 'cache-control': 'max-age=1', etag: '"e1"' }, 'ORIG')
          : { status: 304, headers: { 'cache-control': 'max-age=1', etag: '"e1"' } },
      {
        defaults: { keep: 60, grace: 0 },
      },
    );
    await s.get('/a');
    s.clock.advance(5000);
    const r = await s.get('/a');
    assert.equal(s.origin.last.headers['if-none-match'], '"e1"');
    assert.equal(r.status, 200);
    assert.equal(r.text, 'ORIG');
    s.clock.advance(500);
    assert.equal((await s.get('/a')).cacheStatus, 'HIT');
    assert.equal(s.origin.hits, 2);
  });

  test('6.1.16 Vary: Accept-Language keeps one variant per language', async () => {
    const s = setup((r) =>
      ok({ 'cache-control': 'max-age=60', vary: 'Accept-Language' }, `body-${r.headers['accept-language']}`),
    );
    await s.get('/a', { 'accept-language': 'en' });
    await s.get('/a', { 'accept-language': 'de' });
    const third = await s.get('/a', { 'accept-language': 'en' });
    assert.equal(s.origin.hits, 2);
    assert.equal(third.cacheStatus, 'HIT');
    assert.equal(third.text, 'body-en');
  });

  test('6.1.17 Vary: Accept-Encoding: gzip class and identity class, never gzip to a client that did not ask', async () => {
    const s = setup((r) =>
      r.headers['accept-encoding'] === 'gzip'
        ? {
            status: 200,
            headers: { 'cache-control': 'max-age=60', vary: 'Accept-Encoding', 'content-encoding': 'gzip' },
            body: gzipSync('hello'),
          }
        : ok({ 'cache-control': 'max-age=60', vary: 'Accept-Encoding' }, 'hello'),
    );
    const a = await s.get('/a', { 'accept-encoding': 'gzip, br' });
    const b = await s.get('/a');
    assert.equal(a.headers['content-encoding'], 'gzip');
    assert.equal(b.headers['content-encoding'], undefined);
    assert.equal(b.text, 'hello');
    await s.get('/a', { 'accept-encoding': 'br, gzip;q=0.5' });
    await s.get('/a', { 'accept-encoding': 'identity' });
    assert.equal(s.origin.hits, 2);
  });

  test('6.1.17 (b) a gzip object stored without Vary is gunzipped for clients without gzip', async () => {
    const s = setup(() => ({
      status: 200,
      headers: { 'cache-control': 'max-age=60', 'content-encoding': 'gzip' },
      body: gzipSync('plain'),
    }));
    await s.get('/a', { 'accept-encoding': 'gzip' });
    const b = await s.get('/a');
    assert.equal(b.headers['content-encoding'], undefined);
    assert.equal(b.text, 'plain');
  });

  test('6.1.18 Vary: * is never stored', async () => {
    const s = setup(() => ok({ 'cache-control': 'max-age=60', vary: '*' }));
    await s.get('/a');
    await s.get('/a');
    assert.equal(s.origin.hits, 2);
  });
});

describe('6.2 concurrency, stale and errors', () => {
  test('6.2.19 50 concurrent GETs on a cold key coalesce into one origin fetch', async () => {
    const s = setup(async () => {
      await sleep(50);
      return ok({ 'cache-control': 'max-age=60' }, 'same');
    });
    const all = await Promise.all(Array.from({ length: 50 }, () => s.get('/slow')));
    assert.equal(s.origin.hits, 1);
    assert.ok(all.every((r) => r.status === 200 && r.text === 'same'));
    assert.equal(s.engine.inflightCount, 0);
  });

  test('6.2.20 uncacheable (private) responses: waiters released in parallel, no coalescing under HFM', async () => {
    const s = setup(async () => {
      await sleep(100);
      return ok({ 'cache-control': 'private' });
    });
    await s.get('/p');
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 20 }, () => s.get('/p')));
    const took = performance.now() - t0;
    assert.equal(s.origin.hits, 21);
    assert.ok(took < 1000, `took ${took} ms: serialised (would be ≥ 2000 ms)?`);
  });

  test('6.2.20 (b) waiters of a first fetch that proves uncacheable fetch in parallel', async () => {
    const s = setup(async () => {
      await sleep(100);
      return ok({ 'cache-control': 'no-store' });
    });
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 10 }, () => s.get('/p')));
    assert.equal(s.origin.hits, 10);
    assert.ok(performance.now() - t0 < 600, 'serial would be ≥ 1000 ms');
  });

  test('6.2.21 hit-for-miss ends on a cacheable response', async () => {
    let n = 0;
    const s = setup(() => ok({ 'cache-control': n++ === 0 ? 'max-age=0' : 'max-age=60' }));
    await s.get('/a');
    s.clock.advance(1000);
    const second = await s.get('/a');
    assert.equal(second.cacheStatus, 'MISS');
    const third = await s.get('/a');
    assert.equal(third.cacheStatus, 'HIT');
    assert.equal(s.origin.hits, 2);
  });

  test('6.2.22 stale-while-revalidate: stale body at once, one background fetch, new body afterwards', async () => {
    let version = 'old';
    const s = setup(async () => {
      await sleep(300);
      return ok({ 'cache-control': 'max-age=2, stale-while-revalidate=30' }, version);
    });
    await s.get('/a');
    version = 'new';
    s.clock.advance(5000);
    const t0 = performance.now();
    const stale = await s.get('/a');
    assert.ok(performance.now() - t0 < 150, 'stale must not wait for the 300 ms origin');
    assert.equal(stale.text, 'old');
    assert.equal(stale.cacheStatus, 'STALE');
    assert.ok(Number(stale.headers.age) >= 5);
    const again = await s.get('/a'); // no second background fetch while one runs
    assert.equal(again.background, undefined);
    await stale.background;
    assert.equal(s.origin.hits, 2);
    s.clock.advance(2000);
    assert.equal((await s.get('/a')).text, 'new');
  });

  test('6.2.23 default grace 10 s: stale at t=5, synchronous fetch at t=20', async () => {
    const s = setup(() => ok({ 'cache-control': 'max-age=2' }));
    await s.get('/a');
    s.clock.advance(5000);
    const r5 = await s.get('/a');
    assert.equal(r5.cacheStatus, 'STALE');
    await r5.background;
    s.clock.advance(15_000);
    const r20 = await s.get('/a');
    assert.equal(r20.cacheStatus, 'MISS');
    assert.equal(s.origin.hits, 3);
  });

  test('6.2.24 stale-if-error serves the stale body on 503 and refused TCP; 503 Retry-After after the window', async () => {
    let mode: 'ok' | '503' | 'down' = 'ok';
    const s = setup(() =>
      mode === 'ok'
        ? ok({ 'cache-control': 'max-age=2, stale-if-error=600' }, 'stale-body')
        : mode === '503'
          ? { status: 503 }
          : 'error',
    );
    await s.get('/a');
    mode = '503';
    s.clock.advance(100_000);
    const r = await s.get('/a');
    assert.equal(r.status, 200);
    assert.equal(r.text, 'stale-body');
    assert.ok(Number(r.headers.age) >= 100);
    mode = 'down';
    assert.equal((await s.get('/a')).text, 'stale-body');
    s.clock.advance(600_000);
    const late = await s.get('/a');
    assert.equal(late.status, 503);
    assert.equal(late.headers['retry-after'], '5');
  });

  test('6.2.25 must-revalidate beats grace and stale-if-error', async () => {
    let up = true;
    const s = setup(() => (up ? ok({ 'cache-control': 'max-age=2, must-revalidate, stale-if-error=600' }) : 'error'));
    await s.get('/a');
    up = false;
    s.clock.advance(10_000);
    const r = await s.get('/a');
    assert.ok(r.status === 503 || r.status === 504);
    assert.notEqual(r.text, 'B');
  });
});

describe('6.3 cookies, authorization', () => {
  test('6.3.29 [SEC] generic: a Cookie request is passed and nothing is stored for the cookieless key', async () => {
    const s = setup(() => ok({ 'cache-control': 'max-age=60' }, 'personal'));
    await s.get('/a', { cookie: 'session=abc' });
    await s.get('/a', { cookie: 'session=abc' });
    assert.equal(s.origin.hits, 2);
    assert.equal(s.engine.storage.stats().objects, 0);
    assert.equal(s.origin.last.headers.cookie, 'session=abc');
  });

  test('6.3.30 [SEC] a response with Set-Cookie is never stored nor its cookie replayed to another client', async () => {
    for (const profile of ['generic', 'wordpress'] as const) {
      let n = 0;
      const s = setup(() => ok({ 'cache-control': 'max-age=60', 'set-cookie': [`sid=U${++n}`] }, 'x'), { profile });
      const c1 = await s.get('/a');
      assert.deepEqual(c1.headers['set-cookie'], ['sid=U1']);
      const c2 = await s.get('/a');
      assert.equal(s.origin.hits, 2);
      assert.deepEqual(c2.headers['set-cookie'], ['sid=U2']); // its own origin response, never client 1's
      s.origin.reply = () => ok({ 'cache-control': 'max-age=60' });
      await s.get('/a');
      const c3 = await s.get('/a');
      assert.equal(c3.cacheStatus, 'HIT');
      assert.equal(c3.headers['set-cookie'], undefined);
      for (const o of s.engine.storage.all()) assert.equal(o.headers['set-cookie'], undefined);
    }
  });

  test('6.3.34 [SEC] wordpress: logged-in cookie passes, is forwarded, not stored; anonymous gets anonymous object', async () => {
    const s = setup((r) => ok({ 'cache-control': 'max-age=600' }, r.headers.cookie ? 'ADMIN-BAR' : 'anon'), {
      profile: 'wordpress',
    });
    await s.get('/post/');
    const li = await s.get('/post/', { cookie: 'wordpress_logged_in_0123456789abcdef0123456789abcdef=admin|x|y' });
    assert.equal(li.cacheStatus, 'PASS');
    assert.equal(li.text, 'ADMIN-BAR');
    assert.match(String(s.origin.last.headers.cookie), /wordpress_logged_in_/);
    const anon = await s.get('/post/');
    assert.equal(anon.text, 'anon');
    assert.equal(anon.cacheStatus, 'HIT');
    for (const o of s.engine.storage.all()) assert.notEqual(o.body.toString(), 'ADMIN-BAR');
  });

  test('6.3.35 [SEC] wordpress: every session cookie passes with the cookie forwarded, nothing stored', async () => {
    const h = '0123456789abcdef0123456789abcdef';
    const cookies = [
      `wp-postpass_${h}=x`,
      `comment_author_${h}=bob`,
      'woocommerce_items_in_cart=1',
      'woocommerce_cart_hash=abc',
      `wp_woocommerce_session_${h}=s`,
    ];
    for (const cookie of cookies) {
      const s = setup(() => ok({ 'cache-control': 'max-age=600' }), { profile: 'wordpress' });
      const r = await s.get('/shop/', { cookie: `_ga=1; ${cookie}` });
      assert.equal(r.cacheStatus, 'PASS', cookie);
      assert.match(String(s.origin.last.headers.cookie), new RegExp(cookie.split('=')[0]!));
      assert.equal(s.engine.storage.stats().objects, 0);
    }
  });

  test('6.3.36 wordpress: analytics/test cookies are stripped and the anonymous object is a HIT', async () => {
    const s = setup(() => ok({ 'cache-control': 'max-age=600' }), { profile: 'wordpress' });
    const miss = await s.get('/', { cookie: '_ga=1; _fbp=2; wordpress_test_cookie=WP+Cookie+check' });
    assert.equal(s.origin.last.headers.cookie, undefined);
    assert.equal(miss.cacheStatus, 'MISS');
    const hit = await s.get('/', { cookie: '_ga=1; _fbp=2; wordpress_test_cookie=WP+Cookie+check' });
    assert.equal(hit.cacheStatus, 'HIT');
    assert.equal(s.origin.hits, 1);
  });

  test('6.3.37 [SEC] Authorization is passed, not stored, never served to others', async () => {
    for (const profile of ['generic', 'wordpress'] as const) {
      const s = setup((r) => ok({ 'cache-control': 'public, max-age=600' }, r.headers.authorization ? 'SECRET' : 'public'), {
        profile,
      });
      const a = await s.get('/staging/', { authorization: 'Basic dTpw' });
      assert.equal(a.cacheStatus, 'PASS');
      const b = await s.get('/staging/');
      assert.equal(b.text, 'public');
      assert.equal(s.origin.hits, 2);
    }
  });

  test('6.3.40 [SEC] private, max-age=600 and no-store are never stored', async () => {
    for (const cc of ['private, max-age=600', 'no-store', 'Private, max-age=600']) {
      for (const profile of ['generic', 'wordpress'] as const) {
        const s = setup(() => ok({ 'cache-control': cc }), { profile });
        await s.get('/a');
        await s.get('/a');
        assert.equal(s.origin.hits, 2, `${profile} ${cc}`);
      }
    }
  });
});

describe('6.4 paths', () => {
  test('6.4.41 wordpress: admin, login, cron, woo pages, ajax, add-to-cart and Store API are always passed', async () => {
    const urls = [
      '/wp-admin/',
      '/wp-admin/admin-ajax.php?action=x',
      '/wp-login.php',
      '/xmlrpc.php',
      '/wp-cron.php',
      '/cart/',
      '/checkout/',
      '/my-account/',
      '/?wc-ajax=get_refreshed_fragments',
      '/?add-to-cart=12',
      '/wp-json/wc/store/v1/cart',
    ];
    const s = setup(() => ok({ 'cache-control': 'public, max-age=600' }), { profile: 'wordpress' });
    for (const u of urls) {
      await s.get(u);
      await s.get(u);
    }
    assert.equal(s.origin.hits, urls.length * 2);
    assert.equal(s.engine.storage.stats().objects, 0);
  });

  test('6.4.42 [SEC] web cache deception: /my-account/x.css is never stored', async () => {
    for (const profile of ['generic', 'wordpress'] as const) {
      const s = setup(() => ok({ 'cache-control': 'private', 'set-cookie': ['wc=1'], 'content-type': 'text/html' }, 'ACCOUNT'), {
        profile,
      });
      for (const u of ['/my-account/x.css', '/my-account/;x.css']) {
        await s.get(u);
        await s.get(u);
      }
      assert.equal(s.origin.hits, 4);
      assert.equal(s.engine.storage.stats().objects, 0);
    }
  });

  test('6.4.47 wordpress: static files under /wp-content/ ignore (and strip) the logged-in cookie', async () => {
    const s = setup(() => ok({ 'cache-control': 'max-age=31536000', 'content-type': 'image/jpeg' }), { profile: 'wordpress' });
    const cookie = 'wordpress_logged_in_0123456789abcdef0123456789abcdef=admin';
    await s.get('/wp-content/uploads/x.jpg', { cookie });
    assert.equal(s.origin.last.headers.cookie, undefined);
    const hit = await s.get('/wp-content/uploads/x.jpg', { cookie });
    assert.equal(hit.cacheStatus, 'HIT');
    assert.equal(s.origin.hits, 1);
  });

  test('3.3 wordpress caps HTML TTL+grace at 12 h (nonce lifetime)', async () => {
    const s = setup(() => ok({ 'cache-control': 'max-age=86400', 'content-type': 'text/html' }), { profile: 'wordpress' });
    await s.get('/');
    s.clock.advance(12 * 3600 * 1000 + 1000);
    await s.get('/');
    assert.equal(s.origin.hits, 2);
  });

  test('3.2 wordpress: anonymous REST reads are stored only with explicit freshness', async () => {
    const s = setup(() => ok({}), { profile: 'wordpress' });
    await s.get('/wp-json/wp/v2/posts');
    await s.get('/wp-json/wp/v2/posts');
    assert.equal(s.origin.hits, 2);
    s.origin.reply = () => ok({ 'cache-control': 'max-age=60' });
    await s.get('/wp-json/wp/v2/posts');
    await s.get('/wp-json/wp/v2/posts');
    assert.equal(s.origin.hits, 3);
    const nonce = await s.get('/wp-json/wp/v2/posts', { 'x-wp-nonce': 'n' });
    assert.equal(nonce.cacheStatus, 'PASS');
  });
});

describe('6.5 host, scheme, headers', () => {
  test('6.5.48 [SEC] two hosts on the same origin get two objects', async () => {
    const s = setup((r) => ok({ 'cache-control': 'max-age=60' }, `for ${r.url}`));
    const a = await s.get('/', {}, { host: 'a.example' });
    const b = await s.get('/', {}, { host: 'b.example' });
    assert.equal(s.origin.hits, 2);
    assert.equal((await s.get('/', {}, { host: 'a.example' })).cacheStatus, 'HIT');
    assert.equal((await s.get('/', {}, { host: 'b.example' })).cacheStatus, 'HIT');
    assert.equal(a.status, b.status);
  });

  test('6.5.52 [SEC] http and https objects never mix (scheme is part of the key)', async () => {
    const s = setup((r) => ok({ 'cache-control': 'max-age=60' }, `scheme=${r.headers['x-test-scheme']}`));
    await s.get('/', { 'x-test-scheme': 'https' }, { scheme: 'https' });
    const http = await s.get('/', { 'x-test-scheme': 'http' }, { scheme: 'http' });
    assert.equal(http.text, 'scheme=http');
    assert.equal(s.origin.hits, 2);
  });

  test('6.5.54 [SEC] tag and surrogate headers are stripped on delivery (miss, hit, pass, hfm)', async () => {
    const internal = {
      'x-magento-tags': 'cat_p_1',
      'surrogate-key': 'k1 k2',
      'cache-tag': 'a,b',
      xkey: 'x',
      'surrogate-control': 'max-age=60',
      'x-magento-debug': '1',
    };
    const s = setup((r) => ok({ ...internal, 'cache-control': r.url === '/hfm' ? 'no-store' : 'max-age=60' }));
    const responses = [
      await s.get('/a'),
      await s.get('/a'),
      await s.get('/a', {}, { method: 'POST' }),
      await s.get('/hfm'),
      await s.get('/hfm'),
    ];
    for (const r of responses)
      for (const h of Object.keys(internal)) assert.equal(r.headers[h], undefined, `${r.cacheStatus} ${h}`);
    const [obj] = [...s.engine.storage.all()];
    assert.deepEqual([...(obj?.tags ?? [])].sort(), ['a', 'b', 'cat_p_1', 'k1', 'k2', 'x']);
  });
});

describe('6.7 WordPress purge plugins', () => {
  const wp = () =>
    setup((r) => ok({ 'cache-control': 'max-age=600' }, r.url), { profile: 'wordpress', profileOptions: { nginxHelper: true } });

  test('6.7.63 PURGE <url> with X-Purge-Method: default purges that URL of that host only', async () => {
    const s = wp();
    for (const host of ['blog.example', 'other.example'])
      for (const u of ['/2024/01/hello/', '/about/']) await s.get(u, {}, { host });
    const p = await s.get(
      '/2024/01/hello/',
      { 'x-purge-method': 'default' },
      { method: 'PURGE', host: 'blog.example', purgeAllowed: true },
    );
    assert.equal(p.status, 200);
    assert.ok(p.headers['content-length']);
    const before = s.origin.hits;
    assert.equal((await s.get('/2024/01/hello/', {}, { host: 'blog.example' })).cacheStatus, 'MISS');
    assert.equal((await s.get('/about/', {}, { host: 'blog.example' })).cacheStatus, 'HIT');
    assert.equal((await s.get('/2024/01/hello/', {}, { host: 'other.example' })).cacheStatus, 'HIT');
    assert.equal(s.origin.hits, before + 1);
  });

  test('6.7.64 PURGE /.* with X-Purge-Method: regex purges one host only', async () => {
    const s = wp();
    for (const host of ['blog.example', 'shop.example']) for (const u of ['/a', '/b?x=1']) await s.get(u, {}, { host });
    await s.get('/.*', { 'x-purge-method': 'regex' }, { method: 'PURGE', host: 'blog.example', purgeAllowed: true });
    assert.equal((await s.get('/a', {}, { host: 'blog.example' })).cacheStatus, 'MISS');
    assert.equal((await s.get('/b?x=1', {}, { host: 'blog.example' })).cacheStatus, 'MISS');
    assert.equal((await s.get('/a', {}, { host: 'shop.example' })).cacheStatus, 'HIT');
    await s.get('^/b', { 'x-purge-method': 'regex' }, { method: 'PURGE', host: 'shop.example', purgeAllowed: true });
    assert.equal((await s.get('/b?x=1', {}, { host: 'shop.example' })).cacheStatus, 'MISS');
    assert.equal((await s.get('/a', {}, { host: 'shop.example' })).cacheStatus, 'HIT');
  });

  test('6.7.65 [SEC] Nginx Helper purge from a non-ACL client → 403, nothing purged, origin hits 0', async () => {
    const s = wp();
    await s.get('/2024/01/hello/', {}, { host: 'blog.example' });
    const hits = s.origin.hits;
    assert.equal((await s.get('/purge/2024/01/hello/', {}, { host: 'blog.example' })).status, 403);
    assert.equal((await s.get('/purgeall', {}, { host: 'blog.example', method: 'PURGE' })).status, 403);
    assert.equal(s.origin.hits, hits);
    assert.equal((await s.get('/2024/01/hello/', {}, { host: 'blog.example' })).cacheStatus, 'HIT');
    const ok1 = await s.get('/purge/2024/01/hello/', {}, { host: 'blog.example', purgeAllowed: true });
    assert.equal(ok1.status, 200);
    assert.equal((await s.get('/2024/01/hello/', {}, { host: 'blog.example' })).cacheStatus, 'MISS');
    await s.get('/x', {}, { host: 'blog.example' });
    await s.get('/purgeall', {}, { host: 'blog.example', method: 'PURGE', purgeAllowed: true });
    assert.equal((await s.get('/x', {}, { host: 'blog.example' })).cacheStatus, 'MISS');
    assert.equal(s.origin.hits, hits + 3);
  });

  test('3.5 tag purge via X-Cache-Tags (Surrogate-Key / Cache-Tag indexed)', async () => {
    const s = setup((r) => ok({ 'cache-control': 'max-age=600', 'surrogate-key': r.url === '/a' ? 'post-1 home' : 'post-2' }));
    await s.get('/a');
    await s.get('/b');
    await s.get('/', { 'x-cache-tags': 'post-1' }, { method: 'PURGE', purgeAllowed: true });
    assert.equal((await s.get('/a')).cacheStatus, 'MISS');
    assert.equal((await s.get('/b')).cacheStatus, 'HIT');
  });

  test('2.2 a purge during an in-flight fetch prevents storing pre-purge content', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const s = setup(async () => {
      await gate;
      return ok({ 'cache-control': 'max-age=600' }, 'pre-save');
    });
    const inflight = s.get('/p');
    await sleep(5);
    await s.get('/p', { 'x-purge-method': 'default' }, { method: 'PURGE', purgeAllowed: true });
    release();
    assert.equal((await inflight).text, 'pre-save');
    s.origin.reply = () => ok({ 'cache-control': 'max-age=600' }, 'post-save');
    assert.equal((await s.get('/p')).text, 'post-save');
  });
});

describe('coalescing safety', () => {
  test('6.2.19 (b) a lost in-flight fetch (never completed) stops coalescing after maxFetchMs', async () => {
    const s = setup(() => ok({ 'cache-control': 'max-age=60' }));
    const v = s.engine.receive({
      method: 'GET',
      url: '/lost',
      host: 'a.example',
      scheme: 'https',
      headers: {},
      purgeAllowed: false,
    });
    assert.equal(v.kind, 'miss');
    const w = s.engine.receive({
      method: 'GET',
      url: '/lost',
      host: 'a.example',
      scheme: 'https',
      headers: {},
      purgeAllowed: false,
    });
    assert.equal(w.kind, 'wait');
    s.clock.advance(601_000);
    const r = await s.get('/lost');
    assert.equal(r.status, 200);
    assert.equal(w.kind === 'wait' ? await w.until : undefined, 'failed');
  });
});

describe('storage', () => {
  test('memory storage evicts least recently used keys to stay under its byte bound', async () => {
    const clock = new FakeClock();
    const storage = new MemoryStorage({ maxBytes: 9000, maxObjectBytes: 5000 });
    const engine = new CacheEngine({ profile: genericProfile(), storage, clock });
    const origin: OriginFn = () => ok({ 'cache-control': 'max-age=600' }, 'x'.repeat(3000));
    const req = (url: string): CacheRequest => ({
      method: 'GET',
      url,
      host: 'h',
      scheme: 'http',
      headers: {},
      purgeAllowed: false,
    });
    await drive(engine, req('/1'), origin);
    await drive(engine, req('/2'), origin);
    await drive(engine, req('/1'), origin); // touch /1
    await drive(engine, req('/3'), origin); // evicts /2
    assert.ok(storage.stats().bytes <= 9000);
    assert.equal(storage.variants(CacheEngine.key('http', 'h', '/2')).length, 0);
    assert.equal(storage.variants(CacheEngine.key('http', 'h', '/1')).length, 1);
    const big = await drive(engine, req('/big'), () => ok({ 'cache-control': 'max-age=600' }, 'y'.repeat(6000)));
    assert.equal(big.status, 200);
    assert.equal(storage.variants(CacheEngine.key('http', 'h', '/big')).length, 0);
  });
});
