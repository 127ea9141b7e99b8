import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type EdgeCluster, startEdgeCluster } from './cluster.ts';
import { httpGet, type SeenRequest, sleep, startOrigin, type TestOrigin, waitFor } from './testing.ts';

function config(origin: TestOrigin, hosts = ['a.example']) {
  return {
    listen: { http: '127.0.0.1:0', metrics: '127.0.0.1:0' },
    sites: [
      {
        name: 'blog',
        hosts,
        upstreams: [origin.url],
        cache: { profile: 'generic' },
        purge: { allow: ['127.0.0.1/32'] },
      },
    ],
  };
}

describe('edge cluster: one worker per core behind one listener', () => {
  let origin: TestOrigin;
  let edge: EdgeCluster;
  const seen: SeenRequest[] = [];
  const fetched = (url: string) => seen.filter((s) => s.url === url).length;

  before(async () => {
    origin = await startOrigin((s, res) => {
      seen.push(s);
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=60', 'x-worker-test': '1' });
      res.end(`page ${s.url} #${seen.length}`);
    });
    edge = await startEdgeCluster({ config: config(origin), workers: 2 });
  });
  after(async () => {
    await edge?.close();
    await origin?.close();
  });

  test('two worker processes serve the same port; each connection goes to one of them', async () => {
    assert.equal(edge.pids().length, 2);
    assert.notEqual(edge.pids()[0], process.pid);
    for (let i = 0; i < 6; i++) {
      const r = await httpGet(edge.address.port, '/shared');
      assert.equal(r.status, 200);
      assert.match(r.body, /^page \/shared #/);
    }
    // per-worker caches: at most one origin fetch per worker
    assert.ok(fetched('/shared') >= 1 && fetched('/shared') <= 2, `fetched ${fetched('/shared')}`);
  });

  test('a purge reaches every worker', async () => {
    const before = new Set<string>();
    for (let i = 0; i < 20; i++) before.add((await httpGet(edge.address.port, '/p')).body);
    assert.equal(edge.purge('blog', [{ kind: 'url', host: 'a.example', url: '/p' }]), 0);
    assert.equal(edge.purge('nope', []), undefined);
    await sleep(100);
    // whichever worker answers (the kernel spreads connections), nothing cached before the purge comes back
    for (let i = 0; i < 20; i++) {
      const body = (await httpGet(edge.address.port, '/p')).body;
      assert.ok(!before.has(body), `${body} survived the purge`);
    }
  });

  test('a PURGE request sent to the edge purges every worker, not only the one that received it', async () => {
    const before = new Set<string>();
    for (let i = 0; i < 20; i++) before.add((await httpGet(edge.address.port, '/pr')).body);
    const p = await httpGet(edge.address.port, '/pr', { method: 'PURGE' });
    assert.equal(p.status, 200);
    await sleep(100);
    for (let i = 0; i < 20; i++) {
      const body = (await httpGet(edge.address.port, '/pr')).body;
      assert.ok(!before.has(body), `${body} survived the PURGE on another worker`);
    }
  });

  test('a config change reaches every worker; a bad one is refused and the old one keeps serving', async () => {
    assert.throws(
      () => edge.reload({ ...config(origin), sites: [{ name: 'Bad Name', hosts: [], upstreams: [] }] }),
      (e: Error & { code?: string }) => e.code === 'TRIPLANE_ERR_CONFIG',
    );
    assert.equal((await httpGet(edge.address.port, '/x')).status, 200);
    edge.reload(config(origin, ['a.example', 'new.example']));
    await sleep(200); // sent over IPC
    for (let i = 0; i < 6; i++) assert.equal((await httpGet(edge.address.port, '/n', { host: 'new.example' })).status, 200);
  });

  test('metrics are aggregated across workers on the primary', async () => {
    const r = await httpGet(edge.metricsAddress!.port, '/metrics');
    assert.equal(r.status, 200);
    const total = [...r.body.matchAll(/^triplane_edge_requests_total\{[^}]*\} (\d+)/gm)].reduce((a, m) => a + Number(m[1]), 0);
    assert.ok(total >= 25, `aggregated requests_total ${total}`);
  });

  test('a rolling restart replaces every worker without failing a request', async () => {
    const oldPids = edge.pids();
    let ok = 0;
    const failures: string[] = [];
    let running = true;
    const load = (async () => {
      while (running) {
        try {
          const r = await httpGet(edge.address.port, '/roll');
          if (r.status === 200) ok++;
          else failures.push(String(r.status));
        } catch (e) {
          failures.push((e as Error).message);
        }
      }
    })();
    await edge.restartWorkers();
    await sleep(100);
    running = false;
    await load;
    assert.deepEqual(failures, []);
    assert.ok(ok > 10, `served ${ok} during the restart`);
    const newPids = edge.pids();
    assert.equal(newPids.length, 2);
    for (const p of oldPids) assert.ok(!newPids.includes(p), 'every worker was replaced');
  });

  test('a worker that dies is replaced while the other keeps serving', async () => {
    const [victim] = edge.pids();
    process.kill(victim!, 'SIGKILL');
    // connections the kernel had queued on the dead worker's socket are reset (not hung); once the
    // primary has seen it die, every request is served by the survivor or the replacement
    assert.ok(await waitFor(() => !edge.pids().includes(victim!), 20_000), 'death noticed');
    for (let i = 0; i < 4; i++) assert.equal((await httpGet(edge.address.port, '/alive')).status, 200);
    assert.ok(await waitFor(() => edge.pids().length === 2, 30_000), 'respawned');
    for (let i = 0; i < 4; i++) assert.equal((await httpGet(edge.address.port, '/alive')).status, 200);
  });
});
