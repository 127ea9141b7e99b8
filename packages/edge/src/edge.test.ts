import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { type EdgeHandle, startEdge } from './server.ts';
import { httpGet, rawRequest, type SeenRequest, sleep, startOrigin, type TestOrigin, waitFor } from './testing.ts';

const LOGGED_IN = 'wordpress_logged_in_0123456789abcdef0123456789abcdef=admin|1|x';

function baseConfig(origins: TestOrigin[], extra: Record<string, unknown> = {}) {
  return {
    listen: { http: '127.0.0.1:0' },
    debugHeaders: true,
    limits: { maxHeaderBytes: 8192, maxHeaderCount: 50, headersTimeoutMs: 400, requestTimeoutMs: 2000 },
    sites: [
      {
        name: 'blog',
        hosts: ['a.example', 'b.example'],
        upstreams: origins.map((o) => o.url),
        cache: { profile: 'wordpress', nginxHelper: true },
        purge: { allow: ['127.0.0.1/32'] },
        timeouts: { connectMs: 500, firstByteMs: 300 },
        maxBodyBytes: 1000,
      },
      { name: 'plain', hosts: ['plain.example'], upstreams: [origins[0]!.url], cache: { profile: 'off' } },
    ],
    ...extra,
  };
}

function pageHandler(seen: SeenRequest, res: import('node:http').ServerResponse) {
  if (seen.url === '/slow') {
    setTimeout(() => {
      res.writeHead(200, { 'cache-control': 'max-age=60' });
      res.end('slow');
    }, 1000);
    return;
  }
  const personal = String(seen.headers.cookie ?? '').includes('wordpress_logged_in_');
  res.writeHead(200, {
    'content-type': 'text/html',
    'cache-control': 'public, max-age=60',
    'surrogate-key': 'post-1',
    'x-origin-port': String(seen.headers['x-test-port'] ?? ''),
  });
  res.end(
    personal
      ? 'ADMIN BAR'
      : `page ${seen.url} host=${seen.headers.host} xfh=${seen.headers['x-forwarded-host']} xff=${seen.headers['x-forwarded-for']} proto=${seen.headers['x-forwarded-proto']}`,
  );
}

