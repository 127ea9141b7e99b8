import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { EdgeLogLine } from '@triplane/spec';
import type { AccessEntry } from './access-log.ts';
import { AccessLogRing, drainLogLines, EdgeLogShipper, sanitizePath, toLogLines, wafErrorLine } from './logs-push.ts';
import { startEdge } from './server.ts';
import { httpGet, startOrigin, waitFor } from './testing.ts';
import type { WafEvent } from './waf-events.ts';

const entry = (over: Partial<AccessEntry> = {}): AccessEntry => ({
  id: 'r1',
  site: 'env-a',
  method: 'GET',
  host: 'a.example.test',
  url: '/',
  status: 200,
  cache: 'MISS',
  upstream: 'http://127.0.0.1:1',
  attempts: 1,
  ip: '127.0.0.1',
  bytesIn: 10,
  bytesOut: 10,
  ms: 3,
  upstreamMs: 2,
  ua: 'Mozilla/5.0',
  ...over,
});

test('AccessLogRing: keeps the newest `capacity` entries, counts the overwritten, signals a batch once per drain', async () => {
  let signals = 0;
  const ring = new AccessLogRing({ capacity: 4, threshold: 3, onThreshold: () => signals++ });
  for (let i = 0; i < 6; i++) ring.append(entry({ url: `/${i}` }));
  const d = ring.drain();
  assert.deepEqual(
    d.entries.map((e) => e.url),
    ['/2', '/3', '/4', '/5'],
  );
  assert.equal(d.overwritten, 2);
  assert.ok(d.times.every((t) => Math.abs(t - Date.now()) < 5000));
  await new Promise((r) => setImmediate(r));
  assert.equal(signals, 1, 'once, on a later tick');
  assert.deepEqual(ring.drain(), { entries: [], times: [], overwritten: 0 });
  for (let i = 0; i < 3; i++) ring.append(entry());
  await new Promise((r) => setImmediate(r));
  assert.equal(signals, 2);
});

test('sanitizePath: login endpoints lose the query, secret-like parameters their values, long targets are cut', () => {
  assert.equal(sanitizePath('/shop/?p=12&utm_source=x'), '/shop/?p=12&utm_source=x');
  assert.equal(sanitizePath('/wp-login.php?log=admin&pwd=hunter2'), '/wp-login.php?[redacted]');
  assert.equal(sanitizePath('/xmlrpc.php?x=1'), '/xmlrpc.php?[redacted]');
  assert.equal(sanitizePath('/customer/account/loginPost/?form_key=1'), '/customer/account/loginPost/?[redacted]');
  assert.equal(
    sanitizePath('/?wc-api=x&consumer_key=ck_1&consumer_secret=cs_2&access_token=t&page=2'),
    '/?wc-api=x&consumer_key=[redacted]&consumer_secret=[redacted]&access_token=[redacted]&page=2',
  );
  assert.equal(sanitizePath(`/${'a'.repeat(2000)}`).length, 512);
  assert.equal(sanitizePath(`/p?q=${'b'.repeat(5000)}`).length, 512);
});

test('toLogLines: access lines per environment, error lines for upstream failures, fields truncated', () => {
  const envOf = (s: string) => (s === 'env-a' ? 'env_a' : undefined);
  const lines = toLogLines(
    [
      entry({ ua: 'x'.repeat(1000) }),
      entry({ site: 'file-site' }), // a file config's site: no environment
      entry({ site: undefined, status: 421 }), // no site
      entry({ id: 'r2', status: 504, upstreamMs: undefined, upstreamError: 'first-byte-timeout', attempts: 2 }),
      entry({ id: 'r3', status: 502, upstreamMs: 40 }), // the origin said 502: not an edge error
      entry({ id: 'r4', status: 413, upstreamMs: undefined, upstreamError: 'body-too-large' }),
      entry({ id: 'r5', status: 503, upstreamMs: undefined, upstream: undefined, attempts: 0, upstreamError: 'no-member' }),
    ],
    [1, 2, 3, 4, 5, 6, 7],
    envOf,
  );
  assert.deepEqual(
    lines.map((l) => `${l.kind}:${l.requestId}:${l.status}`),
    ['access:r1:200', 'access:r2:504', 'error:r2:504', 'access:r3:502', 'access:r4:413', 'access:r5:503', 'error:r5:503'],
  );
  assert.equal(lines[0]?.ua?.length, 256);
  assert.equal(lines[0]?.environmentId, 'env_a');
  assert.equal(lines[0]?.at, 1);
  assert.equal(
    lines[2]?.message,
    'upstream timeout (no response headers) from http://127.0.0.1:1 after 2 attempts; answered 504',
  );
  assert.equal(lines[6]?.message, 'no healthy upstream member; answered 503');
  assert.ok(lines.every((l) => !('cookie' in l) && !('authorization' in l)));
});

