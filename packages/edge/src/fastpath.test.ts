import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parseStrictHead } from './fastpath.ts';
import { type EdgeHandle, startEdge } from './server.ts';
import { httpGet, rawRequest, type SeenRequest, startOrigin, type TestOrigin } from './testing.ts';

const LOGGED_IN = 'wordpress_logged_in_0123456789abcdef0123456789abcdef=admin|1|x';

function parse(head: string, maxHeaders = 50) {
  const buf = Buffer.from(`${head}\r\n\r\n`, 'latin1');
  return parseStrictHead(buf, 0, buf.length - 4, maxHeaders);
}

describe('fast path: the strict head parser accepts only a safe subset', () => {
  test('a plain GET and HEAD are accepted, header values trimmed, names lower-cased', () => {
    const h = parse('GET /a?b=1 HTTP/1.1\r\nHost: a.example\r\nAccept-Encoding:  gzip \r\nX-E:');
    assert.ok(h);
    assert.equal(h.method, 'GET');
    assert.equal(h.target, '/a?b=1');
    assert.equal(h.host, 'a.example');
    assert.equal(h.headers['accept-encoding'], 'gzip');
    assert.equal(h.headers['x-e'], '');
    assert.equal(parse('HEAD / HTTP/1.1\r\nHost: a')?.method, 'HEAD');
    assert.equal(parse('GET / HTTP/1.1\r\nHost: a\r\nConnection: close')?.close, true);
  });

  const refused: Array<[string, string]> = [
    ['POST', 'POST / HTTP/1.1\r\nHost: a'],
    ['lower-case method', 'get / HTTP/1.1\r\nHost: a'],
    ['HTTP/1.0', 'GET / HTTP/1.0\r\nHost: a'],
    ['HTTP/2.0 in the request line', 'GET / HTTP/2.0\r\nHost: a'],
    ['absolute-form', 'GET http://a/ HTTP/1.1\r\nHost: a'],
    ['asterisk-form', 'GET * HTTP/1.1\r\nHost: a'],
    ['two spaces', 'GET  / HTTP/1.1\r\nHost: a'],
    ['no Host', 'GET / HTTP/1.1\r\nAccept: */*'],
    ['no header at all', 'GET / HTTP/1.1'],
    ['duplicate Host', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b'],
    ['duplicate field, different case', 'GET / HTTP/1.1\r\nHost: a\r\nCookie: x=1\r\ncookie: y=2'],
    ['Content-Length', 'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0'],
    ['Transfer-Encoding', 'GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked'],
    ['Upgrade', 'GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade'],
    ['Connection: upgrade', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade'],
    ['Expect', 'GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue'],
    ['TE', 'GET / HTTP/1.1\r\nHost: a\r\nTE: trailers'],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  continued'],
    ['bare LF between fields', 'GET / HTTP/1.1\r\nHost: a\nX-A: 1'],
    ['bare CR in a value', 'GET / HTTP/1.1\r\nHost: a\rX-A: 1'],
    ['space before colon', 'GET / HTTP/1.1\r\nHost : a'],
    ['empty field name', 'GET / HTTP/1.1\r\nHost: a\r\n: x'],
    ['NUL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u0000b'],
    ['DEL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u007fb'],
    ['obs-text in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: caf\u00e9'],
    ['control byte in the target', 'GET /a\u0001 HTTP/1.1\r\nHost: a'],
    ['high byte in the target', 'GET /\u00ff HTTP/1.1\r\nHost: a'],
  ];
  for (const [name, head] of refused) {
    test(`refused: ${name}`, () => assert.equal(parse(head), undefined));
  }

  test('refused: more fields than the limit', () => {
    const fields = Array.from({ length: 5 }, (_, i) => `X-${i}: v`).join('\r\n');
    assert.ok(parse(`GET / HTTP/1.1\r\nHost: a\r\n${fields}`, 6));
    assert.equal(parse(`GET / HTTP/1.1\r\nHost: a\r\n${fields}`, 5), undefined);
  });
});

/** Sends `bytes` on one connection and reads until `responses` complete responses arrived (Content-Length framing). */
function pipeline(port: number, writes: string[], responses: number): Promise<{ heads: string[]; bodies: string[] }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const heads: string[] = [];
    const bodies: string[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`timeout after ${heads.length} responses: ${buf.toString('latin1').slice(0, 200)}`));
    }, 5000);
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) break;
        const head = buf.subarray(0, end).toString('latin1');
        const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        const bodyless = /^HTTP\/1\.1 (304|204)/.test(head);
        const total = end + 4 + (bodyless ? 0 : len);
        if (buf.length < total) break;
        heads.push(head);
        bodies.push(buf.subarray(end + 4, total).toString('latin1'));
        buf = buf.subarray(total);
      }
      if (heads.length >= responses) {
        clearTimeout(timer);
        sock.destroy();
        resolve({ heads, bodies });
      }
    });
    sock.on('error', reject);
    (async () => {
      for (const w of writes) {
        sock.write(w);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
  });
}

