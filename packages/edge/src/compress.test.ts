import assert from 'node:assert/strict';
import { type IncomingHttpHeaders, request } from 'node:http';
import { connect as h2connect } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { type EdgeHandle, startEdge } from './server.ts';
import { type SeenRequest, startOrigin, type TestOrigin } from './testing.ts';

/** A 30 KB HTML page: compressible, above minBytes. */
const PAGE = Buffer.from(
  Array.from({ length: 400 }, (_, i) => `<li class="row-${i % 9}"><a href="/product/${i}">Product ${i}</a></li>\n`).join(''),
);
const CSS = Buffer.from(
  Array.from({ length: 200 }, (_, i) => `.c${i} { color: #${(i * 4099).toString(16).slice(0, 3)}; }\n`).join(''),
);

interface BinReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** GET/HEAD with raw bytes back (the shared httpGet decodes to a string). */
function fetchRaw(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<BinReply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method, headers: { host: 'c.example', ...headers }, agent: false, setHost: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function decode(r: BinReply): Buffer {
  const ce = r.headers['content-encoding'];
  return ce === 'br' ? brotliDecompressSync(r.body) : ce === 'gzip' ? gunzipSync(r.body) : r.body;
}

function originHandler(seen: SeenRequest, res: import('node:http').ServerResponse) {
  const path = seen.url.split('?')[0]!;
  const html = { 'content-type': 'text/html; charset=utf-8' };
  switch (path) {
    case '/page':
      res.writeHead(200, { ...html, 'cache-control': 'max-age=60', etag: '"p1"', 'content-length': String(PAGE.length) });
      return res.end(PAGE);
    case '/nt':
      res.writeHead(200, { ...html, 'cache-control': 'max-age=60, no-transform' });
      return res.end(PAGE);
    case '/small':
      res.writeHead(200, { ...html, 'cache-control': 'max-age=60' });
      return res.end('<p>small</p>');
    case '/private':
      // uncacheable: streamed through the edge (hit-for-miss), compressed on the fly
      res.writeHead(200, { ...html, 'cache-control': 'private', etag: '"u1"' });
      res.write(PAGE.subarray(0, 10_000));
      setTimeout(() => res.end(PAGE.subarray(10_000)), 20);
      return;
    case '/precompressed':
      res.writeHead(200, { 'content-type': 'application/javascript', 'cache-control': 'max-age=60', 'content-encoding': 'br' });
      return res.end(Buffer.from('not really br, must pass untouched'));
    case '/theme/style.css':
    case '/plain/style.css':
      res.writeHead(200, { 'content-type': 'text/css' });
      return res.end(CSS);
    case '/theme/nostore.css':
      res.writeHead(200, { 'content-type': 'text/css', 'cache-control': 'no-store' });
      return res.end(CSS);
    case '/theme/logo.png':
      res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'private, max-age=5' });
      return res.end(Buffer.alloc(4000, 7));
    default:
      res.writeHead(200, { ...html, 'cache-control': 'max-age=60' });
      return res.end(PAGE);
  }
}