test('wafErrorLine: a refusal is an error line naming the rules; detections are not', () => {
  const ev: WafEvent = {
    site: 'env-a',
    environmentId: 'env_a',
    time: '2026-05-01T12:00:00.000Z',
    requestId: 'r9',
    clientIp: '203.0.113.5',
    method: 'GET',
    host: 'a.example.test',
    uri: '/wp-login.php?pwd=x',
    status: 403,
    action: 'blocked',
    anomalyScore: 10,
    outboundAnomalyScore: 0,
    rules: [{ id: 942100, msg: 'SQL Injection Attack Detected via libinjection' }],
  };
  const l = wafErrorLine(ev);
  assert.equal(l?.kind, 'error');
  assert.equal(l?.path, '/wp-login.php?[redacted]');
  assert.equal(l?.message, 'WAF blocked (anomaly score 10): 942100 SQL Injection Attack Detected via libinjection');
  assert.equal(l?.at, Date.parse(ev.time));
  assert.equal(wafErrorLine({ ...ev, action: 'detected' }), undefined);
  assert.equal(wafErrorLine({ ...ev, environmentId: undefined }), undefined);
});

test('a real edge (shipLogs) keeps what it served, fast-path hits included, and signals full batches', async () => {
  const origin = await startOrigin((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'public, max-age=60' }).end('<p>hi</p>');
  });
  let ready = 0;
  const edge = await startEdge({
    config: {
      listen: { http: '127.0.0.1:0' },
      sites: [
        { name: 'env-a', environmentId: 'env_a', hosts: ['a.example'], upstreams: [origin.url], cache: { profile: 'generic' } },
        { name: 'file', hosts: ['f.example'], upstreams: [origin.url] },
      ],
    },
    shipLogs: true,
    onLogsReady: () => ready++,
  });
  try {
    const port = edge.address.port;
    await httpGet(port, '/page?x=1', { headers: { 'user-agent': 'test-agent/1.0', cookie: 'wordpress_logged_in=secret' } });
    await httpGet(port, '/page?x=1'); // stored…
    await httpGet(port, '/page?x=1', { headers: { 'user-agent': 'hit-agent' } }); // …and a cache hit (fast path)
    await httpGet(port, '/', { host: 'f.example' });
    await waitFor(() => (edge.logs?.size ?? 0) >= 4);
    const { lines, dropped } = drainLogLines(edge);
    assert.equal(dropped, 0);
    assert.deepEqual(
      lines.map((l) => `${l.environmentId} ${l.kind} ${l.method} ${l.path} ${l.status} ${l.cache}`),
      ['env_a access GET /page?x=1 200 PASS', 'env_a access GET /page?x=1 200 MISS', 'env_a access GET /page?x=1 200 HIT'],
    );
    assert.equal(lines[0]?.ua, 'test-agent/1.0');
    assert.equal(lines[2]?.ua, 'hit-agent', 'fast-path hits too');
    assert.equal(lines[0]?.host, 'a.example');
    assert.match(lines[0]?.requestId ?? '', /./);
    assert.ok(!JSON.stringify(lines).includes('secret'), 'no cookie anywhere');
    for (let i = 0; i < 500; i++) edge.logs?.append(entry({ site: 'env-a' }));
    await waitFor(() => ready === 1);
    assert.equal(ready, 1);
  } finally {
    await edge.close();
    await origin.close();
  }
});

