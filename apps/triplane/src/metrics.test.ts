import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { request, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ContainerMetrics } from '@triplane/agent/metrics/container-metrics';
import { podmanTestsOneAtATime } from '@triplane/runtime/integration/one-at-a-time';
import { BIN, type ControlProcess, freePort, startControl, tempDir, triplane } from './testing/cli.ts';
import { siteWithOrigin } from './testing/origin.ts';

/**
 * The metrics pipeline end to end: a real `triplane edge --api` (2 workers) pushes the traffic it
 * serves to a real `triplane control`, and `GET /environments/{id}/metrics` shows it within ~20 s
 * (10 s push period + the 10 s bucket closing). Also `triplane env metrics`.
 */
let cp: ControlProcess;
let edge: ChildProcess | undefined;
let origin: Server | undefined;
let edgeOut = '';
const dir = tempDir('triplane-metrics-');
/** Set by the first test: the app server and the environment the second one reports for. */
let appServer: { id: string; credential: string } | undefined;
let envId: string | undefined;

const podman = (args: string[]) =>
  execFileSync('podman', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
function baseImage(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    return podman(['images', '--format', '{{.Repository}}:{{.Tag}}'])
      .split('\n')
      .find((l) => l.startsWith('localhost/triplane/base:'));
  } catch {
    return undefined;
  }
}
const image = baseImage();
if (image) podmanTestsOneAtATime();

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
const api = async (path: string, init: RequestInit = {}, token = cp.token) => {
  const res = await fetch(`${cp.url}/api/v1${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
  });
  return { status: res.status, body: (await res.json()) as any };
};

function get(port: number, host: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

test('requests through a real edge appear in the environment series within ~20 s', { timeout: 180_000 }, async () => {
  // An app server at 127.0.0.1 so the environment gets an upstream member (the origin below plays its pod).
  const app = await run(['server', 'create', 'app1', '--role', 'app', '--json']);
  assert.equal(app.code, 0, app.stderr);
  const joined = await api('/agents/join', {
    method: 'POST',
    body: JSON.stringify({ joinToken: JSON.parse(app.stdout).joinToken, address: '127.0.0.1', agentVersion: 'test' }),
  });
  assert.equal(joined.status, 200, JSON.stringify(joined.body));
  appServer = { id: joined.body.serverId, credential: joined.body.credential };
  // The origin plays the environment's pod on its member port (the next site's when it is taken).
  const made = await siteWithOrigin(run, async () => (await api('/edge/snapshot')).body);
  origin = made.origin;
  envId = made.envId;
  const host = made.host;

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

  // Every answer from the site counts (421 = the edge has no config for the host yet: no site, not counted).
  let sent = 0;
  let ok = 0;
  const deadline = Date.now() + 60_000;
  while (ok === 0) {
    assert.ok(Date.now() < deadline && edge.exitCode === null, `the edge never served the site:\n${edgeOut}`);
    const status = await get(port, host, '/').catch(() => 0);
    if (status !== 0 && status !== 421) sent++;
    if (status === 200) ok++;
    else await new Promise((r) => setTimeout(r, 200));
  }
  for (let i = 0; i < 40; i++) assert.equal(await get(port, host, '/'), 200);
  for (let i = 0; i < 5; i++) assert.equal(await get(port, host, '/missing'), 404);
  // SQL injection: the site's WAF (CRS, block mode by default) refuses it
  for (let i = 0; i < 3; i++) assert.equal(await get(port, host, `/?id=${i}%27%20or%20%271%27%3D%271`), 403);
  sent += 48;
  const lastRequest = Date.now();

  // The control plane's series: every request, once, within ~20 s.
  let seen: any;
  while (Date.now() - lastRequest < 30_000) {
    const r = await api(`/environments/${envId}/metrics?range=1h`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    seen = r.body;
    const total = seen.points.reduce((a: number, p: { requests: number }) => a + p.requests, 0);
    if (total >= sent) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const waited = Date.now() - lastRequest;
  const total = (k: string) => seen.points.reduce((a: number, p: Record<string, number>) => a + (p[k] ?? 0), 0);
  assert.equal(total('requests'), sent, `all ${sent} requests, once (after ${waited} ms)\n${edgeOut.slice(-3000)}`);
  assert.ok(waited < 25_000, `shown after ${waited} ms`);
  assert.equal(total('s4xx'), 8);
  assert.equal(total('wafBlocks'), 3);
  assert.ok(total('s2xx') >= 41);
  const busy = seen.points.filter((p: { requests: number }) => p.requests > 0);
  assert.ok(busy.every((p: { p50: number | null; p99: number | null }) => p.p50 !== null && p.p99 !== null && p.p99 >= p.p50));
  // repeated GETs of a cacheable page: the cache answered most of them (one fetch per worker at most)
  assert.ok(
    busy.some((p: { hitRatio: number | null }) => (p.hitRatio ?? 0) > 0.5),
    JSON.stringify(busy),
  );
  assert.equal(total('upstreamErrors'), 0);

  const cli = await run(['env', 'metrics', made.site, '--range', '1h', '--points', '3']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, new RegExp(`^requests: +${sent} `, 'm'));
  assert.match(cli.stdout, /^TIME \(UTC\) +REQ\/S +2XX/m);
  assert.equal((await run(['env', 'metrics', made.site, '--range', '2d'])).code, 2);
});

test("an agent's container sampler (a real pod's cgroup files) reaches the environment's container series", {
  timeout: 120_000,
  skip: image ? false : 'needs root, podman and a triplane base image',
}, async () => {
  assert.ok(appServer && envId, 'the first test set up the site');
  const server = appServer;
  const pod = `tpm-e2e-${process.pid}`;
  podman(['pod', 'create', '--name', pod]);
  try {
    podman(['run', '-d', '--pod', pod, '--name', `${pod}-php`, image as string, 'sleep', '600']);
    const m = new ContainerMetrics({
      environments: () => [{ id: envId as string, podName: pod }],
      post: async (report) => {
        const res = await fetch(`${cp.url}/api/v1/agents/${server.id}/metrics`, {
          method: 'POST',
          headers: { authorization: `Bearer ${server.credential}`, 'content-type': 'application/json' },
          body: JSON.stringify(report),
        });
        if (res.status !== 202) throw new Error(`metrics answered ${res.status}: ${await res.text()}`);
      },
    });
    await m.tick(); // baseline
    podman(['exec', `${pod}-php`, 'sh', '-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done']);
    await m.tick();
    assert.deepEqual(m.stats, { sent: 1, dropped: 0 });
    let php: { name: string; serverId: string; points: { cpu: number | null; memBytes: number | null }[] } | undefined;
    const t0 = Date.now();
    while (Date.now() - t0 < 25_000) {
      const r = await api(`/environments/${envId}/metrics?range=1h&series=containers`);
      assert.equal(r.status, 200);
      php = r.body.containers.find((c: { name: string }) => c.name === 'php');
      if (php?.points.some((p) => p.cpu !== null)) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const sample = php?.points.find((p) => p.cpu !== null);
    assert.ok(sample, JSON.stringify(php));
    assert.equal(php?.serverId, server.id);
    assert.ok((sample.cpu ?? 0) > 0 && (sample.memBytes ?? 0) > 0, JSON.stringify(sample));
  } finally {
    podman(['pod', 'rm', '-f', '-t', '0', pod]);
  }
});