describe('edge: HTTP/1.1 proxy with the cache in the path', () => {
  let origin: TestOrigin;
  let edge: EdgeHandle;
  const logLines: string[] = [];
  before(async () => {
    origin = await startOrigin(pageHandler);
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk, _enc, cb) {
          logLines.push(chunk.toString());
          cb();
        },
      }),
    );
    edge = await startEdge({ config: baseConfig([origin]), logger, connectionsCheckingIntervalMs: 100 });
  });
  after(async () => {
    await edge.close();
    await origin.close();
  });
  const port = () => edge.address.port;

  test('6.1.1 miss then hit through the edge: X-Cache MISS/HIT, Age, origin hits 1; access log line', async () => {
    const h0 = origin.hits;
    const a = await httpGet(port(), '/hello/');
    const b = await httpGet(port(), '/hello/');
    assert.equal(a.status, 200);
    assert.equal(a.headers['x-cache'], 'MISS');
    assert.equal(b.headers['x-cache'], 'HIT');
    assert.ok(b.headers.age !== undefined);
    assert.equal(b.headers['surrogate-key'], undefined);
    assert.equal(origin.hits - h0, 1);
    await sleep(20);
    const line = logLines.map((l) => JSON.parse(l)).find((l) => l.msg === 'access' && l.access.cache === 'HIT');
    assert.ok(line, 'access log line for the HIT');
    assert.equal(line.access.status, 200);
    assert.equal(line.access.site, 'blog');
    assert.ok(line.access.bytesOut > 0);
    assert.equal(typeof line.access.ms, 'number');
  });

  test('6.3.34 [SEC] logged-in WordPress cookie bypasses the cache and is never served to others', async () => {
    await httpGet(port(), '/post-34/');
    const li = await httpGet(port(), '/post-34/', { headers: { cookie: LOGGED_IN } });
    assert.equal(li.body, 'ADMIN BAR');
    assert.equal(li.headers['x-cache'], 'PASS');
    const anon = await httpGet(port(), '/post-34/');
    assert.equal(anon.headers['x-cache'], 'HIT');
    assert.doesNotMatch(anon.body, /ADMIN/);
  });

  test('6.5.49 [SEC] unknown Host → 421 without revealing other sites; Host normalisation shares one object', async () => {
    const h0 = origin.hits;
    const r = await httpGet(port(), '/', { host: 'evil.example' });
    assert.equal(r.status, 421);
    assert.doesNotMatch(r.body, /a\.example|blog|b\.example/);
    assert.equal(origin.hits, h0);
    await httpGet(port(), '/norm/', { host: 'a.example' });
    for (const host of ['A.Example', 'a.example.', 'a.example:80']) {
      assert.equal((await httpGet(port(), '/norm/', { host })).headers['x-cache'], 'HIT', host);
    }
    assert.equal(origin.hits, h0 + 1);
    const noHost = await rawRequest(port(), 'GET / HTTP/1.1\r\n\r\n');
    assert.match(noHost.text, /^HTTP\/1\.1 400/);
  });

  test('6.5.48 [SEC] two hosts of one site get separate objects', async () => {
    const a = await httpGet(port(), '/same/', { host: 'a.example' });
    const b = await httpGet(port(), '/same/', { host: 'b.example' });
    assert.match(a.body, /host=a\.example/);
    assert.match(b.body, /host=b\.example/);
    assert.equal(b.headers['x-cache'], 'MISS');
  });

  test('6.5.50 [SEC] absolute-form target wins over Host and cannot poison another host', async () => {
    const r = await rawRequest(port(), 'GET http://b.example/abs/ HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n');
    assert.match(r.text, /host=b\.example/);
    const a = await httpGet(port(), '/abs/', { host: 'a.example' });
    assert.match(a.body, /host=a\.example/);
    assert.equal(a.headers['x-cache'], 'MISS');
    const unknown = await rawRequest(port(), 'GET http://evil.example/ HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n');
    assert.match(unknown.text, /^HTTP\/1\.1 421/);
  });

  test('6.5.51 [SEC] client forwarding/rewrite headers never reach the origin; trusted ones are set', async () => {
    const r = await httpGet(port(), '/xfh/', {
      headers: {
        'x-forwarded-host': 'evil.example',
        'x-forwarded-for': '6.6.6.6',
        'x-forwarded-proto': 'https',
        'x-original-url': '/admin',
        'x-rewrite-url': '/admin',
        'x-http-method-override': 'POST',
        forwarded: 'host=evil',
      },
    });
    assert.doesNotMatch(r.body, /evil/);
    assert.match(r.body, /xfh=a\.example xff=127\.0\.0\.1 proto=http/);
    const seen = origin.seen.find((s) => s.url === '/xfh/')!;
    for (const h of ['x-original-url', 'x-rewrite-url', 'x-http-method-override', 'forwarded'])
      assert.equal(seen.headers[h], undefined);
    const again = await httpGet(port(), '/xfh/');
    assert.doesNotMatch(again.body, /evil/);
  });

  test('6.5.52 [SEC] X-Forwarded-Proto from a plain-HTTP client is overwritten with the real scheme', async () => {
    const r = await httpGet(port(), '/proto/', { headers: { 'x-forwarded-proto': 'https' } });
    assert.match(r.body, /proto=http$/);
  });

  test('6.7.65 [SEC] purge from an allowed vs a disallowed IP', async () => {
    await httpGet(port(), '/purge-me/');
    assert.equal((await httpGet(port(), '/purge-me/')).headers['x-cache'], 'HIT');
    const h0 = origin.hits;
    const denied = await httpGet(port(), '/purge-me/', { method: 'PURGE', localAddress: '127.0.0.2' });
    assert.equal(denied.status, 405);
    const deniedHelper = await httpGet(port(), '/purge/purge-me/', { localAddress: '127.0.0.2' });
    assert.equal(deniedHelper.status, 403);
    assert.equal(origin.hits, h0);
    assert.equal((await httpGet(port(), '/purge-me/')).headers['x-cache'], 'HIT');
    const allowed = await httpGet(port(), 'http://10.0.0.2/purge-me/', {
      method: 'PURGE',
      headers: { 'x-purge-method': 'default' },
    });
    assert.equal(allowed.status, 200);
    assert.ok(allowed.headers['content-length']);
    assert.equal((await httpGet(port(), '/purge-me/')).headers['x-cache'], 'MISS');
  });

  test('6.1.8 POST is passed with its body intact and invalidates the stored GET object', async () => {
    await httpGet(port(), '/form/');
    assert.equal((await httpGet(port(), '/form/')).headers['x-cache'], 'HIT');
    const post = await httpGet(port(), '/form/', {
      method: 'POST',
      body: 'a=1&b=2',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(post.headers['x-cache'], 'PASS');
    const seen = origin.seen.filter((s) => s.url === '/form/' && s.method === 'POST');
    assert.equal(seen[0]?.body, 'a=1&b=2');
    assert.equal((await httpGet(port(), '/form/')).headers['x-cache'], 'MISS');
  });

  test('6.1.9 PURGE on a cache-off site is answered locally (405), never forwarded', async () => {
    const h0 = origin.hits;
    const connect = await rawRequest(port(), 'CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n');
    assert.match(connect.text, /^HTTP\/1\.1 405/);
    const propfind = await httpGet(port(), '/dav/', { method: 'PROPFIND' });
    assert.equal(propfind.headers['x-cache'], 'PASS');
    const purgeBlog = await httpGet(port(), '/', { method: 'PURGE', localAddress: '127.0.0.2' });
    assert.equal(purgeBlog.status, 405);
    assert.ok(!origin.seen.some((s) => s.method === 'PURGE' || s.method === 'CONNECT'));
    const r = await httpGet(port(), '/', { host: 'plain.example', method: 'PURGE' });
    assert.equal(r.status, 405);
    assert.equal(origin.hits, h0 + 1); // only the PROPFIND pass reached the origin
    const p = await httpGet(port(), '/plain/', { host: 'plain.example' });
    assert.equal(p.status, 200);
    assert.equal(p.headers['surrogate-key'], undefined);
  });

  test('6.2.19 concurrent misses coalesce into one origin fetch through the edge', async () => {
    const h0 = origin.hits;
    const all = await Promise.all(Array.from({ length: 10 }, () => httpGet(port(), '/coalesce/')));
    assert.ok(all.every((r) => r.status === 200));
    assert.equal(origin.hits - h0, 1);
  });

  test('6.5.53 [SEC] CL+TE → 400 and the connection closed, origin hits 0', async () => {
    const h0 = origin.hits;
    const r = await rawRequest(
      port(),
      'POST /x HTTP/1.1\r\nHost: a.example\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a.example\r\n\r\n',
    );
    assert.match(r.text, /^HTTP\/1\.1 400/);
    assert.equal(r.closed, true);
    assert.equal(origin.hits, h0);
  });

  test('6.5.53 [SEC] duplicate differing Content-Length → 400 and closed', async () => {
    const h0 = origin.hits;
    const r = await rawRequest(
      port(),
      'POST /x HTTP/1.1\r\nHost: a.example\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde',
    );
    assert.match(r.text, /^HTTP\/1\.1 400/);
    assert.equal(r.closed, true);
    assert.equal(origin.hits, h0);
  });

  test('6.5.53 [SEC] obs-fold and whitespace before colon → 400 and closed', async () => {
    const h0 = origin.hits;
    const fold = await rawRequest(port(), 'GET / HTTP/1.1\r\nHost: a.example\r\nX-A: one\r\n two\r\n\r\n');
    assert.match(fold.text, /^HTTP\/1\.1 400/);
    assert.equal(fold.closed, true);
    const ws = await rawRequest(port(), 'GET / HTTP/1.1\r\nHost : a.example\r\n\r\n');
    assert.match(ws.text, /^HTTP\/1\.1 400/);
    assert.equal(ws.closed, true);
    assert.equal(origin.hits, h0);
  });

  test('6.5.49 [SEC] two Host fields → 400, origin hits 0', async () => {
    const h0 = origin.hits;
    const r = await rawRequest(port(), 'GET / HTTP/1.1\r\nHost: a.example\r\nHost: evil.example\r\n\r\n');
    assert.match(r.text, /^HTTP\/1\.1 400/);
    assert.equal(r.closed, true);
    assert.equal(origin.hits, h0);
  });

  test('limits: oversize headers → 431; too many headers → 431', async () => {
    const big = await rawRequest(port(), `GET / HTTP/1.1\r\nHost: a.example\r\nX-Big: ${'a'.repeat(9000)}\r\n\r\n`);
    assert.match(big.text, /^HTTP\/1\.1 431/);
    const many = Array.from({ length: 60 }, (_, i) => `X-H${i}: v\r\n`).join('');
    const r = await rawRequest(port(), `GET / HTTP/1.1\r\nHost: a.example\r\n${many}Connection: close\r\n\r\n`);
    assert.match(r.text, /^HTTP\/1\.1 431/);
  });

  test('limits: body over the site limit → 413 (declared and chunked)', async () => {
    const r = await httpGet(port(), '/upload', {
      method: 'POST',
      body: 'x'.repeat(2000),
      headers: { 'content-type': 'text/plain' },
    });
    assert.equal(r.status, 413);
    const chunked = await rawRequest(
      port(),
      `POST /upload HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n${'y'.repeat(2000)}\r\n0\r\n\r\n`,
    );
    assert.match(chunked.text, /^HTTP\/1\.1 413/);
  });

  test('limits: slow headers → 408', async () => {
    const r = await rawRequest(port(), 'GET / HTTP/1.1\r\nHost: a.example\r\n', 3000);
    assert.match(r.text, /^HTTP\/1\.1 408/);
    assert.equal(r.closed, true);
  });

  test('first-byte timeout → 504 (no stale object)', async () => {
    const r = await httpGet(port(), '/slow');
    assert.equal(r.status, 504);
  });
});

