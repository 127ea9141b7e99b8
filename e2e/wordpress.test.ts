/**
 * End to end (root + Podman only): a WordPress site through the platform, as issue 3's
 * "Done when" describes it. Real processes: `triplane control` (temp data dir, 127.0.0.1,
 * random port) and `triplane agent`; the site is created and deleted with the CLI.
 *
 *   node scripts/test.ts e2e/wordpress.test.ts
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as h2connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { podmanTestsOneAtATime } from '@triplane/runtime/integration/one-at-a-time';
import {
  BIN,
  freePort,
  get,
  log,
  run,
  skipReason,
  sleep,
  startAgent as startAgentIn,
  stopProcess,
  waitUntil,
} from './support.ts';

podmanTestsOneAtATime();

const SITE = 'wp1';
const POD = `${SITE}-production`;
const SITE2 = 'wp2';
const POD2 = `${SITE2}-production`;
const DOMAIN2 = 'wp2.example.test';
const GENERATOR = /<meta name="generator" content="WordPress/;

describe('e2e: WordPress through the platform', { timeout: 600_000 }, () => {
  let skip: string | undefined;
  let dir = '';
  let env: NodeJS.ProcessEnv = {};
  let control: ChildProcess | undefined;
  let agent: ChildProcess | undefined;
  let api = '';
  let token = '';
  let siteCreated = false;
  let site2Created = false;
  let edge: ChildProcess | undefined;
  const edgePorts = { http: 0, https: 0, metrics: 0 };
  let startControl = (): ChildProcess => {
    throw new Error('not started');
  };

  const cli = (args: string[], timeoutMs = 120_000) => run(BIN, args, { env, timeoutMs });
  const agentLog = () => join(dir, 'agent.log');

  const startAgent = (joinToken: string | undefined) => startAgentIn({ api, dir, env, ...(joinToken ? { joinToken } : {}) });

  before(async () => {
    skip = await skipReason();
    if (skip) return;
    const t0 = Date.now();
    const images = await run(BIN, ['images', 'build'], { timeoutMs: 30 * 60_000 });
    assert.equal(images.code, 0, images.stderr);
    log(`images ready in ${Date.now() - t0} ms`);
    // Leftovers of a crashed run.
    await run('podman', ['pod', 'rm', '-f', POD]);
    await run('podman', ['pod', 'rm', '-f', POD2]);
    dir = mkdtempSync(join(tmpdir(), 'triplane-e2e-'));
    const home = join(dir, 'home');
    const base: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TRIPLANE_')) base[k] = v;
    env = { ...base, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), TRIPLANE_LOG_LEVEL: 'info' };
    const dataDir = join(dir, 'data');
    const init = await cli(['init', '--data-dir', dataDir]);
    token = /^token: (tpl_\S+)$/m.exec(init.stdout)?.[1] ?? '';
    assert.ok(token, init.stdout + init.stderr);
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    const controlEnv = env;
    startControl = () => {
      const out = openSync(join(dir, 'control.log'), 'a', 0o600);
      const c = spawn(BIN, ['control', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--workers', '1'], {
        env: controlEnv,
        stdio: ['ignore', out, out],
      });
      closeSync(out);
      return c;
    };
    control = startControl();
    await waitUntil('control ready', 60_000, async () => ((await fetch(`${api}/readyz`)).ok ? true : undefined));
    env = { ...env, TRIPLANE_API: api, TRIPLANE_TOKEN: token };
    const srv = await cli(['server', 'create', 'app1', '--role', 'app', '--json']);
    assert.equal(srv.code, 0, srv.stderr);
    const joinToken = (JSON.parse(srv.stdout) as { joinToken: string }).joinToken;
    agent = startAgent(joinToken);
    // The edge plane, joined to this control plane: HTTP (redirects), HTTPS (h2 + http/1.1), metrics.
    const edgeSrv = await cli(['server', 'create', 'edge1', '--role', 'edge', '--json']);
    assert.equal(edgeSrv.code, 0, edgeSrv.stderr);
    edgePorts.http = await freePort();
    edgePorts.https = await freePort();
    edgePorts.metrics = await freePort();
    const edgeOut = openSync(join(dir, 'edge.log'), 'a', 0o600);
    edge = spawn(
      BIN,
      [
        'edge',
        '--api',
        api,
        '--state-dir',
        join(dir, 'edge'),
        '--listen',
        `127.0.0.1:${edgePorts.http}`,
        '--listen-https',
        `127.0.0.1:${edgePorts.https}`,
        '--listen-metrics',
        `127.0.0.1:${edgePorts.metrics}`,
        '--workers',
        '2',
      ],
      {
        env: { ...env, TRIPLANE_JOIN_TOKEN: (JSON.parse(edgeSrv.stdout) as { joinToken: string }).joinToken },
        stdio: ['ignore', edgeOut, edgeOut],
      },
    );
    closeSync(edgeOut);
  });

  after(async () => {
    if (skip) return;
    try {
      if (siteCreated) await cli(['site', 'delete', SITE, '--confirm', SITE, '--no-backup'], 60_000);
      if (site2Created) await cli(['site', 'delete', SITE2, '--confirm', SITE2, '--no-backup'], 60_000);
    } catch {
      // removed below
    }
    await stopProcess(edge);
    await stopProcess(agent);
    await stopProcess(control);
    for (const pod of [POD, POD2]) {
      const leftovers = await run('podman', ['pod', 'exists', pod]);
      if (leftovers.code === 0) {
        await run('podman', ['pod', 'rm', '-f', '-t', '0', pod]);
        await run('podman', ['volume', 'rm', '-f', `${pod}-wp-content`, `${pod}-db-data`]);
      }
    }
    const secrets = await run('podman', ['secret', 'ls', '--format', '{{.Name}}']);
    for (const s of secrets.stdout.split('\n'))
      if (s.startsWith(POD) || s.startsWith(POD2)) await run('podman', ['secret', 'rm', s]);
    if (process.exitCode && existsSync(agentLog())) log(`agent log:\n${readFileSync(agentLog(), 'utf8').slice(-4000)}`);
    if (process.exitCode && existsSync(join(dir, 'edge.log')))
      log(`edge log:\n${readFileSync(join(dir, 'edge.log'), 'utf8').slice(-4000)}`);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('create → 200 + login + Redis; podman kill and kill -9 heal; agent restart; delete leaves nothing', async (t) => {
    if (skip) {
      t.skip(skip);
      return;
    }
    const tCreate = Date.now();
    const created = await cli(['site', 'create', SITE, '--kind', 'wordpress', '--json']);
    assert.equal(created.code, 0, created.stdout + created.stderr);
    siteCreated = true;
    const c = JSON.parse(created.stdout) as {
      environment: { id: string };
      wordpress: { adminUser: string; adminPassword: string };
    };
    assert.equal(c.wordpress.adminUser, 'admin');
    assert.ok(c.wordpress.adminPassword.length >= 20);

    // Running and installed (reported by the agent).
    const envUrl = `${api}/api/v1/environments/${c.environment.id}`;
    const auth = { authorization: `Bearer ${token}` };
    const env1 = await waitUntil('running and installed', 120_000, async () => {
      const e = (await (await fetch(envUrl, { headers: auth })).json()) as {
        status: string;
        serverIds: string[];
        runtime: { webPorts: Record<string, number> };
        observed: { installed?: boolean }[];
      };
      return e.status === 'running' && e.observed[0]?.installed === true ? e : undefined;
    });
    const webPort = env1.runtime.webPorts[env1.serverIds[0] as string];
    const base = `http://127.0.0.1:${webPort}`;
    const home = await get(`${base}/`);
    assert.equal(home.status, 200);
    assert.match(home.body, GENERATOR);
    log(`create → installed home page 200 in ${Date.now() - tCreate} ms`);
    // The install intent is dropped once installed: the agent's saved assignment loses the password.
    await waitUntil('password gone from the agent state dir', 15_000, async () =>
      readFileSync(join(dir, 'agent', 'assignment.json'), 'utf8').includes(c.wordpress.adminPassword) ? undefined : true,
    );
    // What the agent's WP-cron timer requests (WordPress' own cron is disabled).
    const cron = await get(`${base}/wp-cron.php?doing_wp_cron=${(Date.now() / 1000).toFixed(4)}`);
    assert.equal(cron.status, 200);

    // wp-admin login with the password shown once.
    const form = new URLSearchParams({
      log: 'admin',
      pwd: c.wordpress.adminPassword,
      'wp-submit': 'Log In',
      redirect_to: `${base}/wp-admin/`,
      testcookie: '1',
    });
    // Right after the install one login in ~7 runs answered 200 (the form again) instead of 302; the
    // reason is logged below when it happens. Up to 3 attempts, 2 s apart: a login that never works fails.
    let login: Response | undefined;
    let why = '';
    for (let attempt = 1; attempt <= 3; attempt++) {
      login = await fetch(`${base}/wp-login.php`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: 'wordpress_test_cookie=WP%20Cookie%20check' },
        body: form.toString(),
      });
      const loginBody = await login.text();
      if (login.status === 302) break;
      // say why WordPress refused (its #login_error box), not just "200"
      why =
        /<div id="login_error"[^>]*>([\s\S]*?)<\/div>/
          .exec(loginBody)?.[1]
          ?.replace(/<[^>]+>/g, '')
          .trim() ?? loginBody.slice(0, 300);
      log(`login attempt ${attempt}: HTTP ${login.status} — ${why}`);
      await sleep(2000);
    }
    assert.ok(login);
    assert.equal(login.status, 302, `login redirects (${why})`);
    const cookies = login.headers
      .getSetCookie()
      .map((s) => s.split(';')[0])
      .join('; ');
    assert.match(cookies, /wordpress_logged_in_/);
    const dash = await get(`${base}/wp-admin/`, { cookie: cookies });
    assert.equal(dash.status, 200);
    assert.match(dash.body, /Dashboard/);

    // The Redis object cache holds keys.
    const keys = await run('podman', ['exec', `${POD}-redis`, 'redis-cli', '--scan']);
    assert.equal(keys.code, 0, keys.stderr);
    assert.match(keys.stdout, /options:alloptions/);

    const healthy = async (what: string) => {
      const t0 = Date.now();
      await waitUntil(what, 15_000, async () => {
        const r = await get(`${base}/`);
        return r.status === 200 && GENERATOR.test(r.body) ? true : undefined;
      });
      log(`${what}: healthy again after ${Date.now() - t0} ms`);
    };

    // podman kill (the restart policy ignores it; the agent's healer does not).
    const killed = await run('podman', ['kill', `${POD}-php`]);
    assert.equal(killed.code, 0, killed.stderr);
    await waitUntil('php down', 5000, async () => {
      const s = await run('podman', ['inspect', '--format', '{{.State.Running}}', `${POD}-php`]);
      return s.stdout.trim() === 'false' ? true : undefined;
    }).catch(() => undefined);
    await healthy('after podman kill');

    // kill -9 of the container's main process, from the host.
    const pid = Number((await run('podman', ['inspect', '--format', '{{.State.Pid}}', `${POD}-php`])).stdout.trim());
    assert.ok(Number.isInteger(pid) && pid > 1, `php main pid ${pid}`);
    process.kill(pid, 'SIGKILL');
    await healthy('after kill -9');
    await waitUntil('php restarted with a new main process', 15_000, async () => {
      const s = await run('podman', ['inspect', '--format', '{{.State.Running}} {{.State.Pid}}', `${POD}-php`]);
      const [running, now] = s.stdout.trim().split(' ');
      return running === 'true' && Number(now) > 1 && Number(now) !== pid ? true : undefined;
    });

    // Restart the agent while requesting the home page: no request fails.
    let stopLoop = false;
    let requests = 0;
    const failures: string[] = [];
    const loop = (async () => {
      while (!stopLoop) {
        try {
          const r = await get(`${base}/`);
          if (r.status !== 200) failures.push(`HTTP ${r.status}`);
        } catch (e) {
          failures.push((e as Error).message);
        }
        requests++;
        await sleep(20);
      }
    })();
    await sleep(500);
    await stopProcess(agent);
    await sleep(1000);
    agent = startAgent(undefined);
    await waitUntil('agent reports again', 30_000, async () => {
      const e = (await (await fetch(envUrl, { headers: auth })).json()) as { observed: { at: string }[] };
      return Date.parse(e.observed[0]?.at ?? '') > Date.now() - 3000 ? true : undefined;
    });
    await sleep(2000);
    stopLoop = true;
    await loop;
    assert.deepEqual(failures, [], `${failures.length} of ${requests} requests failed`);
    log(`agent restart: ${requests} requests, none failed`);

    // The admin password was never logged.
    for (const f of ['agent.log', 'control.log']) {
      assert.ok(!readFileSync(join(dir, f), 'utf8').includes(c.wordpress.adminPassword), `${f} holds no password`);
    }

    // Delete: nothing of the site is left.
    // (pre-delete backups are covered by e2e/backups.test.ts)
    const del = await cli(['site', 'delete', SITE, '--confirm', SITE, '--no-backup'], 120_000);
    assert.equal(del.code, 0, del.stdout + del.stderr);
    siteCreated = false;
    await waitUntil('pod gone', 30_000, async () =>
      (await run('podman', ['pod', 'exists', POD])).code !== 0 ? true : undefined,
    );
    const pods = await run('podman', ['pod', 'ls', '--format', '{{.Name}}']);
    const vols = await run('podman', ['volume', 'ls', '--format', '{{.Name}}']);
    const secrets = await run('podman', ['secret', 'ls', '--format', '{{.Name}}']);
    const mine = (s: string) => s.split('\n').filter((n) => n.startsWith(POD));
    assert.deepEqual(mine(pods.stdout), []);
    assert.deepEqual(mine(vols.stdout), []);
    assert.deepEqual(mine(secrets.stdout), []);
  });
  /** One request to the edge's HTTPS listener over HTTP/2, SNI + :authority = the site's domain, verified against the platform CA. */
  async function h2(
    path: string,
    o: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ): Promise<{
    status: number;
    headers: Record<string, string | string[] | undefined>;
    body: string;
    alpn: string | false | undefined;
  }> {
    const ca = readFileSync(join(dir, 'edge', 'tls', 'ca.crt'));
    const session = h2connect(`https://127.0.0.1:${edgePorts.https}`, { ca, servername: DOMAIN2 });
    try {
      return await new Promise((resolve, reject) => {
        session.once('error', reject);
        const req = session.request({ ':method': o.method ?? 'GET', ':path': path, ':authority': DOMAIN2, ...o.headers });
        req.setTimeout(15_000, () => req.close());
        let status = 0;
        let headers: Record<string, string | string[] | undefined> = {};
        const chunks: Buffer[] = [];
        req.on('response', (h) => {
          status = Number(h[':status']);
          headers = h as Record<string, string | string[] | undefined>;
        });
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => resolve({ status, headers, body: Buffer.concat(chunks).toString(), alpn: session.alpnProtocol }));
        req.on('error', reject);
        req.end(o.body);
      });
    } finally {
      session.close();
    }
  }

  async function edgeHits(): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${edgePorts.metrics}/metrics`)).text();
    let n = 0;
    for (const m of text.matchAll(/^triplane_edge_requests_total\{([^}]*)\} (\d+)/gm))
      if (/cache="HIT"/.test(m[1] ?? '')) n += Number(m[2]);
    return n;
  }

  test('through the edge: its domain over HTTPS and HTTP/2, cached for visitors, never for a logged-in user; the control plane going down interrupts nothing', async (t) => {
    if (skip) {
      t.skip(skip);
      return;
    }
    const created = await cli(['site', 'create', SITE2, '--kind', 'wordpress', '--domain', DOMAIN2, '--json']);
    assert.equal(created.code, 0, created.stdout + created.stderr);
    site2Created = true;
    const c = JSON.parse(created.stdout) as { wordpress: { adminPassword: string } };

    // The edge learns the route from its snapshot; WordPress installs itself as https://DOMAIN2.
    const home = await waitUntil('home page through the edge over h2', 180_000, async () => {
      const r = await h2('/');
      return r.status === 200 && GENERATOR.test(r.body) ? r : undefined;
    });
    assert.equal(home.alpn, 'h2');
    assert.match(
      home.body,
      new RegExp(`https://${DOMAIN2.replaceAll('.', '\\.')}/`),
      'WordPress links are https behind the edge',
    );

    // Plain HTTP answers a redirect to HTTPS on the same host.
    const plain = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: edgePorts.http, path: '/', headers: { host: DOMAIN2 } }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, location: res.headers.location });
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(plain.status, 301);
    assert.equal(plain.location, `https://${DOMAIN2}:${edgePorts.https}/`);

    // Visitors: cache hits (the edge runs a worker per core, each with its own cache: each one misses
    // at most once, so at least 4 of 6 fresh connections are hits).
    const hitsBefore = await edgeHits();
    for (let i = 0; i < 6; i++) {
      const again = await h2('/');
      assert.equal(again.status, 200);
      assert.ok(GENERATOR.test(again.body));
    }
    assert.ok((await edgeHits()) - hitsBefore >= 4, 'repeated anonymous requests are served from the cache');

    // Log in through the edge (HTTP/2 POST): WordPress sets secure cookies, HTTPS=on reached PHP.
    const form = new URLSearchParams({
      log: 'admin',
      pwd: c.wordpress.adminPassword,
      'wp-submit': 'Log In',
      redirect_to: `https://${DOMAIN2}/wp-admin/`,
      testcookie: '1',
    });
    const login = await h2('/wp-login.php', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: 'wordpress_test_cookie=WP%20Cookie%20check' },
      body: form.toString(),
    });
    assert.equal(login.status, 302, login.body.slice(0, 500));
    const setCookies = ([] as string[]).concat(login.headers['set-cookie'] ?? []);
    assert.ok(
      setCookies.some((x) => /^wordpress_logged_in_/.test(x) && /;\s*secure/i.test(x)),
      setCookies.join(' | '),
    );
    const cookie = setCookies.map((x) => x.split(';')[0]).join('; ');

    // Logged in: the personal page (admin bar), never a cached one; visitors still get the anonymous page.
    for (let i = 0; i < 3; i++) {
      const hits = await edgeHits();
      const me = await h2('/', { headers: { cookie } });
      assert.equal(me.status, 200);
      assert.match(me.body, /id="wpadminbar"/, 'the logged-in user sees their admin bar');
      assert.equal(await edgeHits(), hits, 'a logged-in request is never a cache hit');
    }
    const anon = await h2('/');
    assert.doesNotMatch(anon.body, /wpadminbar/, 'the logged-in page was never stored');

    // The control plane goes down: the edge keeps serving cached pages, misses and logged-in users.
    await stopProcess(control);
    const failures: string[] = [];
    for (const [path, headers] of [
      ['/', {}],
      ['/?p=1', {}],
      ['/wp-login.php', {}],
      ['/', { cookie }],
    ] as const) {
      for (let i = 0; i < 3; i++) {
        const r = await h2(path, { headers }).catch((e: Error) => ({ status: 0, body: e.message }));
        if (r.status !== 200) failures.push(`${path} → ${r.status}`);
      }
    }
    control = startControl();
    await waitUntil('control ready again', 60_000, async () => ((await fetch(`${api}/readyz`)).ok ? true : undefined));
    assert.deepEqual(failures, [], 'requests through the edge while the control plane was down');

    const del = await cli(['site', 'delete', SITE2, '--confirm', SITE2, '--no-backup'], 120_000);
    assert.equal(del.code, 0, del.stdout + del.stderr);
    site2Created = false;
  });
});