describe('edge: compression and static browser-cache headers over the wire', () => {
  let origin: TestOrigin;
  let edge: EdgeHandle;
  before(async () => {
    origin = await startOrigin(originHandler);
    edge = await startEdge({
      config: {
        listen: { http: '127.0.0.1:0' },
        debugHeaders: true,
        sites: [
          { name: 'cached', hosts: ['c.example'], upstreams: [origin.url], cache: { profile: 'generic' } },
          {
            name: 'passed',
            hosts: ['p.example'],
            upstreams: [origin.url],
            cache: { profile: 'off' },
            static: { maxAgeS: 31536000, immutable: true, extensions: ['css', '.PNG'] },
          },
          {
            name: 'raw',
            hosts: ['r.example'],
            upstreams: [origin.url],
            cache: { profile: 'generic' },
            compression: { gzip: false, brotli: false },
            static: { maxAgeS: 0 },
          },
          { name: 'gz', hosts: ['g.example'], upstreams: [origin.url], compression: { brotli: false, minBytes: 10 } },
        ],
      },
    });
  });
  after(async () => {
    await edge.close();
    await origin.close();
  });
  const port = () => edge.address.port;
  const hitsFor = (path: string) => origin.seen.filter((s) => s.url === path).length;

  test('cached object: compressed once at store; br, gzip and identity clients; one origin fetch', async () => {
    const a = await fetchRaw(port(), '/page', { 'accept-encoding': 'gzip, deflate, br' });
    assert.equal(a.headers['x-cache'], 'MISS');
    assert.equal(a.headers['content-encoding'], 'br');
    assert.equal(a.headers.vary, 'Accept-Encoding');
    assert.equal(a.headers.etag, 'W/"p1"');
    assert.equal(a.headers['content-length'], String(a.body.length));
    assert.deepEqual(decode(a), PAGE);
    assert.ok(a.body.length < PAGE.length / 4, `br ${a.body.length} of ${PAGE.length}`);

    const b = await fetchRaw(port(), '/page', { 'accept-encoding': 'br' });
    assert.equal(b.headers['x-cache'], 'HIT');
    assert.deepEqual(b.body, a.body, 'the stored br body, byte for byte');

    const g = await fetchRaw(port(), '/page', { 'accept-encoding': 'gzip' });
    assert.equal(g.headers['x-cache'], 'HIT');
    assert.equal(g.headers['content-encoding'], 'gzip');
    assert.deepEqual(decode(g), PAGE);

    const id = await fetchRaw(port(), '/page');
    assert.equal(id.headers['content-encoding'], undefined);
    assert.equal(id.headers.vary, 'Accept-Encoding');
    assert.equal(id.headers.etag, '"p1"');
    assert.deepEqual(id.body, PAGE);
    assert.equal(hitsFor('/page'), 1, 'one origin fetch for every encoding');

    // the origin was asked with the engine's normalised Accept-Encoding (gzip class), spec §1.8
    assert.equal(origin.seen.find((s) => s.url === '/page')?.headers['accept-encoding'], 'gzip');
    // memory accounting: the stored object is charged for its encoded copies too
    const obj = [...edge.storage.all()].find((o) => o.url === '/page');
    assert.ok(obj?.encodings?.br && obj.encodings.gzip);
    assert.ok(obj.size >= PAGE.length + obj.encodings.br.length + obj.encodings.gzip.length);
  });

  test('q-values and identity: br refused → gzip; everything refused → identity; never an unaccepted coding', async () => {
    await fetchRaw(port(), '/q');
    const cases: Array<[string, string | undefined]> = [
      ['br;q=0, gzip', 'gzip'],
      ['gzip;q=0.4, br;q=0.8', 'br'],
      ['gzip;q=1, br;q=0.5', 'gzip'],
      ['identity', undefined],
      ['gzip;q=0, br;q=0', undefined],
      ['*;q=0', undefined],
      ['deflate', undefined],
      ['*', 'br'],
    ];
    for (const [ae, want] of cases) {
      const r = await fetchRaw(port(), '/q', { 'accept-encoding': ae });
      assert.equal(r.headers['content-encoding'], want, ae);
      assert.deepEqual(decode(r), PAGE, ae);
    }
    assert.equal(hitsFor('/q'), 1);
  });

  test('ETag and If-None-Match: the weak (encoded) and the strong (identity) form both give 304', async () => {
    await fetchRaw(port(), '/page', { 'accept-encoding': 'br' });
    for (const inm of ['W/"p1"', '"p1"']) {
      for (const ae of ['br', 'gzip', '']) {
        const r = await fetchRaw(port(), '/page', { 'accept-encoding': ae, 'if-none-match': inm });
        assert.equal(r.status, 304, `${inm} ${ae}`);
        assert.equal(r.body.length, 0);
        assert.equal(r.headers.vary, 'Accept-Encoding');
        assert.equal(r.headers['content-encoding'], undefined);
      }
    }
    const changed = await fetchRaw(port(), '/page', { 'accept-encoding': 'br', 'if-none-match': 'W/"p0"' });
    assert.equal(changed.status, 200);
  });

  test('Range gets the identity representation; HEAD has the GET headers and no body', async () => {
    const r = await fetchRaw(port(), '/page', { 'accept-encoding': 'br, gzip', range: 'bytes=10-19' });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-encoding'], undefined);
    assert.deepEqual(r.body, PAGE.subarray(10, 20));
    for (const ae of ['br', 'gzip', '']) {
      const get = await fetchRaw(port(), '/page', { 'accept-encoding': ae });
      const head = await fetchRaw(port(), '/page', { 'accept-encoding': ae }, 'HEAD');
      assert.equal(head.body.length, 0);
      for (const k of ['content-encoding', 'content-length', 'vary', 'etag', 'content-type']) {
        assert.equal(head.headers[k], get.headers[k], `${ae} ${k}`);
      }
    }
  });

  test('not compressed: no-transform, small bodies, origin-encoded bodies, site with compression off', async () => {
    const nt = await fetchRaw(port(), '/nt', { 'accept-encoding': 'br, gzip' });
    assert.equal(nt.headers['content-encoding'], undefined);
    assert.deepEqual(nt.body, PAGE);
    const small = await fetchRaw(port(), '/small', { 'accept-encoding': 'br, gzip' });
    assert.equal(small.headers['content-encoding'], undefined);
    const pre = await fetchRaw(port(), '/precompressed', { 'accept-encoding': 'br' });
    assert.equal(pre.headers['content-encoding'], 'br');
    assert.equal(pre.body.toString(), 'not really br, must pass untouched');
    const off = await fetchRaw(port(), '/page', { host: 'r.example', 'accept-encoding': 'br, gzip' });
    assert.equal(off.headers['content-encoding'], undefined);
    assert.equal(off.headers.vary, undefined);
    assert.deepEqual(off.body, PAGE);
    // gzip-only site with a 10-byte threshold
    const gz = await fetchRaw(port(), '/small', { host: 'g.example', 'accept-encoding': 'br, gzip' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(decode(gz).toString(), '<p>small</p>');
  });

  test('streamed (uncacheable and passed) responses are compressed on the fly, chunked, HEAD alike', async () => {
    const before = hitsFor('/private');
    const a = await fetchRaw(port(), '/private', { 'accept-encoding': 'gzip, br' });
    assert.equal(a.headers['x-cache'], 'MISS');
    assert.equal(a.headers['content-encoding'], 'br');
    assert.equal(a.headers['content-length'], undefined);
    assert.equal(a.headers['transfer-encoding'], 'chunked');
    assert.equal(a.headers.etag, 'W/"u1"');
    assert.equal(a.headers.vary, 'Accept-Encoding');
    assert.deepEqual(decode(a), PAGE);
    const g = await fetchRaw(port(), '/private', { 'accept-encoding': 'gzip' });
    assert.equal(g.headers['content-encoding'], 'gzip');
    assert.deepEqual(decode(g), PAGE);
    const id = await fetchRaw(port(), '/private', { 'accept-encoding': 'identity' });
    assert.equal(id.headers['content-encoding'], undefined);
    assert.equal(id.headers.vary, 'Accept-Encoding');
    assert.deepEqual(id.body, PAGE);
    assert.equal(hitsFor('/private') - before, 3);

    // a cache-off site passes everything; the client's Accept-Encoding reaches the origin untouched
    const p = await fetchRaw(port(), '/other', { host: 'p.example', 'accept-encoding': 'gzip' });
    assert.equal(p.headers['content-encoding'], 'gzip');
    assert.deepEqual(decode(p), PAGE);
    const ph = await fetchRaw(port(), '/other', { host: 'p.example', 'accept-encoding': 'gzip' }, 'HEAD');
    assert.equal(ph.headers['content-encoding'], 'gzip');
    assert.equal(ph.headers['content-length'], undefined);
    assert.equal(ph.body.length, 0);
  });

  test('static assets: browser max-age when the origin said nothing; explicit origin headers win; the cache stores what the origin sent', async () => {
    const css = await fetchRaw(port(), '/theme/style.css', { 'accept-encoding': 'gzip' });
    assert.equal(css.headers['cache-control'], 'public, max-age=2592000', 'default: 30 days');
    assert.equal(css.headers['content-encoding'], 'gzip');
    assert.deepEqual(decode(css), CSS);
    const hit = await fetchRaw(port(), '/theme/style.css?ver=6.4');
    assert.equal(hit.headers['cache-control'], 'public, max-age=2592000', 'query strings do not hide the extension');
    // what the cache holds is the origin's response: no invented Cache-Control, default TTL (spec §1.4)
    const obj = [...edge.storage.all()].find((o) => o.url === '/theme/style.css');
    assert.equal(obj?.headers['cache-control'], undefined);
    assert.equal(obj?.ttl, 120);

    const nostore = await fetchRaw(port(), '/theme/nostore.css');
    assert.equal(nostore.headers['cache-control'], 'no-store');
    const page = await fetchRaw(port(), '/theme/');
    assert.equal(page.headers['cache-control'], 'max-age=60');

    // per-site policy: 1 year + immutable, own extension list (".PNG" normalised); explicit private kept
    const p = await fetchRaw(port(), '/plain/style.css', { host: 'p.example' });
    assert.equal(p.headers['cache-control'], 'public, max-age=31536000, immutable');
    const png = await fetchRaw(port(), '/theme/logo.png', { host: 'p.example' });
    assert.equal(png.headers['cache-control'], 'private, max-age=5');
    const js = await fetchRaw(port(), '/plain/app.js', { host: 'p.example' });
    assert.equal(js.headers['cache-control'], 'max-age=60', 'js is not in that site list; origin header untouched');
    const off = await fetchRaw(port(), '/plain/style.css', { host: 'r.example' });
    assert.equal(off.headers['cache-control'], undefined, 'maxAgeS 0 turns the policy off');
  });
});

describe('edge: compression over HTTP/2', () => {
  test('stored (br) and streamed (gzip) bodies over h2; HEAD alike', async () => {
    const origin = await startOrigin(originHandler);
    const edge = await startEdge({
      config: {
        listen: { http: '127.0.0.1:0', https: '127.0.0.1:0' },
        debugHeaders: true,
        sites: [{ name: 'cached', hosts: ['c.example'], upstreams: [origin.url], cache: { profile: 'generic' } }],
      },
    });
    const port = edge.httpsAddress?.port;
    assert.ok(port);
    const session = h2connect(`https://127.0.0.1:${port}`, { servername: 'c.example', rejectUnauthorized: false });
    session.on('error', () => {});
    const get = (path: string, ae: string, method = 'GET') =>
      new Promise<BinReply>((resolve, reject) => {
        const req = session.request({ ':path': path, ':authority': 'c.example', ':method': method, 'accept-encoding': ae });
        let headers: IncomingHttpHeaders = {};
        const chunks: Buffer[] = [];
        req.on('response', (h) => {
          headers = h as IncomingHttpHeaders;
        });
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks) }));
        req.on('error', reject);
        req.end();
      });
    try {
      const miss = await get('/page', 'br');
      const hit = await get('/page', 'br');
      assert.equal(hit.headers['x-cache'], 'HIT');
      for (const r of [miss, hit]) {
        assert.equal(r.status, 200);
        assert.equal(r.headers['content-encoding'], 'br');
        assert.deepEqual(decode(r), PAGE);
      }
      const streamed = await get('/private', 'gzip');
      assert.equal(streamed.headers['content-encoding'], 'gzip');
      assert.deepEqual(decode(streamed), PAGE);
      const head = await get('/page', 'gzip', 'HEAD');
      assert.equal(head.headers['content-encoding'], 'gzip');
      assert.equal(head.body.length, 0);
    } finally {
      session.close();
      await edge.close();
      await origin.close();
    }
  });
});

