import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { request, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BIN, type ControlProcess, freePort, startControl, tempDir, triplane } from './testing/cli.ts';
import { siteWithOrigin } from './testing/origin.ts';

/**
 * Environment logs end to end: a real `triplane edge --api` (2 workers) ships the access and error
 * lines of what it serves to a real `triplane control`; they show up in
 * `GET /environments/{id}/logs` and on `…/logs/stream` within a few seconds, and in `triplane env logs`.
 */
let cp: ControlProcess;
let edge: ChildProcess | undefined;
let origin: Server | undefined;
let edgeOut = '';
const dir = tempDir('triplane-logs-');

before(async () => {
  cp = await startControl({ workers: 1 }); // the provisioning job places the environment
});
after(async () => {
  if (edge && edge.exitCode === null) {
    edge.kill('SIGTERM');
    const killer = setTimeout(() => edge?.kill('SIGKILL'), 15_000);
    await once(edge, 'exit');
    clearTimeout(killer);
  }
  origin?.close();
  dir.remove();
  assert.equal(await cp?.stop(), 0, cp?.output());
});

const run = (args: string[]) => triplane(args, { env: cp.env() });
const api = async (path: string, init: RequestInit = {}) => {
  const res = await fetch(`${cp.url}/api/v1${path}`, {
    ...init,
    headers: { authorization: `Bearer ${cp.token}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
  });
  return { status: res.status, body: (await res.json()) as any };
};

function get(port: number, host: string, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host, ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The stream's `line` events as they arrive. */
async function openStream(envId: string): Promise<{ lines: any[]; close: () => void }> {
  const ctl = new AbortController();
  const res = await fetch(`${cp.url}/api/v1/environments/${envId}/logs/stream`, {
    headers: { authorization: `Bearer ${cp.token}`, accept: 'text/event-stream' },
    signal: ctl.signal,
  });
  assert.equal(res.status, 200);
  const lines: any[] = [];
  void (async () => {
    let buf = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += Buffer.from(chunk).toString('utf8');
        for (let i = buf.indexOf('\n\n'); i !== -1; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (/^event: line$/m.test(block) && data) lines.push(JSON.parse(data));
        }
      }
    } catch {
      // closed
    }
  })();
  return { lines, close: () => ctl.abort() };
}

test('requests through a real edge reach the log search and the live stream within seconds', { timeout: 180_000 }, async () => {
  // An app server at 127.0.0.1 so the environment gets an upstream member (the origin below plays its pod).
  const app = await run(['server', 'create', 'app1', '--role', 'app', '--json']);
  assert.equal(app.code, 0, app.stderr);
  const joined = await api('/agents/join', {
    method: 'POST',
    body: JSON.stringify({ joinToken: JSON.parse(app.stdout).joinToken, address: '127.0.0.1', agentVersion: 'test' }),
  });
  assert.equal(joined.status, 200, JSON.stringify(joined.body));
  // The origin plays the environment's pod on its member port (the next site's when it is taken).
  const made = await siteWithOrigin(run, async () => (await api('/edge/snapshot')).body);
  origin = made.origin;
  const { envId, site } = made;
  const host = `${site}.example.test`;

  const edgeSrv = await run(['server', 'create', 'edge1', '--role', 'edge', '--json']);
  assert.equal(edgeSrv.code, 0, edgeSrv.stderr);
  const port = await freePort();
  edge = spawn(
    BIN,
    ['edge', '--api', cp.url, '--state-dir', join(dir.path, 'edge'), '--listen', `127.0.0.1:${port}`, '--workers', '2'],
    { env: { ...cp.env(), TRIPLANE_JOIN_TOKEN: JSON.parse(edgeSrv.stdout).joinToken }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  edge.stdout?.on('data', (d) => {
    edgeOut += d;
  });
  edge.stderr?.on('data', (d) => {
    edgeOut += d;
  });

  const deadline = Date.now() + 60_000;
  for (;;) {
    assert.ok(Date.now() < deadline && edge.exitCode === null, `the edge never served the site:\n${edgeOut}`);
    if ((await get(port, host, '/warmup').catch(() => 0)) === 200) break;
    await new Promise((r) => setTimeout(r, 200));
  }

  const stream = await openStream(envId);
  try {
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    const ua = 'logs-e2e/1.0 (+https://example.test)';
    for (let i = 0; i < 5; i++) assert.equal(await get(port, host, `/page-${i}?utm=x`, { 'user-agent': ua }), 200);
    assert.equal(await get(port, host, '/missing', { cookie: 'wordpress_logged_in_1=topsecret' }), 404);
    assert.equal(await get(port, host, '/wp-login.php?log=admin&pwd=hunter2', { authorization: 'Basic c2VjcmV0' }), 200);
    // SQL injection: the site's WAF (CRS, block mode by default) refuses it → an access line and an error line
    assert.equal(await get(port, host, `/?id=1%27%20or%20%271%27%3D%271`), 403);

    // search: every request within a few seconds (2 s shipping period)
    let items: any[] = [];
    while (Date.now() - t0 < 15_000) {
      const r = await api(`/environments/${envId}/logs?limit=100`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      items = r.body.items;
      if (items.filter((l) => l.kind === 'access' && l.path !== '/warmup').length >= 8 && items.some((l) => l.kind === 'error'))
        break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const waited = Date.now() - t0;
    const access = items.filter((l) => l.kind === 'access' && l.path !== '/warmup');
    assert.equal(
      access.length,
      8,
      `all 8 requests (after ${waited} ms):\n${JSON.stringify(items, null, 1)}\n${edgeOut.slice(-3000)}`,
    );
    assert.ok(waited < 8000, `searchable after ${waited} ms`);
    const page = access.find((l) => l.path === '/page-0?utm=x');
    assert.equal(page.ua, ua);
    assert.equal(page.method, 'GET');
    assert.equal(page.host, host);
    assert.equal(page.status, 200);
    assert.match(page.cache, /^(MISS|PASS|HIT)$/);
    assert.ok(page.ms >= 0 && page.bytes > 0 && page.ip === '127.0.0.1' && typeof page.requestId === 'string');
    assert.ok(access.some((l) => l.path === '/wp-login.php?[redacted]'));
    const blocked = access.find((l) => l.status === 403);
    assert.equal(blocked.waf, 'blocked');
    const err = items.find((l) => l.kind === 'error');
    assert.match(err.message, /^WAF blocked/);
    assert.equal(err.requestId, blocked.requestId);
    const text = JSON.stringify(items);
    for (const secret of ['topsecret', 'hunter2', 'c2VjcmV0', 'wordpress_logged_in']) assert.ok(!text.includes(secret), secret);
    // filters over the real store
    const fourxx = (await api(`/environments/${envId}/logs?status=4xx&kind=access`)).body.items;
    assert.deepEqual(fourxx.map((l: { status: number }) => l.status).sort(), [403, 404]);
    assert.equal((await api(`/environments/${envId}/logs?q=LOGS-E2E`)).body.items.length, 5);

    // the stream saw them too
    while (Date.now() - t0 < 15_000 && stream.lines.filter((l) => l.kind === 'access' && l.path !== '/warmup').length < 8)
      await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(
      stream.lines
        .filter((l) => l.kind === 'access' && l.path !== '/warmup') // warm-up lines may arrive after it connected
        .map((l) => l.path)
        .sort(),
      access.map((l) => l.path).sort(),
    );
    assert.ok(stream.lines.some((l) => l.kind === 'error'));
  } finally {
    stream.close();
  }

  // the CLI: a search, and --follow printing a line that arrives while it runs
  const cli = await run(['env', 'logs', site, '--status', '404']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, new RegExp(`^\\S+ 404 GET ${site}\\.example\\.test/missing `, 'm'));
  assert.equal(cli.stdout.trim().split('\n').length, 1);
  const errors = await run(['env', 'logs', site, '--kind', 'error', '--since', '1h']);
  assert.match(errors.stdout, new RegExp(` ERROR 403 GET ${site}\\.example\\.test/\\?id=.* WAF blocked`));
  assert.equal((await run(['env', 'logs', site, '--kind', 'debug'])).code, 2);
  // --source: the edge wrote every line here; a site's own nginx/php lines are the agent's (agent/src/logs)
  const edgeErrors = await run(['env', 'logs', site, '--source', 'edge', '--kind', 'error']);
  assert.match(edgeErrors.stdout, / ERROR 403 GET .* WAF blocked/);
  const php = await run(['env', 'logs', site, '--source', 'php']);
  assert.equal(php.code, 0, php.stderr);
  assert.equal(php.stdout.trim(), '');
  assert.equal((await run(['env', 'logs', site, '--source', 'apache'])).code, 2);

  const follow = spawn(BIN, ['env', 'logs', site, '--follow', '--q', 'followed'], {
    env: cp.env(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  follow.stdout?.on('data', (d) => {
    out += d;
  });
  try {
    await new Promise((r) => setTimeout(r, 1500)); // connected
    assert.equal(await get(port, host, '/followed-page'), 200);
    const t1 = Date.now();
    while (!out.includes('/followed-page') && Date.now() - t1 < 10_000) await new Promise((r) => setTimeout(r, 100));
    assert.match(out, new RegExp(`^\\S+ 200 GET ${site}\\.example\\.test/followed-page `, 'm'));
  } finally {
    follow.kill('SIGINT');
    const [code] = await once(follow, 'exit');
    assert.equal(code, 0);
  }
});
