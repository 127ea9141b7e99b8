import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import type { Clock } from '@triplane/kernel';
import {
  type CompressionPolicy,
  compressible,
  compressibleType,
  DEFAULT_COMPRESSION,
  markEncoded,
  negotiateEncoding,
  varyAcceptEncoding,
} from './compress.ts';
import { drive, type OriginReply } from './drive.ts';
import { CacheEngine } from './engine.ts';
import { genericProfile } from './generic-profile.ts';
import type { HeaderMap } from './headers.ts';
import { MemoryStorage } from './memory-storage.ts';
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

const PAGE = Buffer.from(
  Array.from({ length: 200 }, (_, i) => `<li class="item-${i % 7}"><a href="/p/${i}">Product ${i}</a></li>\n`).join(''),
);

/** `null` = compression off. */
function setup(
  reply: (r: OriginRequest) => OriginReply,
  compression: CompressionPolicy | null = DEFAULT_COMPRESSION,
  maxObjectBytes?: number,
) {
  const clock = new FakeClock();
  const storage = new MemoryStorage({ maxBytes: 64 * 1024 * 1024, maxObjectBytes });
  const engine = new CacheEngine({ profile: genericProfile(), storage, clock, compression: compression ?? undefined });
  let hits = 0;
  const get = (url: string, headers: HeaderMap = {}, method = 'GET') => {
    const req: CacheRequest = { method, url, host: 'a.example', scheme: 'http', headers, purgeAllowed: false };
    return drive(engine, req, (r) => {
      hits++;
      return reply(r);
    });
  };
  return { clock, storage, engine, get, hits: () => hits };
}

const html = (extra: HeaderMap = {}, body: Buffer = PAGE): OriginReply => ({
  status: 200,
  headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'max-age=60', etag: '"v1"', ...extra },
  body,
});

describe('negotiateEncoding (RFC 9110 §12.5.3)', () => {
  const both = ['br', 'gzip'] as const;
  test('server preference on ties, q-values decide otherwise', () => {
    assert.equal(negotiateEncoding('gzip, deflate, br', both), 'br');
    assert.equal(negotiateEncoding('gzip', both), 'gzip');
    assert.equal(negotiateEncoding('br;q=0.5, gzip', both), 'gzip');
    assert.equal(negotiateEncoding('br;q=1.0, gzip;q=0.9', both), 'br');
    assert.equal(negotiateEncoding('x-gzip', both), 'gzip');
    assert.equal(negotiateEncoding('GZIP;Q=0.3', both), 'gzip');
  });
  test('q=0, identity, absent and malformed values give identity', () => {
    assert.equal(negotiateEncoding(undefined, both), undefined);
    assert.equal(negotiateEncoding('', both), undefined);
    assert.equal(negotiateEncoding('identity', both), undefined);
    assert.equal(negotiateEncoding('gzip;q=0, br;q=0', both), undefined);
    assert.equal(negotiateEncoding('br;q=0', ['br']), undefined);
    assert.equal(negotiateEncoding('gzip;q=2', both), undefined);
    assert.equal(negotiateEncoding('gzip;q=abc', both), undefined);
    assert.equal(negotiateEncoding('gzip, gzip;q=0', both), undefined, 'a repeated coding keeps its refusal');
    assert.equal(negotiateEncoding('deflate, compress', both), undefined);
  });
  test('* covers codings not listed, never one refused by name', () => {
    assert.equal(negotiateEncoding('*', both), 'br');
    assert.equal(negotiateEncoding('br;q=0, *', both), 'gzip');
    assert.equal(negotiateEncoding('*;q=0', both), undefined);
    assert.equal(negotiateEncoding('br', ['gzip']), undefined, 'only what the policy offers');
  });
});

describe('compressible', () => {
  const p = DEFAULT_COMPRESSION;
  const h = (x: HeaderMap = {}): HeaderMap => ({ 'content-type': 'text/css', ...x });
  test('types', () => {
    for (const t of [
      'text/html; charset=utf-8',
      'text/css',
      'application/javascript',
      'application/json',
      'application/ld+json',
      'application/xml',
      'application/rss+xml',
      'image/svg+xml',
      'font/ttf',
    ]) {
      assert.ok(compressibleType(t), t);
    }
    for (const t of ['image/png', 'image/jpeg', 'video/mp4', 'application/zip', 'font/woff2', 'text/event-stream', undefined]) {
      assert.ok(!compressibleType(t), String(t));
    }
  });
  test('statuses, encodings, no-transform, size', () => {
    assert.ok(compressible(p, 200, h(), 5000));
    assert.ok(compressible(p, 404, h(), 5000));
    assert.ok(compressible(p, 200, h(), undefined), 'unknown length (streamed) is compressed');
    for (const s of [204, 206, 304, 101]) assert.ok(!compressible(p, s, h(), 5000), String(s));
    assert.ok(!compressible(p, 200, h({ 'content-encoding': 'gzip' }), 5000));
    assert.ok(compressible(p, 200, h({ 'content-encoding': 'identity' }), 5000));
    assert.ok(!compressible(p, 200, h({ 'cache-control': 'public, no-transform' }), 5000));
    assert.ok(!compressible(p, 200, h({ 'content-range': 'bytes 0-9/100' }), 5000));
    assert.ok(!compressible(p, 200, h(), 1023));
    assert.ok(!compressible(p, 200, h({ 'content-length': '100' })));
    assert.ok(compressible(p, 200, h({ 'content-length': '1024' })));
    assert.ok(!compressible(undefined, 200, h(), 5000));
    assert.ok(!compressible({ gzip: false, brotli: false, minBytes: 0 }, 200, h(), 5000));
  });
});

