import assert from 'node:assert/strict';
import { randomBytes, scryptSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { EdgeSnapshot } from '@triplane/spec';
import { BasicAuthGate } from './basic-auth.ts';
import { loadConfig } from './config.ts';
import { type EdgeHandle, startEdge } from './server.ts';
import { configFromSnapshot } from './snapshot.ts';
import { httpGet, rawRequest, startOrigin, type TestOrigin } from './testing.ts';

const PASSWORD = 'open sesame 4 staging';

/** The control plane's format (packages/control …/environments/protection.ts), N=2^14 to keep the suite quick. */
function hashOf(password: string, N = 16384): string {
  const salt = randomBytes(16);
  const key = scryptSync(password.normalize('NFKC'), salt, 32, { N, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
  return `scrypt:${N}:8:1:${salt.toString('base64')}:${key.toString('base64')}`;
}
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const HASH = hashOf(PASSWORD);

describe('staging at the edge: config', () => {
  const site = (extra: Record<string, unknown>) => ({
    listen: { http: '127.0.0.1:0' },
    sites: [{ name: 'stg', hosts: ['stg.example'], upstreams: ['http://127.0.0.1:9'], ...extra }],
  });

  test('noindex and basicAuth are read; the realm defaults to the site name', () => {
    const c = loadConfig(site({ noindex: true, basicAuth: { user: 'preview', hash: HASH } }));
    assert.equal(c.sites[0]?.noindex, true);
    assert.deepEqual(c.sites[0]?.basicAuth, { realm: 'stg', user: 'preview', hash: HASH });
    const plain = loadConfig(site({}));
    assert.equal(plain.sites[0]?.noindex, false);
    assert.equal(plain.sites[0]?.basicAuth, undefined);
  });

  test('a plain password, a bad hash, a realm with a quote or a user with a colon are config errors', () => {
    for (const [basicAuth, field] of [
      [{ user: 'preview', hash: PASSWORD }, 'sites[0].basicAuth.hash'],
      [{ user: 'preview', hash: HASH.replace('scrypt:16384', 'scrypt:1000') }, 'sites[0].basicAuth.hash'],
      [{ user: 'preview', hash: HASH.replace(':8:1:', ':99:1:') }, 'sites[0].basicAuth.hash'],
      [{ user: 'preview', hash: HASH, realm: 'a"b' }, 'sites[0].basicAuth.realm'],
      [{ user: 'pre:view', hash: HASH }, 'sites[0].basicAuth.user'],
      [{ hash: HASH }, 'sites[0].basicAuth.user'],
    ] as const) {
      assert.throws(
        () => loadConfig(site({ basicAuth })),
        (e: { code?: string; details?: { field?: string } }) => e.code === 'TRIPLANE_ERR_CONFIG' && e.details?.field === field,
        JSON.stringify(basicAuth),
      );
    }
  });

  test('the snapshot policies become the site config (the hash as given, never a password)', () => {
    const snap: EdgeSnapshot = {
      apiVersion: 'triplane/v1',
      kind: 'EdgeSnapshot',
      revision: 3,
      generatedAt: '2026-01-01T00:00:00.000Z',
      sites: [],
      routes: [
        { hostname: 'stg.example', environmentId: 'env_stg', siteId: 'site_1', primary: true, redirectTo: null },
        { hostname: 'shop.example', environmentId: 'env_prod', siteId: 'site_1', primary: true, redirectTo: null },
      ],
      upstreams: ['env_stg', 'env_prod'].map((environmentId) => ({
        environmentId,
        state: 'running' as const,
        policy: 'round-robin' as const,
        members: [{ serverId: 's1', address: '127.0.0.1', port: 9 }],
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
      certificates: [],
      policies: [
        {
          environmentId: 'env_stg',
          cache: {
            enabled: true,
            profile: 'wordpress',
            defaultTtlS: 60,
            staticTtlS: 60,
            graceS: 10,
            bypassPaths: [],
            bypassCookies: [],
            ignoreQueryParams: [],
            honorOriginCacheControl: true,
          },
          waf: {
            enabled: false,
            mode: 'block',
            paranoiaLevel: 1,
            inboundAnomalyThreshold: 5,
            outboundAnomalyThreshold: 4,
            exclusionProfiles: [],
            maxRequestBodyBytes: 1000,
          },
          rate: { requestsPerSecond: 10, burst: 10, rules: [] },
          noindex: true,
          basicAuth: { realm: 'shop staging', user: 'preview', hash: HASH },
        },
      ],
    };
    const c = loadConfig(configFromSnapshot(snap, { listen: { http: '127.0.0.1:0' } }));
    const stg = c.sites.find((s) => s.environmentId === 'env_stg');
    const prod = c.sites.find((s) => s.environmentId === 'env_prod');
    assert.equal(stg?.noindex, true);
    assert.deepEqual(stg?.basicAuth, { realm: 'shop staging', user: 'preview', hash: HASH });
    assert.equal(prod?.noindex, false);
    assert.equal(prod?.basicAuth, undefined);
  });
});

describe('staging at the edge: Basic auth and noindex on real sockets', () => {
  let origin: TestOrigin;
  let edge: EdgeHandle;
  const config = (hash = HASH) => ({
    listen: { http: '127.0.0.1:0' },
    debugHeaders: true,
    sites: [
      {
        name: 'stg',
        hosts: ['stg.example'],
        upstreams: [origin.url],
        cache: { profile: 'generic' as const },
        purge: { allow: ['127.0.0.1/32'] },
        noindex: true,
        basicAuth: { realm: 'shop staging', user: 'preview', hash },
      },
      {
        name: 'open',
        hosts: ['open.example'],
        upstreams: [origin.url],
        cache: { profile: 'generic' as const },
        noindex: true,
      },
      { name: 'prod', hosts: ['prod.example'], upstreams: [origin.url], cache: { profile: 'generic' as const } },
    ],
  });
  before(async () => {
    origin = await startOrigin((req, res) => {
      res.writeHead(200, {
        'content-type': 'text/plain',
        'cache-control': 'public, max-age=600',
        'x-robots-tag': 'all',
      });
      res.end(req.url === '/robots.txt' ? 'User-agent: *\nAllow: /\n' : `page ${req.url}`);
    });
    edge = await startEdge({ config: config() });
  });
  after(async () => {
    await edge.close();
    await origin.close();
  });
  const gate = () => edge.current().byHost.get('stg.example')?.basicAuth as BasicAuthGate;

  test('without or with wrong credentials: 401 with the challenge, never cached, origin untouched', async () => {
    const before = origin.hits;
    for (const authorization of [
      undefined,
      basic('preview', 'wrong password'),
      basic('someone', PASSWORD),
      basic('preview', ''),
      'Basic !!!',
      'Bearer abc',
      `Basic ${Buffer.from('preview').toString('base64')}`,
    ]) {
      const r = await httpGet(edge.address.port, '/p', {
        host: 'stg.example',
        headers: authorization ? { authorization } : {},
      });
      assert.equal(r.status, 401, String(authorization));
      assert.equal(r.headers['www-authenticate'], 'Basic realm="shop staging", charset="UTF-8"');
      assert.equal(r.headers['cache-control'], 'no-store');
      assert.equal(r.headers['x-robots-tag'], 'noindex, nofollow');
    }
    assert.equal(origin.hits, before, 'nothing reached the origin');
  });

  test('the right credentials: 200; the origin never sees them; the page is cached and only the first request paid scrypt', async () => {
    const runs = gate().scryptRuns;
    const authorization = basic('preview', PASSWORD);
    const a = await httpGet(edge.address.port, '/cached', { host: 'stg.example', headers: { authorization } });
    assert.equal(a.status, 200);
    assert.equal(a.body, 'page /cached');
    assert.equal(a.headers['x-cache'], 'MISS');
    assert.equal(a.headers['x-robots-tag'], 'noindex, nofollow', "the edge's value replaces the origin's");
    assert.equal(origin.seen.at(-1)?.headers.authorization, undefined, 'the edge credentials end at the edge');
    const b = await httpGet(edge.address.port, '/cached', { host: 'stg.example', headers: { authorization } });
    assert.equal(b.status, 200);
    assert.equal(b.headers['x-cache'], 'HIT');
    assert.equal(b.headers['x-robots-tag'], 'noindex, nofollow');
    assert.equal(origin.seen.filter((s) => s.url === '/cached').length, 1);
    assert.equal(gate().scryptRuns, runs + 1, 'one scrypt for two requests');
  });

  test('the fast path never serves a protected cached page: a hit without credentials is 401', async () => {
    const authorization = basic('preview', PASSWORD);
    await httpGet(edge.address.port, '/hot', { host: 'stg.example', headers: { authorization } });
    const hit = await httpGet(edge.address.port, '/hot', { host: 'stg.example', headers: { authorization } });
    assert.equal(hit.headers['x-cache'], 'HIT');
    const served = edge.fastPath.served;
    for (let i = 0; i < 2; i++) {
      const r = await httpGet(edge.address.port, '/hot', { host: 'stg.example' });
      assert.equal(r.status, 401);
      assert.equal(r.body.includes('page'), false);
    }
    // the strictest head the fast path accepts, on a raw socket
    const raw = await rawRequest(edge.address.port, 'GET /hot HTTP/1.1\r\nHost: stg.example\r\nConnection: close\r\n\r\n');
    assert.match(raw.text, /^HTTP\/1\.1 401 /);
    assert.doesNotMatch(raw.text, /page \/hot/);
    assert.equal(edge.fastPath.served, served, 'the fast path served nothing of the protected site');
  });

  test('a request with a body and no credentials: 401 and the connection closes', async () => {
    const r = await httpGet(edge.address.port, '/form', { host: 'stg.example', method: 'POST', body: 'a=1' });
    assert.equal(r.status, 401);
    assert.equal(r.headers.connection, 'close');
  });

  test('exempt: ACME challenges and PURGE from the allowed addresses', async () => {
    const acme = await httpGet(edge.address.port, '/.well-known/acme-challenge/tok', { host: 'stg.example' });
    assert.equal(acme.status, 200);
    assert.equal(acme.body, 'page /.well-known/acme-challenge/tok');
    const purge = await httpGet(edge.address.port, '/cached', { host: 'stg.example', method: 'PURGE' });
    assert.notEqual(purge.status, 401);
    assert.ok(purge.status < 300, `PURGE → ${purge.status}`);
  });

  test('robots.txt is the edge’s own on noindex sites (before auth), the origin’s elsewhere', async () => {
    for (const host of ['stg.example', 'open.example']) {
      for (const path of ['/robots.txt', '/robots.txt?x=1']) {
        const r = await httpGet(edge.address.port, path, { host });
        assert.equal(r.status, 200, `${host}${path}`);
        assert.equal(r.body, 'User-agent: *\nDisallow: /\n');
        assert.equal(r.headers['x-robots-tag'], 'noindex, nofollow');
      }
      const h = await httpGet(edge.address.port, '/robots.txt', { host, method: 'HEAD' });
      assert.equal(h.status, 200);
      assert.equal(h.body, '');
    }
    assert.equal(origin.seen.filter((s) => s.url.startsWith('/robots.txt')).length, 0);
    const prod = await httpGet(edge.address.port, '/robots.txt', { host: 'prod.example' });
    assert.equal(prod.body, 'User-agent: *\nAllow: /\n');
    assert.equal(prod.headers['x-robots-tag'], 'all', 'production keeps what its origin says');
  });

  test('noindex on misses and on fast-path hits', async () => {
    const served = edge.fastPath.served;
    const miss = await httpGet(edge.address.port, '/article', { host: 'open.example' });
    assert.equal(miss.headers['x-cache'], 'MISS');
    assert.equal(miss.headers['x-robots-tag'], 'noindex, nofollow');
    const hit = await httpGet(edge.address.port, '/article', { host: 'open.example' });
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.headers['x-robots-tag'], 'noindex, nofollow');
    assert.equal(edge.fastPath.served, served + 1, 'the hit came from the fast path');
    const prodHit = [
      await httpGet(edge.address.port, '/article', { host: 'prod.example' }),
      await httpGet(edge.address.port, '/article', { host: 'prod.example' }),
    ][1];
    assert.equal(prodHit?.headers['x-cache'], 'HIT');
    assert.equal(prodHit?.headers['x-robots-tag'], 'all');
  });

  test('a robots.txt cached before the site became noindex is not served, by the fast path or the cache', async () => {
    await httpGet(edge.address.port, '/robots.txt', { host: 'prod.example' });
    const cached = await httpGet(edge.address.port, '/robots.txt', { host: 'prod.example' });
    assert.equal(cached.headers['x-cache'], 'HIT');
    const cfg = config();
    edge.reload({ ...cfg, sites: cfg.sites.map((s) => (s.name === 'prod' ? { ...s, noindex: true } : s)) });
    try {
      const raw = await rawRequest(
        edge.address.port,
        'GET /robots.txt HTTP/1.1\r\nHost: prod.example\r\nConnection: close\r\n\r\n',
      );
      assert.match(raw.text, /^HTTP\/1\.1 200 /);
      assert.match(raw.text, /Disallow: \//);
      assert.match(raw.text, /x-robots-tag: noindex, nofollow/i);
      const page = await httpGet(edge.address.port, '/article', { host: 'prod.example' });
      assert.equal(page.headers['x-cache'], 'HIT', 'the cache was kept across the reload');
      assert.equal(page.headers['x-robots-tag'], 'noindex, nofollow');
    } finally {
      edge.reload(config());
    }
  });

  test('a reload with the same settings keeps verified credentials; a new password refuses the old one', async () => {
    const authorization = basic('preview', PASSWORD);
    await httpGet(edge.address.port, '/r', { host: 'stg.example', headers: { authorization } });
    const g = gate();
    const runs = g.scryptRuns;
    edge.reload(config());
    assert.equal(gate(), g, 'same gate');
    assert.equal((await httpGet(edge.address.port, '/r', { host: 'stg.example', headers: { authorization } })).status, 200);
    assert.equal(g.scryptRuns, runs);
    edge.reload(config(hashOf('a brand new password')));
    assert.notEqual(gate(), g);
    assert.equal((await httpGet(edge.address.port, '/r', { host: 'stg.example', headers: { authorization } })).status, 401);
    const fresh = await httpGet(edge.address.port, '/r', {
      host: 'stg.example',
      headers: { authorization: basic('preview', 'a brand new password') },
    });
    assert.equal(fresh.status, 200);
    edge.reload(config());
  });
});

describe('BasicAuthGate', () => {
  test('verifications are cached by header digest; concurrent identical ones share one scrypt', async () => {
    const g = new BasicAuthGate({ realm: 'r', user: 'u', hash: hashOf('password1', 1024) });
    const ok = basic('u', 'password1');
    const verdicts = await Promise.all([g.verify(ok), g.verify(ok), g.verify(ok)]);
    assert.deepEqual(verdicts, ['ok', 'ok', 'ok']);
    assert.equal(g.scryptRuns, 1);
    assert.equal(await g.verify(basic('u', 'password2')), 'denied');
    assert.equal(await g.verify(basic('u', 'password2')), 'denied');
    assert.equal(g.scryptRuns, 2, 'a repeated wrong header is not recomputed');
    assert.equal(await g.verify(`basic  ${ok.slice(6)}`), 'ok', 'scheme is case-insensitive');
    assert.equal(await g.verify(`Basic ${'A'.repeat(2000)}`), 'denied');
  });

  test('at most a few scrypt runs at once: the rest are told busy, not queued', async () => {
    const g = new BasicAuthGate({ realm: 'r', user: 'u', hash: hashOf('password1', 1024) });
    const verdicts = await Promise.all(Array.from({ length: 10 }, (_, i) => g.verify(basic('u', `guess ${i}`))));
    assert.equal(verdicts.filter((v) => v === 'busy').length, 6);
    assert.equal(verdicts.filter((v) => v === 'denied').length, 4);
  });
});