describe('fast path: cache hits on the plain listener', () => {
  let origin: TestOrigin;
  let edge: EdgeHandle;
  const seen: SeenRequest[] = [];
  before(async () => {
    origin = await startOrigin((s, res) => {
      seen.push(s);
      if (s.method === 'POST') {
        const text = `posted ${s.body}`;
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(text.length) });
        res.end(text);
        return;
      }
      const personal = String(s.headers.cookie ?? '').includes('wordpress_logged_in_');
      res.writeHead(200, {
        'content-type': 'text/html',
        'cache-control': 'public, max-age=60',
        etag: '"v1"',
        'surrogate-key': 'post-1',
      });
      res.end(personal ? 'ADMIN BAR' : `page ${s.url}`);
    });
    edge = await startEdge({
      config: {
        listen: { http: '127.0.0.1:0' },
        limits: { maxHeaderBytes: 8192, maxHeaderCount: 50, headersTimeoutMs: 400, requestTimeoutMs: 2000 },
        sites: [
          {
            name: 'blog',
            hosts: ['a.example'],
            upstreams: [origin.url],
            cache: { profile: 'wordpress' },
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

  const origins = (url: string) => seen.filter((s) => s.url === url).length;

  test('a miss goes through node:http, the next request is a hit served by the fast path with the same headers', async () => {
    const first = await httpGet(edge.address.port, '/p1');
    assert.equal(first.status, 200);
    const servedBefore = edge.fastPath.served;
    const second = await httpGet(edge.address.port, '/p1');
    assert.equal(edge.fastPath.served, servedBefore + 1);
    assert.equal(second.body, 'page /p1');
    assert.equal(origins('/p1'), 1);
    assert.equal(second.headers['surrogate-key'], undefined, 'tags stripped on delivery');
    assert.ok(second.headers.date);
    assert.ok(Number(second.headers.age) >= 0);
    const slowNames = Object.keys(first.headers).filter((k) => k !== 'connection' && k !== 'keep-alive');
    for (const k of slowNames) assert.ok(k in second.headers, `fast path lacks ${k}`);
  });

  test('HEAD and a conditional request are served from the hit without a body', async () => {
    await httpGet(edge.address.port, '/p2');
    const before = edge.fastPath.served;
    const raw = await rawRequest(edge.address.port, 'HEAD /p2 HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n');
    assert.match(raw.text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(raw.text, /\r\ncontent-length: 8\r\n/i);
    assert.ok(raw.text.endsWith('\r\n\r\n'), 'no body after the head');
    assert.equal(edge.fastPath.served, before + 1);
    const cond = await httpGet(edge.address.port, '/p2', { headers: { 'if-none-match': '"v1"' } });
    assert.equal(cond.status, 304);
    assert.equal(origins('/p2'), 1);
  });

  test('pipelined hits, a miss in the middle and a POST with a body keep their order on one connection', async () => {
    await httpGet(edge.address.port, '/h1');
    await httpGet(edge.address.port, '/h2');
    const handedBefore = edge.fastPath.handedOff;
    const r = await pipeline(
      edge.address.port,
      [
        'GET /h1 HTTP/1.1\r\nHost: a.example\r\n\r\nGET /h2 HTTP/1.1\r\nHost: a.example\r\n\r\n' +
          'GET /m1 HTTP/1.1\r\nHost: a.example\r\n\r\nGET /h1 HTTP/1.1\r\nHost: a.example\r\n\r\n' +
          'POST /form HTTP/1.1\r\nHost: a.example\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello' +
          'GET /h2 HTTP/1.1\r\nHost: a.example\r\n\r\n',
      ],
      6,
    );
    assert.deepEqual(r.bodies, ['page /h1', 'page /h2', 'page /m1', 'page /h1', 'posted hello', 'page /h2']);
    assert.equal(edge.fastPath.handedOff, handedBefore + 1);
  });

  test('a head split across reads is assembled and served', async () => {
    await httpGet(edge.address.port, '/split');
    const before = edge.fastPath.served;
    const r = await pipeline(edge.address.port, ['GET /split HTTP/1.1\r\nHo', 'st: a.exam', 'ple\r\n\r\n'], 1);
    assert.deepEqual(r.bodies, ['page /split']);
    assert.equal(edge.fastPath.served, before + 1);
  });

  test('smuggling after a fast-path hit is refused by node:http (CL+TE → 400, connection closed)', async () => {
    await httpGet(edge.address.port, '/s');
    const raw = await rawRequest(
      edge.address.port,
      'GET /s HTTP/1.1\r\nHost: a.example\r\n\r\n' +
        'POST /form HTTP/1.1\r\nHost: a.example\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\nHost: a.example\r\n\r\n',
    );
    assert.match(raw.text, /^HTTP\/1\.1 200 OK/);
    assert.match(raw.text, /HTTP\/1\.1 400 Bad Request/);
    assert.equal((raw.text.match(/HTTP\/1\.1 /g) ?? []).length, 2, 'the smuggled GET is never answered');
    assert.equal(raw.closed, true);
  });

  test('a logged-in WordPress user never gets the cached page from the fast path', async () => {
    await httpGet(edge.address.port, '/private');
    const r = await httpGet(edge.address.port, '/private', { headers: { cookie: LOGGED_IN } });
    assert.equal(r.body, 'ADMIN BAR');
    assert.equal(origins('/private'), 2);
  });

  test('unknown host and client forwarding headers: the fast path does not serve, node:http answers', async () => {
    await httpGet(edge.address.port, '/fw');
    const r = await httpGet(edge.address.port, '/fw', { host: 'other.example' });
    assert.equal(r.status, 421);
    // X-Forwarded-* from the client are stripped before the cache sees the request, as on the slow path
    const spoof = await httpGet(edge.address.port, '/fw', { headers: { 'x-forwarded-host': 'evil.example' } });
    assert.equal(spoof.body, 'page /fw');
    assert.equal(origins('/fw'), 1);
  });

  test('a purge empties what the fast path serves', async () => {
    await httpGet(edge.address.port, '/purged');
    const p = await httpGet(edge.address.port, '/purged', { method: 'PURGE' });
    assert.equal(p.status, 200);
    await httpGet(edge.address.port, '/purged');
    assert.equal(origins('/purged'), 2);
  });

  test('Connection: close is honoured', async () => {
    await httpGet(edge.address.port, '/c');
    const raw = await rawRequest(edge.address.port, 'GET /c HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n');
    assert.match(raw.text, /^HTTP\/1\.1 200 OK/);
    assert.equal(raw.closed, true);
  });

  test('a client that pipelines without reading is paused, then gets every response intact', async () => {
    await httpGet(edge.address.port, '/big');
    const n = 200;
    const sock = connect(edge.address.port, '127.0.0.1');
    sock.pause();
    sock.write('GET /big HTTP/1.1\r\nHost: a.example\r\n\r\n'.repeat(n));
    await new Promise((r) => setTimeout(r, 300));
    const got = await new Promise<number>((resolve) => {
      let text = '';
      sock.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        const count = (text.match(/page \/big/g) ?? []).length;
        if (count >= n) {
          sock.destroy();
          resolve(count);
        }
      });
      setTimeout(() => resolve((text.match(/page \/big/g) ?? []).length), 4000);
      sock.resume();
    });
    assert.equal(got, n);
    assert.equal(origins('/big'), 1);
  });
});