describe('edge: upstream pool', () => {
  test('failover: a dead member is skipped by retrying the idempotent request on another', async () => {
    const a = await startOrigin((s, res) => res.end(`A ${s.url}`));
    const b = await startOrigin((s, res) => res.end(`B ${s.url}`));
    const cfg = baseConfig([a, b]);
    cfg.sites[0]!.cache = { profile: 'off', nginxHelper: false };
    const edge = await startEdge({ config: cfg });
    try {
      const seen = new Set<string>();
      for (let i = 0; i < 4; i++) seen.add((await httpGet(edge.address.port, `/rr${i}`)).body[0]!);
      assert.deepEqual([...seen].sort(), ['A', 'B']);
      await a.close();
      for (let i = 0; i < 6; i++) {
        const r = await httpGet(edge.address.port, `/after${i}`);
        assert.equal(r.status, 200);
        assert.match(r.body, /^B /);
      }
      const post = await httpGet(edge.address.port, '/p', { method: 'POST', body: 'x' });
      assert.ok(post.status === 200 || post.status === 502);
    } finally {
      await edge.close();
      await b.close();
    }
  });

  test('all members unhealthy → 503, and a configured active health check marks members down and up', async () => {
    let healthy = true;
    const a = await startOrigin((s, res) => {
      if (s.url === '/__health') {
        res.writeHead(healthy ? 200 : 500);
        res.end();
        return;
      }
      res.end('ok');
    });
    const cfg = baseConfig([a]);
    const site = cfg.sites[0] as Record<string, unknown>;
    site.cache = { profile: 'off' };
    site.healthCheck = { path: '/__health', intervalMs: 50, timeoutMs: 100, healthyThreshold: 1, unhealthyThreshold: 1 };
    const edge = await startEdge({ config: cfg });
    try {
      assert.equal((await httpGet(edge.address.port, '/')).status, 200);
      healthy = false;
      const member = edge.current().sites[0]!.pool.members[0]!;
      assert.ok(await waitFor(() => !member.healthy));
      assert.equal((await httpGet(edge.address.port, '/')).status, 503); // no usable member
      healthy = true;
      assert.ok(await waitFor(() => member.healthy));
      assert.equal((await httpGet(edge.address.port, '/')).status, 200);
    } finally {
      await edge.close();
      await a.close();
    }
  });

  test('least-connections prefers the idle member', async () => {
    const mk = (name: string) =>
      startOrigin((seen, res) => {
        if (seen.url === '/hold') setTimeout(() => res.end(name), 400);
        else res.end(name);
      });
    const x = await mk('X');
    const y = await mk('Y');
    const cfg = baseConfig([x, y]);
    const site = cfg.sites[0] as Record<string, unknown>;
    site.cache = { profile: 'off' };
    site.lb = { policy: 'least-connections' };
    site.timeouts = { connectMs: 500, firstByteMs: 2000 };
    const edge = await startEdge({ config: cfg });
    try {
      const holder = httpGet(edge.address.port, '/hold');
      await sleep(50);
      const bodies: string[] = [];
      for (let i = 0; i < 3; i++) bodies.push((await httpGet(edge.address.port, `/n${i}`)).body);
      const held = (await holder).body;
      assert.ok(
        bodies.every((b) => b !== held),
        `${held} held; others ${bodies.join(',')}`,
      );
    } finally {
      await edge.close();
      await x.close();
      await y.close();
    }
  });
});

