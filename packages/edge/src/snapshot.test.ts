import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EdgeSnapshot } from '@triplane/spec';
import { loadConfig } from './config.ts';
import { startEdge } from './server.ts';
import { configFromSnapshot } from './snapshot.ts';
import { httpGet, startOrigin } from './testing.ts';

function snapshot(port: number, state: 'running' | 'stopped' = 'running'): EdgeSnapshot {
  const healthCheck = {
    path: '/',
    host: null,
    intervalMs: 5000,
    timeoutMs: 1000,
    healthyThreshold: 1,
    unhealthyThreshold: 3,
    expectStatusMin: 200,
    expectStatusMax: 399,
  };
  return {
    apiVersion: 'triplane/v1',
    kind: 'EdgeSnapshot',
    revision: 3,
    generatedAt: '2026-01-01T00:00:00.000Z',
    sites: [],
    routes: [
      { hostname: 'shop.example.com', environmentId: 'env_01ABC', siteId: 'site_1', primary: true, redirectTo: null },
      {
        hostname: 'www.shop.example.com',
        environmentId: 'env_01ABC',
        siteId: 'site_1',
        primary: false,
        redirectTo: 'shop.example.com',
      },
    ],
    upstreams: [
      {
        environmentId: 'env_01ABC',
        state,
        policy: 'ip-hash',
        members: [{ serverId: 'srv_1', address: '127.0.0.1', port }],
        healthCheck,
        connectTimeoutMs: 1000,
        readTimeoutMs: 5000,
      },
    ],
    certificates: [],
    policies: [
      {
        environmentId: 'env_01ABC',
        cache: {
          enabled: true,
          profile: 'wordpress',
          defaultTtlS: 120,
          staticTtlS: 86400,
          graceS: 10,
          bypassPaths: ['/private/'],
          bypassCookies: ['my_session'],
          ignoreQueryParams: [],
          honorOriginCacheControl: true,
        },
        waf: {
          enabled: false,
          mode: 'detect',
          paranoiaLevel: 1,
          inboundAnomalyThreshold: 5,
          outboundAnomalyThreshold: 4,
          exclusionProfiles: [],
          maxRequestBodyBytes: 1,
        },
        rate: { requestsPerSecond: 10, burst: 10, rules: [] },
      },
    ],
  } as EdgeSnapshot;
}

test('snapshot → config: one site per environment, redirects, stopped → 503', async () => {
  const origin = await startOrigin((_s, res) => {
    res.writeHead(200, { 'cache-control': 'max-age=60' });
    res.end('shop');
  });
  const cfg = loadConfig(configFromSnapshot(snapshot(origin.port), { listen: { http: '127.0.0.1:0' }, debugHeaders: true }));
  assert.equal(cfg.sites[0]?.name, 'env-01abc');
  assert.deepEqual(cfg.sites[0]?.hosts, ['shop.example.com']);
  assert.equal(cfg.sites[0]?.cache.profile, 'wordpress');
  assert.equal(cfg.sites[0]?.static.maxAgeS, 86400, 'staticTtlS is the browser max-age of static files');
  assert.deepEqual(cfg.redirects, [{ host: 'www.shop.example.com', to: 'shop.example.com' }]);
  const edge = await startEdge({ config: cfg });
  try {
    const r = await httpGet(edge.address.port, '/p?x=1', { host: 'www.shop.example.com' });
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, 'http://shop.example.com/p?x=1');
    assert.equal((await httpGet(edge.address.port, '/', { host: 'shop.example.com' })).body, 'shop');
    assert.equal(
      (await httpGet(edge.address.port, '/', { host: 'shop.example.com', headers: { cookie: 'my_session=1' } })).headers[
        'x-cache'
      ],
      'PASS',
    );
    edge.reload(configFromSnapshot(snapshot(origin.port, 'stopped'), { listen: { http: '127.0.0.1:0' } }));
    assert.equal((await httpGet(edge.address.port, '/', { host: 'shop.example.com' })).status, 503);
  } finally {
    await edge.close();
    await origin.close();
  }
});