/** A stand-in control plane: records each POST /api/v1/edge/logs body and answers `status`. */
async function receiver(status: () => number) {
  const got: { auth: string | undefined; body: { lines: EdgeLogLine[]; dropped?: number } }[] = [];
  const srv = createServer(async (req: IncomingMessage, res) => {
    let text = '';
    for await (const c of req) text += c;
    got.push({ auth: req.headers.authorization, body: JSON.parse(text) });
    res.writeHead(status(), { 'content-type': 'application/json' }).end('{"accepted":0,"ignored":0}');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return { got, url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, close: () => srv.close() };
}

test('EdgeLogShipper: batches of ≤ 500, WAF actions joined, bounded queue while the control plane is down, drops reported', async () => {
  let answer = 503;
  const cp = await receiver(() => answer);
  let pending: EdgeLogLine[] = [];
  const line = (i: number, over: Partial<EdgeLogLine> = {}): EdgeLogLine => ({
    environmentId: 'env_a',
    kind: 'access',
    at: i,
    requestId: `r${i}`,
    path: `/${i}`,
    status: 200,
    ...over,
  });
  const shipper = new EdgeLogShipper({
    apiUrl: cp.url,
    credential: () => 'tpa_test',
    collect: () => {
      const lines = pending;
      pending = [];
      return { lines, dropped: 0 };
    },
    maxQueued: 700,
  });
  try {
    // control plane failing: lines are kept (bounded), the oldest dropped and counted
    pending = Array.from({ length: 600 }, (_, i) => line(i));
    await shipper.flush();
    assert.equal(shipper.queued, 600);
    pending = Array.from({ length: 300 }, (_, i) => line(600 + i));
    await shipper.flush();
    assert.equal(shipper.queued, 700);
    assert.equal(shipper.stats.dropped, 200);
    assert.equal(cp.got.length, 2, 'one attempt per flush while failing');

    // back (the WAF line and the last access line push two more out of the full queue): everything queued goes, in batches of ≤ 500, the drop count with the first accepted batch
    answer = 202;
    shipper.wafEvent({
      site: 'env-a',
      environmentId: 'env_a',
      time: new Date().toISOString(),
      requestId: 'r950',
      clientIp: '203.0.113.5',
      method: 'GET',
      host: 'a.example',
      uri: '/?id=1%27',
      status: 403,
      action: 'blocked',
      anomalyScore: 5,
      outboundAnomalyScore: 0,
      rules: [{ id: 942100, msg: 'SQLi' }],
    });
    pending = [line(950, { status: 403 })];
    cp.got.length = 0;
    await shipper.flush();
    assert.equal(shipper.queued, 0);
    assert.deepEqual(
      cp.got.map((g) => [g.body.lines.length, g.body.dropped]),
      [
        [500, 202],
        [200, undefined],
      ],
    );
    assert.equal(cp.got[0]?.auth, 'Bearer tpa_test');
    const all = cp.got.flatMap((g) => g.body.lines);
    assert.equal(all[0]?.requestId, 'r202', 'the oldest were dropped (the queue holds 700)');
    const blocked = all.filter((l) => l.requestId === 'r950');
    assert.deepEqual(blocked.map((l) => `${l.kind}:${l.waf}`).sort(), ['access:blocked', 'error:blocked']);
    assert.equal(shipper.stats.sent, 700);
  } finally {
    await shipper.stop();
    cp.close();
  }
});

test('EdgeLogShipper: an unreachable control plane never throws and never grows the queue past its bound', async () => {
  const shipper = new EdgeLogShipper({
    apiUrl: 'http://127.0.0.1:1',
    credential: () => 'tpa_test',
    collect: () => ({
      lines: Array.from({ length: 50 }, (_, i) => ({ environmentId: 'e', kind: 'access' as const, at: i })),
      dropped: 7,
    }),
    maxQueued: 60,
    timeoutMs: 1000,
  });
  await shipper.flush();
  await shipper.flush();
  assert.equal(shipper.queued, 60);
  assert.equal(shipper.stats.dropped, 7 + 7 + 40);
  assert.equal(shipper.stats.failedPosts, 2);
});