describe('edge: config', () => {
  test('a bad config names the field; reload keeps the old config on error and swaps on success', async () => {
    const { loadConfig } = await import('./config.ts');
    assert.throws(
      () =>
        loadConfig({
          listen: { http: '127.0.0.1:0' },
          sites: [{ name: 'x', hosts: ['a'], upstreams: ['http://127.0.0.1:1'], cache: { profile: 'varnish' } }],
        }),
      /sites\[0\]\.cache\.profile/,
    );
    assert.throws(
      () => loadConfig({ listen: { http: '127.0.0.1:0' }, sites: [{ name: 'x', hosts: ['a'], upstreams: ['ftp://x'] }] }),
      /sites\[0\]\.upstreams\[0\]/,
    );
    assert.throws(
      () =>
        loadConfig({
          listen: { http: '127.0.0.1:0' },
          sites: [{ name: 'x', hosts: ['a'], upstreams: ['http://127.0.0.1:1'], purge: { allow: ['10.0.0.0/33'] } }],
        }),
      /sites\[0\]\.purge\.allow\[0\]/,
    );
    assert.throws(() => loadConfig({ listen: { http: 'nope' }, sites: [] }), /listen\.http/);
    assert.throws(
      () =>
        loadConfig({
          listen: { http: '127.0.0.1:0' },
          sites: [
            { name: 'x', hosts: ['a'], upstreams: ['http://127.0.0.1:1'] },
            { name: 'y', hosts: ['A'], upstreams: ['http://127.0.0.1:1'] },
          ],
        }),
      /sites\[1\]\.hosts\[0\]/,
    );

    const one = await startOrigin((_s, res) => res.end('one'));
    const two = await startOrigin((_s, res) => res.end('two'));
    const cfg = baseConfig([one]);
    const edge = await startEdge({ config: cfg });
    try {
      assert.equal((await httpGet(edge.address.port, '/r', { host: 'plain.example' })).body, 'one');
      assert.throws(() => edge.reload({ ...cfg, sites: 'nope' }), /sites/);
      assert.equal((await httpGet(edge.address.port, '/r', { host: 'plain.example' })).body, 'one');
      edge.reload({
        ...cfg,
        sites: [{ name: 'all', hosts: ['*'], upstreams: [two.url], cache: { profile: 'generic' } }],
      });
      assert.equal((await httpGet(edge.address.port, '/r', { host: 'plain.example' })).body, 'two');
      assert.equal((await httpGet(edge.address.port, '/r', { host: 'anything.example' })).body, 'two');
    } finally {
      await edge.close();
      await one.close();
      await two.close();
    }
  });
});

