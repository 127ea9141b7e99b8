import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { type ClientHttp2Session, constants as h2c, connect as h2connect, type IncomingHttpHeaders } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkServerIdentity, type PeerCertificate, connect as tlsConnect } from 'node:tls';
import type { EdgeSnapshot } from '@triplane/spec';
import { loadConfig } from './config.ts';
import { loadConfigFile } from './config-file.ts';
import { type EdgeHandle, startEdge } from './server.ts';
import { configFromSnapshot } from './snapshot.ts';
import { httpGet, type SeenRequest, startOrigin, type TestOrigin } from './testing.ts';
import { type PemPair, PlatformCa } from './tls/ca.ts';

/**
 * TLS, SNI, HTTP/2 and HTTPS redirects over real sockets on 127.0.0.1. Certificates of "the
 * operator" come from a separate in-memory CA (`opCa`); the edge's platform CA lives in a temp dir.
 */

interface Peer {
  cert: PeerCertificate;
  authorized: boolean;
  authorizationError: string | undefined;
  alpn: string | false | null;
}

function handshake(port: number, servername: string | undefined, ca: string[], alpn?: string[]): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port,
      ...(servername ? { servername } : {}),
      ca,
      rejectUnauthorized: false,
      ...(alpn ? { ALPNProtocols: alpn } : {}),
    });
    s.once('secureConnect', () => {
      const peer: Peer = {
        cert: s.getPeerCertificate(),
        authorized: s.authorized,
        authorizationError: s.authorizationError?.toString(),
        alpn: s.alpnProtocol,
      };
      s.destroy();
      resolve(peer);
    });
    s.once('error', reject);
  });
}

interface H2Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function h2session(port: number, servername: string, ca: string[]): ClientHttp2Session {
  const s = h2connect(`https://127.0.0.1:${port}`, { servername, ca });
  s.on('error', () => {});
  return s;
}

function h2get(
  s: ClientHttp2Session,
  path: string,
  authority: string,
  extra: Record<string, string> = {},
  body?: string,
): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const req = s.request({ ':path': path, ':authority': authority, ':method': body === undefined ? 'GET' : 'POST', ...extra });
    let headers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      headers = h;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks).toString() }));
    req.on('error', reject);
    req.end(body);
  });
}

function https1(
  port: number,
  path: string,
  host: string,
  ca: string[],
  o: { method?: string; headers?: Record<string, string> } = {},
): Promise<H2Reply & { alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        method: o.method ?? 'GET',
        servername: host,
        headers: { host, ...o.headers },
        ca,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
            alpn: (res.socket as import('node:tls').TLSSocket).alpnProtocol,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Raw bytes over TLS (HTTP/1.1 only); collects until the server closes or `timeoutMs`. */
function rawTls(port: number, servername: string, bytes: string, timeoutMs = 3000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    let text = '';
    let closed = false;
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ text, closed });
    }, timeoutMs);
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
    });
    s.on('close', () => {
      closed = true;
      clearTimeout(timer);
      resolve({ text, closed });
    });
    s.on('error', () => {});
    s.once('secureConnect', () => {
      if (bytes) s.write(bytes);
    });
  });
}

/**
 * Raw HTTP/2 over TLS, as an attacker writes it: preface, SETTINGS (+ ACK of the server's), then
 * `n` × (HEADERS with END_STREAM + RST_STREAM CANCEL) in one flight. Node's client cannot do this
 * (a stream closed before its HEADERS left is never sent). Resolves with the GOAWAY error code seen
 * (if any) and whether the server closed the connection within `waitMs`.
 */