describe('header helpers', () => {
  test('Vary merges Accept-Encoding once; ETag becomes weak', () => {
    const a: HeaderMap = {};
    varyAcceptEncoding(a);
    assert.equal(a.vary, 'Accept-Encoding');
    const b: HeaderMap = { vary: 'Accept-Language' };
    varyAcceptEncoding(b);
    varyAcceptEncoding(b);
    assert.equal(b.vary, 'Accept-Language, Accept-Encoding');
    const c: HeaderMap = { vary: 'accept-encoding' };
    varyAcceptEncoding(c);
    assert.equal(c.vary, 'accept-encoding');
    const d: HeaderMap = { etag: '"x"' };
    markEncoded(d, 'br');
    assert.deepEqual(d, { etag: 'W/"x"', 'content-encoding': 'br', vary: 'Accept-Encoding' });
    const e: HeaderMap = { etag: 'W/"y"' };
    markEncoded(e, 'gzip');
    assert.equal(e.etag, 'W/"y"');
  });
});

describe('engine: compress once at store, deliver the stored encoding', () => {
  test('one origin fetch; br, gzip and identity clients each get their encoding from the one object', async () => {
    const s = setup(() => html());
    const a = await s.get('/p', { 'accept-encoding': 'gzip, deflate, br' });
    assert.equal(a.cacheStatus, 'MISS');
    assert.equal(a.headers['content-encoding'], 'br');
    assert.equal(a.headers.vary, 'Accept-Encoding');
    assert.equal(a.headers.etag, 'W/"v1"');
    assert.deepEqual(brotliDecompressSync(a.body!), PAGE);
    assert.equal(a.headers['content-length'], String(a.body!.length));
    assert.ok(a.body!.length < PAGE.length / 3);

    const b = await s.get('/p', { 'accept-encoding': 'gzip' });
    assert.equal(b.cacheStatus, 'HIT');
    assert.equal(b.headers['content-encoding'], 'gzip');
    assert.deepEqual(gunzipSync(b.body!), PAGE);

    const c = await s.get('/p');
    assert.equal(c.cacheStatus, 'HIT');
    assert.equal(c.headers['content-encoding'], undefined);
    assert.equal(c.headers.vary, 'Accept-Encoding', 'identity responses vary too, for downstream caches');
    assert.equal(c.headers.etag, '"v1"');
    assert.deepEqual(c.body, PAGE);

    const d = await s.get('/p', { 'accept-encoding': 'br;q=0, gzip;q=0' });
    assert.equal(d.headers['content-encoding'], undefined);
    assert.equal(s.hits(), 1);

    // The hit serves the very Buffer stored at miss time: compressed once, not per request.
    const e = await s.get('/p', { 'accept-encoding': 'br' });
    const f = await s.get('/p', { 'accept-encoding': 'br' });
    assert.equal(e.body!.buffer, f.body!.buffer);
    assert.equal(e.body, f.body);
  });

  test('memory accounting includes the encoded bodies', async () => {
    const s = setup(() => html());
    const plain = setup(() => html(), null);
    await s.get('/p', { 'accept-encoding': 'br' });
    await plain.get('/p', { 'accept-encoding': 'br' });
    const [obj] = [...s.storage.all()];
    assert.ok(obj?.encodings?.br && obj.encodings.gzip);
    const extra = obj.encodings.br.length + obj.encodings.gzip.length;
    assert.ok(s.storage.stats().bytes >= plain.storage.stats().bytes + extra);
    assert.equal(s.storage.stats().bytes, obj.size);
  });

  test('an object that fits only without its encoded copies is stored identity-only (not dropped)', async () => {
    const s = setup(() => html(), DEFAULT_COMPRESSION, PAGE.length + 600);
    const a = await s.get('/p', { 'accept-encoding': 'br' });
    assert.equal(a.headers['content-encoding'], undefined);
    const b = await s.get('/p', { 'accept-encoding': 'br' });
    assert.equal(b.cacheStatus, 'HIT');
    assert.equal([...s.storage.all()][0]?.encodings, undefined);
    assert.equal(s.hits(), 1);
  });

  test('If-None-Match matches the weak (encoded) and the strong (identity) ETag; the 304 carries Vary and the weak ETag', async () => {
    const s = setup(() => html());
    await s.get('/p');
    for (const inm of ['W/"v1"', '"v1"']) {
      const r = await s.get('/p', { 'accept-encoding': 'br', 'if-none-match': inm });
      assert.equal(r.status, 304, inm);
      assert.equal(r.body, null);
      assert.equal(r.headers.etag, 'W/"v1"');
      assert.equal(r.headers.vary, 'Accept-Encoding');
      assert.equal(r.headers['content-encoding'], undefined);
    }
    const id = await s.get('/p', { 'if-none-match': 'W/"v1"' });
    assert.equal(id.status, 304, 'weak comparison for If-None-Match');
    const miss = await s.get('/p', { 'accept-encoding': 'gzip', 'if-none-match': '"v2"' });
    assert.equal(miss.status, 200);
  });

  test('Range is served from the identity body; HEAD has the same headers as GET without a body', async () => {
    const s = setup(() => html());
    await s.get('/p');
    const r = await s.get('/p', { 'accept-encoding': 'br', range: 'bytes=0-9' });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-encoding'], undefined);
    assert.equal(r.text, PAGE.subarray(0, 10).toString());
    assert.equal(r.headers['content-range'], `bytes 0-9/${PAGE.length}`);
    const ir = await s.get('/p', { 'accept-encoding': 'br', range: 'bytes=0-9', 'if-range': '"v1"' });
    assert.equal(ir.status, 206, 'strong If-Range still matches the identity ETag');

    const get = await s.get('/p', { 'accept-encoding': 'gzip' });
    const head = await s.get('/p', { 'accept-encoding': 'gzip' }, 'HEAD');
    assert.equal(head.body, null);
    for (const k of ['content-encoding', 'content-length', 'vary', 'etag']) assert.equal(head.headers[k], get.headers[k], k);
  });

  test('not compressed: small bodies, images, no-transform, origin-encoded, policy off; gzip-only policy', async () => {
    const cases: Array<[string, OriginReply]> = [
      ['/small', html({}, Buffer.from('<p>tiny</p>'))],
      ['/img', { status: 200, headers: { 'content-type': 'image/png', 'cache-control': 'max-age=60' }, body: PAGE }],
      ['/nt', html({ 'cache-control': 'max-age=60, no-transform' })],
    ];
    for (const [url, reply] of cases) {
      const s = setup(() => reply);
      await s.get(url);
      const r = await s.get(url, { 'accept-encoding': 'br, gzip' });
      assert.equal(r.headers['content-encoding'], undefined, url);
      assert.equal(r.headers.vary, undefined, url);
      assert.equal([...s.storage.all()][0]?.encodings, undefined, url);
    }
    const off = setup(() => html(), null);
    assert.equal((await off.get('/p', { 'accept-encoding': 'br' })).headers['content-encoding'], undefined);
    const gz = setup(() => html(), { gzip: true, brotli: false, minBytes: 1024 });
    const g = await gz.get('/p', { 'accept-encoding': 'br, gzip' });
    assert.equal(g.headers['content-encoding'], 'gzip');
    assert.equal((await gz.get('/p', { 'accept-encoding': 'br' })).headers['content-encoding'], undefined);
  });

  test('a 304 revalidation keeps the encoded copies; encodings given by the adapter are used as they are', async () => {
    const s = setup((r) => (r.headers['if-none-match'] ? { status: 304, headers: { 'cache-control': 'max-age=60' } } : html()));
    const engineKeep = s.engine;
    await s.get('/p');
    s.clock.advance(61_000);
    // grace (10 s default) → stale hit + background revalidation answered 304
    const stale = await s.get('/p', { 'accept-encoding': 'br' });
    await stale.background;
    const r = await s.get('/p', { 'accept-encoding': 'br' });
    assert.equal(r.cacheStatus, 'HIT');
    assert.equal(r.headers['content-encoding'], 'br');
    assert.deepEqual(brotliDecompressSync(r.body!), PAGE);
    assert.equal(s.hits(), 2);
    assert.ok(engineKeep);

    // adapter-side (off-thread) compression: originBody takes the encodings it is given
    const t = setup(() => html());
    const v = t.engine.receive({ method: 'GET', url: '/q', host: 'a.example', scheme: 'http', headers: {}, purgeAllowed: false });
    assert.equal(v.kind, 'miss');
    if (v.kind !== 'miss') return;
    const d = t.engine.originHeaders(v.fetch, 200, html().headers!);
    assert.equal(d.kind, 'store');
    assert.deepEqual(t.engine.encodingsFor(v.fetch, PAGE), ['br', 'gzip']);
    const fake = Buffer.from('pretend-br');
    const obj = t.engine.originBody(v.fetch, PAGE, { br: fake });
    assert.equal(obj.encodings?.br, fake);
    assert.equal(obj.encodings?.gzip, undefined);
  });
});