describe('edge: Magento over the wire', () => {
  let origin: TestOrigin;
  let edge: EdgeHandle;
  const bigTags = Array.from({ length: 4000 }, (_, i) => `cat_p_${i}`).join(','); // ~40 KB
  before(async () => {
    origin = await startOrigin((seen, res) => {
      const tags = seen.url === '/big.html' ? bigTags : seen.url === '/p1.html' ? 'cat_p_42,cat_c_7' : 'cat_p_420';
      res.writeHead(200, {
        'content-type': 'text/html',
        'cache-control': 'public, max-age=86400, s-maxage=86400',
        'x-magento-tags': tags,
      });
      res.end(`page ${seen.url} ${seen.headers.host}`);
    });
    edge = await startEdge({
      config: {
        listen: { http: '127.0.0.1:0' },
        sites: [
          {
            name: 'shop',
            hosts: ['shop.example', 'shop2.example'],
            upstreams: [origin.url],
            cache: { profile: 'magento' },
            purge: { allow: ['127.0.0.1/32'] },
          },
        ],
      },
    });
  });
  after(async () => {
    await edge.close();
    await origin.close();
  });

  test("6.6.57 Magento's exact PURGE bytes: 200 with Content-Length, connection reusable, tag purge on both hosts", async () => {
    for (const host of ['shop.example', 'shop2.example'])
      for (const u of ['/p1.html', '/p2.html']) await httpGet(edge.address.port, u, { host });
    const h0 = origin.hits;
    const t0 = performance.now();
    const r = await rawRequest(
      edge.address.port,
      'PURGE / HTTP/1.1\r\nX-Magento-Tags-Pattern: ((^|,)cat_p_42(,|$))\r\nHost: 127.0.0.1\r\n\r\nGET /p2.html HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n',
    );
    assert.ok(performance.now() - t0 < 1000);
    assert.match(r.text, /^HTTP\/1\.1 200 [^\r]*\r\n(.*\r\n)*content-length: \d+/i);
    assert.match(r.text, /X-Magento-Cache-Debug: HIT/i); // the second request on the same connection
    for (const host of ['shop.example', 'shop2.example']) {
      assert.equal((await httpGet(edge.address.port, '/p1.html', { host })).headers['x-magento-cache-debug'], 'MISS');
      assert.equal((await httpGet(edge.address.port, '/p2.html', { host })).headers['x-magento-cache-debug'], 'HIT');
    }
    assert.equal(origin.hits, h0 + 2);
    const noHost = await rawRequest(
      edge.address.port,
      'PURGE / HTTP/1.1\r\nX-Magento-Tags-Pattern: .*\r\nConnection: close\r\n\r\n',
    );
    assert.match(noHost.text, /^HTTP\/1\.1 200/);
    const denied = await httpGet(edge.address.port, '/', {
      method: 'PURGE',
      host: '127.0.0.1',
      localAddress: '127.0.0.2',
      headers: { 'x-magento-tags-pattern': '.*' },
    });
    assert.equal(denied.status, 405);
  });

  test('6.6.62 a 40 KB X-Magento-Tags header is cached and purgeable by a tag near its end', async () => {
    assert.ok(bigTags.length > 30_000);
    const a = await httpGet(edge.address.port, '/big.html', { host: 'shop.example' });
    assert.equal(a.status, 200);
    assert.equal(a.headers['x-magento-tags'], undefined);
    assert.equal(
      (await httpGet(edge.address.port, '/big.html', { host: 'shop.example' })).headers['x-magento-cache-debug'],
      'HIT',
    );
    await httpGet(edge.address.port, '/', {
      method: 'PURGE',
      host: 'shop.example',
      headers: { 'x-magento-tags-pattern': '((^|,)cat_p_3999(,|$))' },
    });
    assert.equal(
      (await httpGet(edge.address.port, '/big.html', { host: 'shop.example' })).headers['x-magento-cache-debug'],
      'MISS',
    );
  });
});

