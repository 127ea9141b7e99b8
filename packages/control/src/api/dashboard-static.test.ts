import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createHarness, type Harness } from '../testing/harness.ts';
import { DASHBOARD_CSP } from './dashboard-static.ts';

// A build-shaped directory (index.html + hashed assets) with a secret file beside it, outside.
const base = mkdtempSync(join(tmpdir(), 'triplane-dash-'));
const dist = join(base, 'dist');
const INDEX =
  '<!doctype html><html><head><script type="module" src="/assets/index-abc123.js"></script></head><body></body></html>';
const JS = 'console.log("dashboard")';
mkdirSync(join(dist, 'assets'), { recursive: true });
writeFileSync(join(dist, 'index.html'), INDEX);
writeFileSync(join(dist, 'assets', 'index-abc123.js'), JS);
writeFileSync(join(dist, 'assets', 'index-abc123.css'), 'body{}');
writeFileSync(join(dist, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
writeFileSync(join(dist, '.env'), 'SECRET=dotfile');
writeFileSync(join(base, 'secret.txt'), 'SECRET=outside');
symlinkSync(join(base, 'secret.txt'), join(dist, 'assets', 'link.txt'));

let h: Harness;
let plain: Harness;
before(async () => {
  h = await createHarness({ dialect: 'sqlite', dashboardDir: dist });
  plain = await createHarness({ dialect: 'sqlite' });
});
after(async () => {
  await h.close();
  await plain.close();
  rmSync(base, { recursive: true, force: true });
});

test('the index is served at / and for client-side routes, with the CSP and no-cache', async () => {
  for (const url of ['/', '/sites', '/sites/sit_0123456789abcdef', '/jobs/job_x?tab=log']) {
    const r = await h.app.inject({ method: 'GET', url });
    assert.equal(r.statusCode, 200, url);
    assert.equal(r.body, INDEX, url);
    assert.match(String(r.headers['content-type']), /^text\/html/);
    assert.equal(r.headers['content-security-policy'], DASHBOARD_CSP);
    assert.equal(r.headers['cache-control'], 'no-cache');
    assert.equal(r.headers['x-frame-options'], 'DENY');
  }
  const scriptSrc = DASHBOARD_CSP.split('; ').find((d) => d.startsWith('script-src'));
  assert.equal(scriptSrc, "script-src 'self'");
  assert.doesNotMatch(DASHBOARD_CSP, /unsafe-(inline|eval)/);
  const head = await h.app.inject({ method: 'HEAD', url: '/' });
  assert.equal(head.statusCode, 200);
});

test('hashed assets are immutable with their content type; other files are revalidated', async () => {
  const js = await h.app.inject({ method: 'GET', url: '/assets/index-abc123.js' });
  assert.equal(js.statusCode, 200);
  assert.equal(js.body, JS);
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(js.headers['x-content-type-options'], 'nosniff');
  const css = await h.app.inject({ method: 'GET', url: '/assets/index-abc123.css' });
  assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
  const svg = await h.app.inject({ method: 'GET', url: '/favicon.svg' });
  assert.equal(svg.headers['content-type'], 'image/svg+xml');
  assert.equal(svg.headers['cache-control'], 'no-cache');
});

test('missing files are 404 with the error shape, never the index', async () => {
  for (const url of ['/assets/index-old.js', '/assets/nope', '/robots.txt']) {
    const r = await h.app.inject({ method: 'GET', url });
    assert.equal(r.statusCode, 404, url);
    assert.equal(r.json().error.code, 'TRIPLANE_ERR_NOT_FOUND', url);
  }
});

test('paths escaping the build directory, dotfiles and symlinks out are refused', async () => {
  const urls = [
    '/../../etc/passwd',
    '/../secret.txt',
    '/assets/../../secret.txt',
    '/%2e%2e/secret.txt',
    '/%2e%2e%2fsecret.txt',
    '/assets/..%2f..%2fsecret.txt',
    '/..%5csecret.txt',
    '/.env',
    '/assets/link.txt',
    '/%00index.html',
  ];
  for (const url of urls) {
    const r = await h.app.inject({ method: 'GET', url });
    assert.doesNotMatch(r.body, /SECRET|root:/, url);
    // inject() normalises a literal `/../` away (`/etc/passwd`: a client-side route → the index,
    // harmless); everything that reaches the handler with an escape in it is refused.
    if (r.statusCode === 200) assert.equal(r.body, INDEX, url);
    else assert.ok(r.statusCode === 404 || r.statusCode === 400, `${url} → ${r.statusCode}`);
  }
  for (const url of ['/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/.env', '/assets/link.txt']) {
    assert.equal((await h.app.inject({ method: 'GET', url })).statusCode, 404, url);
  }
});

test('a raw request line with ../ over a real socket is refused too', async () => {
  await h.app.listen({ host: '127.0.0.1', port: 0 });
  const addr = h.app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  for (const target of ['/../../etc/passwd', '/../secret.txt', '/assets/%2e%2e/%2e%2e/secret.txt']) {
    const answer = await new Promise<string>((resolve, reject) => {
      const s = connect(port, '127.0.0.1', () => s.end(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
      let buf = '';
      s.on('data', (d) => {
        buf += d;
      });
      s.on('end', () => resolve(buf));
      s.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 40[04] /, target);
    assert.doesNotMatch(answer, /SECRET|root:/, target);
  }
});

test('a stale session cookie does not block the app, while the API still refuses it', async () => {
  const cookie = 'triplane_session=tps_stalestalestalestalestale';
  const page = await h.app.inject({ method: 'GET', url: '/sites', headers: { cookie } });
  assert.equal(page.statusCode, 200);
  const api = await h.app.inject({ method: 'GET', url: '/api/v1/auth/me', headers: { cookie } });
  assert.equal(api.statusCode, 401);
});

test('the API keeps its own answers: unknown API routes, other methods, health', async () => {
  const nope = await h.call(h.owner.token, 'GET', '/api/v1/nope');
  assert.equal(nope.statusCode, 404);
  assert.equal(nope.json().error.code, 'TRIPLANE_ERR_NOT_FOUND');
  const anonApi = await h.call(null, 'GET', '/api/v1/sites');
  assert.equal(anonApi.statusCode, 401);
  const post = await h.app.inject({ method: 'POST', url: '/', payload: {} });
  assert.equal(post.statusCode, 404);
  assert.equal((await h.call(null, 'GET', '/healthz')).json().status, 'ok');
  // Without a dashboard directory nothing is served at /.
  assert.equal((await plain.app.inject({ method: 'GET', url: '/' })).statusCode, 404);
});