function rapidReset(
  port: number,
  authority: string,
  n: number,
  waitMs = 2000,
): Promise<{ goaway: { code: number; lastStreamId: number } | undefined; closed: boolean }> {
  const frame = (type: number, flags: number, stream: number, payload: Buffer) => {
    const h = Buffer.alloc(9);
    h.writeUIntBE(payload.length, 0, 3);
    h[3] = type;
    h[4] = flags;
    h.writeUInt32BE(stream, 5);
    return Buffer.concat([h, payload]);
  };
  // HPACK: :method GET (static 2), :scheme https (7), :path / (4), :authority literal without indexing (name 1)
  const block = Buffer.concat([Buffer.from([0x82, 0x87, 0x84, 0x01, authority.length]), Buffer.from(authority)]);
  const rst = Buffer.alloc(4);
  rst.writeUInt32BE(h2c.NGHTTP2_CANCEL);
  return new Promise((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername: authority, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    let buf = Buffer.alloc(0);
    let goaway: { code: number; lastStreamId: number } | undefined;
    let acked = false;
    const done = (closed: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ goaway, closed });
    };
    const timer = setTimeout(() => done(false), waitMs);
    s.on('error', () => {});
    s.on('close', () => done(true));
    s.once('secureConnect', () =>
      s.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0, Buffer.alloc(0))])),
    );
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3];
        const flags = buf[4] ?? 0;
        if (type === 7) goaway = { lastStreamId: buf.readUInt32BE(9) & 0x7fffffff, code: buf.readUInt32BE(9 + 4) };
        if (type === 4 && (flags & 1) === 0 && !acked) {
          acked = true;
          const flight: Buffer[] = [frame(4, 1, 0, Buffer.alloc(0))];
          for (let i = 0; i < n; i++) {
            const id = 2 * i + 1;
            flight.push(frame(1, 0x5, id, block), frame(3, 0, id, rst));
          }
          s.write(Buffer.concat(flight));
        }
        buf = buf.subarray(9 + len);
      }
    });
  });
}

function echo(seen: SeenRequest, res: import('node:http').ServerResponse) {
  res.writeHead(200, {
    'content-type': 'text/plain',
    'cache-control': seen.url.startsWith('/cached') ? 'public, max-age=60' : 'no-store',
    connection: 'keep-alive',
    'keep-alive': 'timeout=5',
  });
  res.end(
    JSON.stringify({
      url: seen.url,
      method: seen.method,
      host: seen.headers.host,
      proto: seen.headers['x-forwarded-proto'],
      pseudo: Object.keys(seen.headers).filter((k) => k.startsWith(':')),
      body: seen.body,
    }),
  );
}

