import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { MemoryStorage } from '@triplane/cache';
import { LATENCY_COUNTS } from '@triplane/spec';
import type { AccessEntry } from './access-log.ts';
import { EdgeMetrics } from './metrics.ts';
import { EdgeMetricsPusher } from './metrics-push.ts';
import { latencySlot, mergeEnvironmentDeltas, toEnvironmentDeltas } from './traffic-deltas.ts';

const entry = (over: Partial<AccessEntry>): AccessEntry => ({
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
  ...over,
});

test('latency slots follow the Prometheus `le` bounds', () => {
  assert.equal(latencySlot(0), 0);
  assert.equal(latencySlot(0.5), 0);
  assert.equal(latencySlot(0.51), 1);
  assert.equal(latencySlot(10), 4);
  assert.equal(latencySlot(10_000), 13);
  assert.equal(latencySlot(10_001), 14);
});

test('EdgeMetrics feeds per-site deltas: status classes, hit ratio parts, upstream errors, WAF blocks; drain resets', async () => {
  const m = new EdgeMetrics(new MemoryStorage({ maxBytes: 1 << 20, maxObjectBytes: 1 << 16 }));
  m.observe(entry({ cache: 'HIT', upstreamMs: undefined, ms: 0.2 }));
  m.observe(entry({ cache: 'STALE', upstreamMs: undefined }));
  m.observe(entry({ status: 304, cache: 'MISS' }));
  m.observe(entry({ status: 404, cache: 'PASS', ms: 30 }));
  m.observe(entry({ status: 503, cache: 'ERROR', upstreamMs: undefined, ms: 5000 })); // no upstream answered
  m.observe(entry({ status: 502, cache: 'PASS', upstreamMs: 40 })); // the origin itself said 502: not an upstream error
  m.observe(entry({ status: 403, cache: 'SYNTH', upstreamMs: undefined })); // the WAF's refusal page
  m.observe(entry({ status: 200, cache: 'PURGE', upstreamMs: undefined }));
  m.observe(entry({ site: undefined, status: 421, cache: 'SYNTH' })); // no site: not per environment
  m.wafBlocked('env-a');
  m.observe(entry({ site: 'env-b', status: 101, cache: 'PASS' }));

  const drained = m.traffic.drain();
  assert.deepEqual([...drained.keys()].sort(), ['env-a', 'env-b']);
  const a = drained.get('env-a');
  assert.deepEqual(
    { ...a, latencyMs: undefined },
    {
      requests: 8,
      s1xx: 0,
      s2xx: 3,
      s3xx: 1,
      s4xx: 2,
      s5xx: 2,
      cacheHits: 2,
      cacheLookups: 6, // not SYNTH, not PURGE
      wafBlocks: 1,
      upstreamErrors: 1,
      latencyMs: undefined,
    },
  );
  assert.equal(a?.latencyMs.length, LATENCY_COUNTS);
  assert.equal(
    a?.latencyMs.reduce((x, y) => x + y, 0),
    8,
  );
  assert.equal(a?.latencyMs[0], 1, '0.2 ms');
  assert.equal(a?.latencyMs[12], 1, '5000 ms');
  assert.equal(m.traffic.drain().size, 0, 'drain starts over');
  // the same counts are Prometheus series for an external scraper
  const text = await m.registry.metrics();
  assert.match(text, /triplane_edge_upstream_errors_total\{site="env-a"\} 1/);
  assert.match(text, /triplane_edge_waf_blocks_total\{site="env-a"\} 1/);

  // → environments through the config's mapping; sites without one are left out; workers' parts add up
  const envs = toEnvironmentDeltas(drained, (s) => (s === 'env-a' ? 'env_aaaaaaaaaaaaaaaa' : undefined));
  assert.deepEqual(
    envs.map((e) => e.environmentId),
    ['env_aaaaaaaaaaaaaaaa'],
  );
  const merged = mergeEnvironmentDeltas([envs, envs, []]);
  assert.equal(merged.length, 1);
  assert.equal(merged[0]?.requests, 16);
  assert.equal(merged[0]?.latencyMs[0], 2);
  assert.equal(envs[0]?.requests, 8, 'inputs untouched');
});

test('EdgeMetricsPusher: an unreachable control plane drops the report and counts it; not joined = nothing collected', async () => {
  // a port that refuses connections: bound then closed
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  let collected = 0;
  const delta = toEnvironmentDeltas(new Map([['x', { ...emptyish(), requests: 1, s2xx: 1 }]]), () => 'env_aaaaaaaaaaaaaaaa');
  let credential: string | undefined;
  const p = new EdgeMetricsPusher({
    apiUrl: `http://127.0.0.1:${port}`,
    credential: () => credential,
    collect: () => {
      collected++;
      return delta;
    },
    timeoutMs: 2000,
  });
  await p.push();
  assert.equal(collected, 0, 'not joined: counts keep accumulating in the edge');
  credential = 'tpa_test';
  await p.push();
  await p.push();
  assert.equal(collected, 2);
  assert.deepEqual(p.stats, { sent: 0, dropped: 2, skipped: 0 });
  await p.stop(); // stop flushes once more (and drops it too): never throws
  assert.equal(p.stats.dropped, 3);
});

function emptyish() {
  return {
    requests: 0,
    s1xx: 0,
    s2xx: 0,
    s3xx: 0,
    s4xx: 0,
    s5xx: 0,
    cacheHits: 0,
    cacheLookups: 0,
    wafBlocks: 0,
    upstreamErrors: 0,
    latencyMs: new Array<number>(LATENCY_COUNTS).fill(0),
  };
}