describe('edge: compression of assembled ESI pages', () => {
  test('a Magento page with includes is assembled, then compressed; the fragment is spliced uncompressed', async () => {
    const filler = `<p>${'catalog '.repeat(400)}</p>`;
    const origin = await startOrigin((seen, res) => {
      if (seen.url.startsWith('/page_cache/block/esi/')) {
        res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'public, max-age=3600' });
        return res.end(`<nav>${'menu '.repeat(300)}</nav>`);
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=UTF-8', 'cache-control': 'public, max-age=86400' });
      res.end(`<html><esi:include src="http://m.example/page_cache/block/esi/menu/" />${filler}</html>`);
    });
    const edge = await startEdge({
      config: {
        listen: { http: '127.0.0.1:0' },
        sites: [{ name: 'm', hosts: ['m.example'], upstreams: [origin.url], cache: { profile: 'magento' } }],
      },
    });
    try {
      const expected = `<html><nav>${'menu '.repeat(300)}</nav>${filler}</html>`;
      for (const ae of ['gzip', 'br', 'gzip', '']) {
        const r = await fetchRaw(edge.address.port, '/', { host: 'm.example', 'accept-encoding': ae });
        assert.equal(r.status, 200);
        assert.equal(r.headers['content-encoding'], ae || undefined, ae);
        assert.equal(r.headers.vary, 'Accept-Encoding');
        assert.equal(Number(r.headers['content-length']), r.body.length);
        assert.equal(decode(r).toString(), expected, ae);
      }
      assert.equal(origin.hits, 2, 'page and fragment fetched once each');
    } finally {
      await edge.close();
      await origin.close();
    }
  });
});