describe('edge: stale while the origin restarts', () => {
  test('6.2.24 stale-if-error through the edge: origin down → stale 200; past the window → 503 Retry-After', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const clock = { now: () => now };
    const origin = await startOrigin((_s, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=2, stale-if-error=600' });
      res.end('cached-body');
    });
    const cfg = baseConfig([origin]);
    cfg.sites[0]!.cache = { profile: 'generic', nginxHelper: false };
    const edge = await startEdge({ config: cfg, clock });
    try {
      assert.equal((await httpGet(edge.address.port, '/s')).body, 'cached-body');
      await origin.close();
      now += 100_000;
      const stale = await httpGet(edge.address.port, '/s');
      assert.equal(stale.status, 200);
      assert.equal(stale.body, 'cached-body');
      assert.ok(Number(stale.headers.age) >= 100);
      now += 600_000;
      const gone = await httpGet(edge.address.port, '/s');
      assert.equal(gone.status, 503);
      assert.equal(gone.headers['retry-after'], '5');
      assert.notEqual(gone.body, 'cached-body');
    } finally {
      await edge.close();
    }
  });
});

describe('edge: Magento ESI', () => {
  test('6.6.61 [SEC] ESI includes resolved through the cache; fragment purge refreshes only the fragment; foreign hosts not fetched', async () => {
    let fragmentVersion = 1;
    const origin = await startOrigin((seen, res) => {
      if (seen.url.startsWith('/page_cache/block/esi/blocks/menu/')) {
        res.writeHead(200, {
          'content-type': 'text/html',
          'cache-control': 'public, max-age=3600',
          'x-magento-tags': 'menu_block',
        });
        res.end(`<nav>menu v${fragmentVersion} host=${seen.headers.host}</nav>`);
        return;
      }
      res.writeHead(200, {
        'content-type': 'text/html; charset=UTF-8',
        'cache-control': 'public, max-age=86400',
        'x-magento-tags': 'cms_p_1',
      });
      res.end(
        '<html><esi:include src="http://shop.example/page_cache/block/esi/blocks/menu/" /><main>page</main><esi:include src="http://evil.example/x" /></html>',
      );
    });
    const edge = await startEdge({
      config: {
        listen: { http: '127.0.0.1:0' },
        sites: [
          {
            name: 'shop',
            hosts: ['shop.example'],
            upstreams: [origin.url],
            cache: { profile: 'magento' },
            purge: { allow: ['127.0.0.1/32'] },
          },
        ],
      },
    });
    try {
      const a = await httpGet(edge.address.port, '/', { host: 'shop.example' });
      const b = await httpGet(edge.address.port, '/', { host: 'shop.example' });
      for (const r of [a, b]) {
        assert.equal(r.status, 200);
        assert.equal(r.body, '<html><nav>menu v1 host=shop.example</nav><main>page</main></html>');
        assert.doesNotMatch(r.body, /<esi:/);
        assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body));
      }
      assert.equal(b.headers['x-magento-cache-debug'], 'HIT');
      assert.equal(origin.hits, 2); // page + fragment, each once
      assert.ok(origin.seen.every((s) => s.headers.host === 'shop.example'));
      assert.ok(!origin.seen.some((s) => s.url === '/x'));
      fragmentVersion = 2;
      await httpGet(edge.address.port, '/', {
        method: 'PURGE',
        host: 'shop.example',
        headers: { 'x-magento-tags-pattern': '((^|,)menu_block(,|$))' },
      });
      const c = await httpGet(edge.address.port, '/', { host: 'shop.example' });
      assert.match(c.body, /menu v2/);
      assert.equal(origin.hits, 3); // only the fragment was refetched
    } finally {
      await edge.close();
      await origin.close();
    }
  });
});