describe('edge: TLS, SNI, HTTP/2, redirects', () => {
  let dir: string;
  let origin: TestOrigin;
  let edge: EdgeHandle;
  let opCa: PlatformCa;
  let shopPem: PemPair;
  let wildPem: PemPair;
  let edgeCaPem: string;
  const file = () => join(dir, 'edge.json');

  function writeConfig(extra: { shopCert?: PemPair } = {}) {
    writeFileSync(join(dir, 'shop.crt'), (extra.shopCert ?? shopPem).certPem);
    writeFileSync(join(dir, 'shop.key'), (extra.shopCert ?? shopPem).keyPem);
    const cfg = {
      listen: { http: '127.0.0.1:0', https: '127.0.0.1:0' },
      limits: { maxHeaderBytes: 4096, maxHeaderCount: 20, headersTimeoutMs: 600, requestTimeoutMs: 1500 },
      http2: { maxConcurrentStreams: 128, resetBurst: 40, resetRatePerS: 5 },
      redirects: [{ host: 'www.shop.example.test', to: 'shop.example.test' }],
      sites: [
        {
          name: 'shop',
          hosts: ['shop.example.test'],
          upstreams: [origin.url],
          cache: { profile: 'generic' },
          purge: { allow: ['127.0.0.1/32'] },
          tls: { cert: 'shop.crt', key: 'shop.key' },
          hsts: { maxAgeS: 31536000, includeSubDomains: true },
        },
        {
          name: 'wild',
          hosts: ['a.wild.example', 'b.wild.example'],
          upstreams: [origin.url],
          tls: { certPem: wildPem.certPem, keyPem: wildPem.keyPem },
        },
        {
          name: 'plain',
          hosts: ['plain.example.test'],
          upstreams: [origin.url],
          httpsRedirect: false,
          cache: { profile: 'generic' },
        },
      ],
    };
    writeFileSync(file(), JSON.stringify(cfg));
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edge-tls-'));
    origin = await startOrigin(echo);
    opCa = await PlatformCa.open({ dir: undefined });
    shopPem = await opCa.leaf('shop.example.test');
    wildPem = await opCa.leaf('*.wild.example');
    writeConfig();
    edge = await startEdge({ config: loadConfigFile(file()), connectionsCheckingIntervalMs: 100 });
    edgeCaPem = readFileSync(join(dir, 'tls', 'ca.crt'), 'utf8');
  });
  after(async () => {
    await edge.close();
    await origin.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const tport = () => edge.httpsAddress!.port;

  test('platform CA: created in caDir (key 0600, cert 0644), reused by the next open', async () => {
    assert.equal(statSync(join(dir, 'tls', 'ca.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'tls', 'ca.crt')).mode & 0o777, 0o644);
    const ca = new X509Certificate(edgeCaPem);
    assert.equal(ca.ca, true);
    assert.match(ca.subject, /Triplane Edge Platform CA/);
  });

  test('SNI picks the configured certificate of the site (verified against the operator CA)', async () => {
    const p = await handshake(tport(), 'shop.example.test', [opCa.certPem]);
    assert.equal(p.authorized, true, p.authorizationError);
    assert.equal(p.cert.subjectaltname, 'DNS:shop.example.test');
    assert.equal(checkServerIdentity('shop.example.test', p.cert), undefined);
  });

  test('a wildcard certificate covers the hosts under it (SNI a.wild.example, b.wild.example)', async () => {
    for (const h of ['a.wild.example', 'b.wild.example']) {
      const p = await handshake(tport(), h, [opCa.certPem]);
      assert.equal(p.authorized, true, p.authorizationError);
      assert.equal(p.cert.subjectaltname, 'DNS:*.wild.example');
      assert.equal(checkServerIdentity(h, p.cert), undefined);
    }
  });

  test('a site without a certificate gets a platform-CA leaf that verifies against ca.crt', async () => {
    const p = await handshake(tport(), 'plain.example.test', [edgeCaPem]);
    assert.equal(p.authorized, true, p.authorizationError);
    assert.equal(p.cert.subjectaltname, 'DNS:plain.example.test');
    assert.equal(checkServerIdentity('plain.example.test', p.cert), undefined);
    assert.match(p.cert.ext_key_usage?.join(',') ?? '', /1\.3\.6\.1\.5\.5\.7\.3\.1/);
    const days = (Date.parse(p.cert.valid_to) - Date.now()) / 86_400_000;
    assert.ok(days > 85 && days <= 90, `leaf lifetime ${days} days`);
    // the redirect-only host is covered too (its 301 is served over HTTPS)
    const r = await handshake(tport(), 'www.shop.example.test', [edgeCaPem]);
    assert.equal(r.authorized, true, r.authorizationError);
  });

  test('unknown SNI (or none) gets the fallback certificate naming no site, and the request a 421', async () => {
    for (const sni of ['unknown.example', undefined]) {
      const p = await handshake(tport(), sni, [edgeCaPem, opCa.certPem]);
      assert.equal(p.authorized, false);
      assert.equal(p.cert.subjectaltname, 'DNS:triplane-edge.invalid');
    }
    const h0 = origin.hits;
    const s = h2connect(`https://127.0.0.1:${tport()}`, { servername: 'unknown.example', rejectUnauthorized: false });
    s.on('error', () => {});
    try {
      const r = await h2get(s, '/', 'unknown.example');
      assert.equal(r.status, 421);
      assert.doesNotMatch(r.body, /shop|wild|plain/);
    } finally {
      s.close();
    }
    assert.equal(origin.hits, h0);
  });

  test('ALPN h2 and http/1.1 both reach the upstream: X-Forwarded-Proto https, no pseudo-headers, no connection headers', async () => {
    const s = h2session(tport(), 'shop.example.test', [opCa.certPem]);
    try {
      const r = await h2get(s, '/path?q=1', 'shop.example.test', { 'x-forwarded-proto': 'http' });
      assert.equal(r.status, 200);
      const seen = JSON.parse(r.body);
      assert.deepEqual(
        { url: seen.url, host: seen.host, proto: seen.proto, pseudo: seen.pseudo },
        { url: '/path?q=1', host: 'shop.example.test', proto: 'https', pseudo: [] },
      );
      // the origin sent Connection/Keep-Alive; HTTP/2 forbids them
      assert.equal(r.headers.connection, undefined);
      assert.equal(r.headers['keep-alive'], undefined);
      assert.equal(r.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains');
      // a body without Content-Length (DATA frames) is forwarded
      const p = await h2get(s, '/post', 'shop.example.test', {}, 'hello h2');
      assert.equal(JSON.parse(p.body).body, 'hello h2');
      assert.equal(JSON.parse(p.body).method, 'POST');
    } finally {
      s.close();
    }
    const r1 = await https1(tport(), '/h1', 'shop.example.test', [opCa.certPem], { headers: { 'x-forwarded-proto': 'http' } });
    assert.equal(r1.alpn, false);
    assert.equal(r1.status, 200);
    assert.equal(JSON.parse(r1.body).proto, 'https');
    assert.equal(r1.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains');
    // ALPN negotiation proper: a client offering both gets h2, one offering http/1.1 gets it
    assert.equal((await handshake(tport(), 'shop.example.test', [opCa.certPem], ['h2', 'http/1.1'])).alpn, 'h2');
    assert.equal((await handshake(tport(), 'shop.example.test', [opCa.certPem], ['http/1.1'])).alpn, 'http/1.1');
  });

  test('h2 :authority and a disagreeing Host field → 400; an absolute :path → 400', async () => {
    const s = h2session(tport(), 'shop.example.test', [opCa.certPem]);
    try {
      assert.equal((await h2get(s, '/', 'shop.example.test', { host: 'plain.example.test' })).status, 400);
      assert.equal((await h2get(s, '/', 'shop.example.test', { host: 'shop.example.test' })).status, 200);
    } finally {
      s.close();
    }
  });

  test('cache over h2: same storage as HTTP/1.1-over-TLS, scheme in the key (http and https never share)', async () => {
    const h0 = origin.hits;
    const s = h2session(tport(), 'plain.example.test', [edgeCaPem]);
    try {
      const a = await h2get(s, '/cached/x', 'plain.example.test');
      const b = await h2get(s, '/cached/x', 'plain.example.test');
      assert.equal(a.status, 200);
      assert.equal(b.body, a.body);
      assert.equal(origin.hits, h0 + 1);
      assert.ok(Number(b.headers.age) >= 0);
    } finally {
      s.close();
    }
    // HTTP/1.1 over TLS: the same https object
    const c = await https1(tport(), '/cached/x', 'plain.example.test', [edgeCaPem]);
    assert.equal(c.status, 200);
    assert.equal(origin.hits, h0 + 1);
    // plain HTTP (this site does not redirect): its own object, its own X-Forwarded-Proto
    const d = await httpGet(edge.address.port, '/cached/x', { host: 'plain.example.test' });
    assert.equal(JSON.parse(d.body).proto, 'http');
    assert.equal(origin.hits, h0 + 2);
    assert.equal(d.headers['strict-transport-security'], undefined);
  });

  test('plain HTTP → HTTPS: 301 for GET/HEAD, 308 for POST, with the HTTPS port; purges and ACME stay on HTTP', async () => {
    const h0 = origin.hits;
    const g = await httpGet(edge.address.port, '/a/b?c=1', { host: 'shop.example.test' });
    assert.equal(g.status, 301);
    assert.equal(g.headers.location, `https://shop.example.test:${tport()}/a/b?c=1`);
    assert.equal(g.headers['strict-transport-security'], undefined, 'HSTS is never sent over plain HTTP');
    const p = await httpGet(edge.address.port, '/form', { host: 'shop.example.test', method: 'POST', body: 'x=1' });
    assert.equal(p.status, 308);
    assert.equal(origin.hits, h0);
    const acme = await httpGet(edge.address.port, '/.well-known/acme-challenge/tok', { host: 'shop.example.test' });
    assert.equal(acme.status, 200);
    const purge = await httpGet(edge.address.port, '/a/b?c=1', { host: 'shop.example.test', method: 'PURGE' });
    assert.equal(purge.status, 200);
    // the non-primary host's 301 keeps the scheme of the request
    const s = h2session(tport(), 'www.shop.example.test', [edgeCaPem]);
    try {
      const w = await h2get(s, '/x', 'www.shop.example.test');
      assert.equal(w.status, 301);
      assert.equal(w.headers.location, 'https://shop.example.test/x');
    } finally {
      s.close();
    }
  });

  test('HTTP/1.1 over TLS keeps the plain listener protections: 431, 400 (CL+TE), 408 slow headers', async () => {
    const big = await rawTls(
      tport(),
      'shop.example.test',
      `GET / HTTP/1.1\r\nHost: shop.example.test\r\nX-Big: ${'a'.repeat(6000)}\r\n\r\n`,
    );
    assert.match(big.text, /^HTTP\/1\.1 431 /);
    const many = Array.from({ length: 30 }, (_, i) => `X-H${i}: v\r\n`).join('');
    const count = await rawTls(tport(), 'shop.example.test', `GET / HTTP/1.1\r\nHost: shop.example.test\r\n${many}\r\n`);
    assert.match(count.text, /^HTTP\/1\.1 431 /);
    const smuggle = await rawTls(
      tport(),
      'shop.example.test',
      'POST / HTTP/1.1\r\nHost: shop.example.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    );
    assert.match(smuggle.text, /^HTTP\/1\.1 400 /);
    assert.equal(smuggle.closed, true);
    const slow = await rawTls(tport(), 'shop.example.test', 'GET / HTTP/1.1\r\nHost: shop.example.test\r\n', 3000);
    assert.match(slow.text, /^HTTP\/1\.1 408 /);
    assert.equal(slow.closed, true);
  });

  test('h2 header limits: too many fields → 431; a header list over maxHeaderBytes is refused', async () => {
    const s = h2session(tport(), 'shop.example.test', [opCa.certPem]);
    try {
      const many: Record<string, string> = {};
      for (let i = 0; i < 21; i++) many[`x-h${i}`] = 'v';
      assert.equal((await h2get(s, '/', 'shop.example.test', many)).status, 431);
      // far past the count: nghttp2 refuses the stream before the handler runs (ENHANCE_YOUR_CALM)
      for (let i = 21; i < 60; i++) many[`x-h${i}`] = 'v';
      const flood = await h2get(s, '/', 'shop.example.test', many).then(
        (r) => String(r.status),
        (e: Error) => e.message,
      );
      assert.match(flood, /^431$|NGHTTP2_ENHANCE_YOUR_CALM/);
      // (node's client does not enforce the server's SETTINGS_MAX_HEADER_LIST_SIZE: the server resets the stream)
      const h0 = origin.hits;
      const big = await h2get(s, '/', 'shop.example.test', { 'x-big': 'a'.repeat(8000) }).then(
        (r) => String(r.status),
        (e: Error) => e.message,
      );
      assert.match(big, /^431$|NGHTTP2_ENHANCE_YOUR_CALM/);
      assert.equal(origin.hits, h0);
      // the session survives a refused stream
      assert.equal((await h2get(s, '/ok', 'shop.example.test')).status, 200);
    } finally {
      s.close();
    }
  });

  test('h2 slow body: a request body still arriving after requestTimeoutMs → 408 and the stream is reset', async () => {
    const s = h2session(tport(), 'shop.example.test', [opCa.certPem]);
    try {
      const t0 = Date.now();
      const r = await new Promise<{ status: number; ms: number }>((resolve, reject) => {
        const req = s.request({ ':path': '/upload', ':authority': 'shop.example.test', ':method': 'POST' });
        req.on('response', (h) => resolve({ status: Number(h[':status']), ms: Date.now() - t0 }));
        req.on('error', reject);
        req.write('partial body, never finished');
      });
      assert.equal(r.status, 408);
      assert.ok(r.ms >= 1400 && r.ms < 4000, `after ${r.ms} ms`);
      // the session is still usable
      assert.equal((await h2get(s, '/ok', 'shop.example.test')).status, 200);
    } finally {
      s.close();
    }
  });

  test('h2 session that never sends its SETTINGS is closed after headersTimeoutMs', async () => {
    const closed = await new Promise<number>((resolve) => {
      const t0 = Date.now();
      const s = tlsConnect({
        host: '127.0.0.1',
        port: tport(),
        servername: 'shop.example.test',
        rejectUnauthorized: false,
        ALPNProtocols: ['h2'],
      });
      s.on('error', () => {});
      s.on('data', () => {});
      s.on('close', () => resolve(Date.now() - t0));
      setTimeout(() => s.destroy(), 5000).unref();
    });
    assert.ok(closed < 3000, `closed after ${closed} ms`);
  });

  test('rapid reset (CVE-2023-44487): a session resetting streams past the burst gets GOAWAY; others are served', async () => {
    const good = h2session(tport(), 'shop.example.test', [opCa.certPem]);
    try {
      assert.equal((await h2get(good, '/before', 'shop.example.test')).status, 200);
      const h0 = origin.hits;
      const attack = await rapidReset(tport(), 'shop.example.test', 150);
      assert.equal(attack.goaway?.code, h2c.NGHTTP2_INTERNAL_ERROR, 'nghttp2 ends the session with GOAWAY');
      // it is the reset bucket (http2.resetBurst = 40, refilled at resetRatePerS = 5/s while the flight is
      // sent — allow 5 s of refill on a loaded machine) that fired, not the concurrent-stream refusals
      // (with node's default burst of 1000 the same flight gets through and reaches the origin 128 times)
      assert.ok(attack.goaway.lastStreamId <= 2 * (40 + 25) + 1, `last stream ${attack.goaway.lastStreamId}`);
      assert.ok(attack.closed, 'the connection is closed');
      assert.ok(origin.hits - h0 <= 40 + 25, `origin saw ${origin.hits - h0} reset requests`);
      assert.equal((await h2get(good, '/after', 'shop.example.test')).status, 200);
      // under the burst nothing happens: a browser cancelling a few streams keeps its session
      const calm = await rapidReset(tport(), 'shop.example.test', 10, 500);
      assert.equal(calm.goaway, undefined);
    } finally {
      good.close();
    }
  });

  test('hot swap: after reload new handshakes get the new certificate; an open h2 session keeps working', async () => {
    const old = await handshake(tport(), 'shop.example.test', [opCa.certPem]);
    const open = h2session(tport(), 'shop.example.test', [opCa.certPem]);
    try {
      assert.equal((await h2get(open, '/one', 'shop.example.test')).status, 200);
      const next = await opCa.leaf('shop.example.test'); // cached: same pair → issue a distinct one
      const fresh = await (await PlatformCa.open({ dir: undefined })).leaf('shop.example.test');
      assert.equal(next.certPem, shopPem.certPem);
      writeConfig({ shopCert: fresh });
      edge.reload(loadConfigFile(file()));
      const now = await handshake(tport(), 'shop.example.test', []);
      assert.notEqual(now.cert.fingerprint256, old.cert.fingerprint256);
      assert.equal(now.cert.fingerprint256, new X509Certificate(fresh.certPem).fingerprint256);
      assert.equal((await h2get(open, '/two', 'shop.example.test')).status, 200);
      // a bad pair on reload: rejected naming the field, the running certificate stays
      writeFileSync(join(dir, 'shop.key'), shopPem.keyPem);
      assert.throws(
        () => edge.reload(loadConfigFile(file())),
        (e: Error & { code?: string }) =>
          e.code === 'TRIPLANE_ERR_CONFIG' && /sites\[0\]\.tls\.key: does not match the certificate/.test(e.message),
      );
      const still = await handshake(tport(), 'shop.example.test', []);
      assert.equal(still.cert.fingerprint256, now.cert.fingerprint256);
    } finally {
      open.close();
      writeConfig();
      edge.reload(loadConfigFile(file()));
    }
  });
});

describe('edge TLS config', () => {
  let opCa: PlatformCa;
  let pem: PemPair;
  let other: PemPair;
  before(async () => {
    opCa = await PlatformCa.open({ dir: undefined });
    pem = await opCa.leaf('a.example');
    other = await opCa.leaf('b.example');
  });
  const site = (tls: Record<string, string>) => ({
    listen: { http: '127.0.0.1:0', https: '127.0.0.1:0' },
    sites: [{ name: 'a', hosts: ['a.example'], upstreams: [], tls }],
  });
  const rejects = (input: unknown, re: RegExp) =>
    assert.throws(
      () => loadConfig(input),
      (e: Error & { code?: string }) => e.code === 'TRIPLANE_ERR_CONFIG' && re.test(e.message),
    );

  test('bad PEM is a config error naming the field', () => {
    rejects(site({ certPem: 'garbage', keyPem: pem.keyPem }), /^sites\[0\]\.tls\.certPem: not a PEM certificate/);
    rejects(site({ certPem: pem.certPem, keyPem: 'garbage' }), /^sites\[0\]\.tls\.keyPem: not a PEM private key/);
    rejects(site({ certPem: pem.certPem, keyPem: other.keyPem }), /^sites\[0\]\.tls\.keyPem: does not match the certificate/);
    rejects(
      site({ certPem: pem.certPem.replace(/[A-Za-z]{8}\n/, 'AAAAAAAA\n'), keyPem: pem.keyPem }),
      /^sites\[0\]\.tls\.certPem: /,
    );
    rejects(site({ certPem: pem.certPem }), /^sites\[0\]\.tls\.keyPem: missing/);
    rejects(site({ cert: '/nonexistent/a.crt', key: '/nonexistent/a.key' }), /^sites\[0\]\.tls\.cert: cannot read/);
    rejects(site({ cert: 'a.crt', certPem: pem.certPem }), /^sites\[0\]\.tls: give cert\/key files or certPem\/keyPem/);
    rejects({ listen: { http: '127.0.0.1:0', https: 'nope' }, sites: [] }, /^listen\.https: expected host:port/);
    rejects({ listen: { http: '127.0.0.1:0' }, http2: { resetBurst: 0 }, sites: [] }, /^http2\.resetBurst/);
  });

  test('defaults: httpsRedirect follows listen.https; HSTS off; caDir next to the config file', () => {
    const withHttps = loadConfig(site({ certPem: pem.certPem, keyPem: pem.keyPem }), { baseDir: '/etc/triplane' });
    assert.equal(withHttps.sites[0]!.httpsRedirect, true);
    assert.equal(withHttps.sites[0]!.hsts, undefined);
    assert.deepEqual(withHttps.sites[0]!.tls?.names, ['a.example']);
    assert.equal(withHttps.tls.caDir, '/etc/triplane/tls');
    assert.deepEqual(withHttps.http2, { maxConcurrentStreams: 128, resetBurst: 200, resetRatePerS: 33, idleTimeoutMs: 60000 });
    const plain = loadConfig({ listen: { http: '127.0.0.1:0' }, sites: [{ name: 'a', hosts: ['a.example'], upstreams: [] }] });
    assert.equal(plain.sites[0]!.httpsRedirect, false);
    assert.equal(plain.tls.caDir, undefined);
    const hsts = loadConfig(
      {
        listen: { http: '127.0.0.1:0' },
        tls: { caDir: 'ca' },
        sites: [
          { name: 'a', hosts: ['a.example'], upstreams: [], hsts: { maxAgeS: 600, includeSubDomains: true, preload: true } },
        ],
      },
      { baseDir: '/srv' },
    );
    assert.equal(hsts.sites[0]!.hsts, 'max-age=600; includeSubDomains; preload');
    assert.equal(hsts.tls.caDir, '/srv/ca');
  });

  test('snapshot certificates become inline PEM for the sites they cover; invalid or keyless ones fall back to the platform CA', () => {
    const snap = {
      apiVersion: 'triplane/v1',
      kind: 'EdgeSnapshot',
      revision: 1,
      generatedAt: new Date().toISOString(),
      sites: [],
      routes: [
        { hostname: 'a.example', environmentId: 'env_a', siteId: 's', primary: true, redirectTo: null },
        { hostname: 'b.example', environmentId: 'env_b', siteId: 's', primary: true, redirectTo: null },
        { hostname: 'c.example', environmentId: 'env_c', siteId: 's', primary: true, redirectTo: null },
      ],
      upstreams: ['env_a', 'env_b', 'env_c'].map((environmentId) => ({
        environmentId,
        state: 'running',
        policy: 'round-robin',
        members: [{ serverId: 'srv', address: '10.0.0.5', port: 20000 }],
        healthCheck: {
          path: '/',
          host: null,
          intervalMs: 5000,
          timeoutMs: 2000,
          healthyThreshold: 2,
          unhealthyThreshold: 3,
          expectStatusMin: 200,
          expectStatusMax: 399,
        },
        connectTimeoutMs: 5000,
        readTimeoutMs: 60000,
      })),
      certificates: [
        { id: 'c1', hostnames: ['a.example'], certificatePem: pem.certPem, keyRef: pem.keyPem, notAfter: '2030-01-01T00:00:00Z' },
        {
          id: 'c2',
          hostnames: ['b.example'],
          certificatePem: other.certPem,
          keyRef: pem.keyPem,
          notAfter: '2030-01-01T00:00:00Z',
        },
        { id: 'c3', hostnames: ['c.example'], certificatePem: pem.certPem, keyRef: 'vault:c3', notAfter: '2030-01-01T00:00:00Z' },
      ],
      policies: [],
    } as unknown as EdgeSnapshot;
    const cfg = configFromSnapshot(snap, {
      listen: { http: '127.0.0.1:0', https: '127.0.0.1:0' },
      tls: { caDir: '/var/lib/x/tls' },
    });
    const byName = new Map(cfg.sites.map((s) => [s.hosts[0], s]));
    assert.equal(byName.get('a.example')?.tls?.certPem, pem.certPem);
    assert.equal(byName.get('b.example')?.tls, undefined);
    assert.equal(byName.get('c.example')?.tls, undefined);
    const resolved = configFromSnapshot(snap, {
      listen: { http: '127.0.0.1:0' },
      resolveKey: (r) => (r === 'vault:c3' ? pem.keyPem : undefined),
    });
    assert.equal(resolved.sites.find((s) => s.hosts[0] === 'c.example')?.tls?.keyPem, pem.keyPem);
    const loaded = loadConfig(cfg);
    assert.equal(loaded.tls.caDir, '/var/lib/x/tls');
    assert.equal(loaded.listen.https?.port, 0);
  });

  test('platform CA leaves: one issuance per host under concurrency, renewed with < 30 days left', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const ca = await PlatformCa.open({ dir: undefined, now: () => now });
    const [a, b] = await Promise.all([ca.leaf('x.example'), ca.leaf('x.example')]);
    assert.equal(a.certPem, b.certPem);
    assert.equal((await ca.leaf('x.example')).certPem, a.certPem);
    assert.ok(ca.readyContext('x.example'));
    now += 59 * 86_400_000; // 31 days left: still served
    assert.equal((await ca.leaf('x.example')).certPem, a.certPem);
    now += 2 * 86_400_000; // 29 days left: renewed once, the old leaf serves meanwhile
    const renewing = [ca.leaf('x.example'), ca.leaf('x.example')] as const;
    assert.ok(ca.readyContext('x.example'), 'the previous leaf keeps serving while the renewal runs');
    const [c, d] = await Promise.all(renewing);
    assert.equal(c.certPem, d.certPem);
    assert.notEqual(c.certPem, a.certPem);
    assert.ok(Math.abs(Date.parse(new X509Certificate(c.certPem).validTo) - (now + 90 * 86_400_000)) < 2000);
  });

  test('platform CA: two processes starting at once create one CA; a later open reuses it', async () => {
    const caDir = mkdtempSync(join(tmpdir(), 'edge-ca-'));
    try {
      const script = `import { PlatformCa } from ${JSON.stringify(new URL('./tls/ca.ts', import.meta.url).href)};
        const ca = await PlatformCa.open({ dir: process.argv[1] });
        process.stdout.write(ca.certPem);`;
      const run = () =>
        new Promise<string>((resolve, reject) =>
          execFile(process.execPath, ['--input-type=module', '-e', script, caDir], (err, out) =>
            err ? reject(err) : resolve(out),
          ),
        );
      const [a, b] = await Promise.all([run(), run()]);
      assert.equal(a, b);
      assert.equal(readFileSync(join(caDir, 'ca.crt'), 'utf8'), a);
      assert.equal(await run(), a);
    } finally {
      rmSync(caDir, { recursive: true, force: true });
    }
  });
});