describe('edge: metrics', () => {
  test('Prometheus /metrics on its own listener: requests by status and cache, connections, cache bytes', async () => {
    const o = await startOrigin((_s, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=600' });
      res.end('m');
    });
    const edge = await startEdge({
      config: {
        listen: { http: '127.0.0.1:0', metrics: '127.0.0.1:0' },
        sites: [{ name: 'm', hosts: ['*'], upstreams: [o.url], cache: { profile: 'generic' } }],
      },
    });
    try {
      await httpGet(edge.address.port, '/x');
      await httpGet(edge.address.port, '/x');
      await sleep(20);
      const r = await httpGet(edge.metricsAddress!.port, '/metrics');
      assert.equal(r.status, 200);
      assert.match(r.body, /triplane_edge_requests_total\{site="m",status="200",cache="HIT"\} 1/);
      assert.match(r.body, /triplane_edge_requests_total\{site="m",status="200",cache="MISS"\} 1/);
      assert.match(r.body, /triplane_edge_cache_objects 1/);
      assert.match(r.body, /triplane_edge_upstream_first_byte_seconds_count\{site="m"\} 1/);
      assert.match(r.body, /triplane_edge_active_connections/);
      assert.equal((await httpGet(edge.address.port, '/metrics')).body, 'm'); // not on the public listener
    } finally {
      await edge.close();
      await o.close();
    }
  });
});

describe('edge: reload keeps the cache warm', () => {
  test('adding a member keeps cached objects; changing the cache rules purges the site', async () => {
    const a = await startOrigin((_s, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=600' });
      res.end('A');
    });
    const b = await startOrigin((_s, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=600' });
      res.end('B');
    });
    const site = { name: 'w', hosts: ['w.example'], upstreams: [a.url], cache: { profile: 'generic' } };
    const cfg = { listen: { http: '127.0.0.1:0' }, debugHeaders: true, sites: [site] };
    const edge = await startEdge({ config: cfg });
    try {
      await httpGet(edge.address.port, '/k', { host: 'w.example' });
      edge.reload({ ...cfg, sites: [{ ...site, upstreams: [a.url, b.url] }] });
      assert.equal((await httpGet(edge.address.port, '/k', { host: 'w.example' })).headers['x-cache'], 'HIT');
      edge.reload({ ...cfg, sites: [{ ...site, upstreams: [b.url], cache: { profile: 'wordpress' } }] });
      const r = await httpGet(edge.address.port, '/k', { host: 'w.example' });
      assert.equal(r.headers['x-cache'], 'MISS');
      assert.equal(r.body, 'B');
    } finally {
      await edge.close();
      await a.close();
      await b.close();
    }
  });
});
