import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { LATENCY_COUNTS } from '@triplane/spec';
import { FakeClock } from '@triplane/testkit';
import { createSite, joinServer } from '../../../desired/test-support.ts';
import { createHarness, type Harness } from '../../../testing/harness.ts';

const latency = (i: number, n: number) => Array.from({ length: LATENCY_COUNTS }, (_, k) => (k === i ? n : 0));

const envDelta = (environmentId: string, requests = 30) => ({
  environmentId,
  requests,
  s1xx: 0,
  s2xx: requests - 3,
  s3xx: 0,
  s4xx: 2,
  s5xx: 1,
  cacheHits: requests / 2,
  cacheLookups: requests,
  wafBlocks: 2,
  upstreamErrors: 1,
  latencyMs: latency(6, requests),
});

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`${dialect}: metrics routes`, () => {
    let h: Harness;
    const clock = new FakeClock(Date.now() - (Date.now() % 60_000));
    let siteId: string;
    let envId: string;
    let otherSiteId: string;
    let edge: { id: string; credential: string };
    let app: { id: string; credential: string };
    const postEdge = (token: string | null, body: unknown) => h.call(token, 'POST', '/api/v1/edge/metrics', body);
    const postAgent = (token: string | null, id: string, body: unknown) =>
      h.call(token, 'POST', `/api/v1/agents/${id}/metrics`, body);
    const read = (token: string | null, query = '', id = envId) =>
      h.call(token, 'GET', `/api/v1/environments/${id}/metrics${query}`);

    before(async () => {
      h = await createHarness({ dialect, clock });
      const s = await createSite(h, h.owner.token, { name: 'metricsite', domains: ['m.example.test'] });
      siteId = s.siteId;
      envId = s.environmentId;
      otherSiteId = (await createSite(h, h.owner.token, { name: 'othersite', domains: ['o.example.test'] })).siteId;
      edge = await joinServer(h, 'edge-1', 'edge', '10.0.0.9');
      app = await joinServer(h, 'app-1', 'app', '10.0.0.10');
    });
    after(() => h.close());

    test('POST /edge/metrics: edge servers only; unknown environments ignored', async () => {
      const body = { intervalMs: 10_000, environments: [envDelta(envId), envDelta('env_0000000000000000')] };
      assert.equal((await postEdge(null, body)).statusCode, 401);
      assert.equal((await postEdge(app.credential, body)).statusCode, 403);
      assert.equal((await postEdge(h.owner.token, body)).statusCode, 403, 'users (even the owner) do not post metrics');
      const r = await postEdge(edge.credential, body);
      assert.equal(r.statusCode, 202, r.body);
      assert.deepEqual(r.json(), { accepted: 1, ignored: 1 });
      assert.deepEqual((await postEdge(edge.credential, { intervalMs: 0, environments: [] })).json(), {
        accepted: 0,
        ignored: 0,
      });
    });

    test('POST /agents/{id}/metrics: an app server for itself only', async () => {
      const body = { containers: [{ environmentId: envId, container: 'php', cpu: 0.5, memBytes: 64 * 1024 * 1024 }] };
      assert.equal((await postAgent(null, app.id, body)).statusCode, 401);
      assert.equal((await postAgent(edge.credential, edge.id, body)).statusCode, 403, 'edges have no containers');
      assert.equal((await postAgent(app.credential, edge.id, body)).statusCode, 403, 'not for another server');
      assert.equal((await postAgent(h.owner.token, app.id, body)).statusCode, 403);
      const r = await postAgent(app.credential, app.id, body);
      assert.equal(r.statusCode, 202, r.body);
      assert.deepEqual(r.json(), { accepted: 1, ignored: 0 });
    });

    test('bad reports are 400 with the validation code, nothing stored', async () => {
      const bad: unknown[] = [
        {},
        { environments: [] },
        { intervalMs: 10_000, environments: [{ ...envDelta(envId), latencyMs: [1, 2, 3] }] },
        { intervalMs: 10_000, environments: [{ ...envDelta(envId), requests: -1 }] },
        { intervalMs: 10_000, environments: [{ ...envDelta(envId), requests: 1.5 }] },
        { intervalMs: 10_000, environments: [{ ...envDelta(envId), extra: 1 }] },
        { intervalMs: 10_000, environments: [{ ...envDelta(envId), requests: '10' }] },
      ];
      for (const b of bad) {
        const r = await postEdge(edge.credential, b);
        assert.equal(r.statusCode, 400, JSON.stringify(b));
        assert.equal(r.json().error.code, 'TRIPLANE_ERR_VALIDATION');
      }
      for (const c of [{ container: '../x' }, { cpu: -1 }, { memBytes: 1.5 }, { container: '' }]) {
        const r = await postAgent(app.credential, app.id, {
          containers: [{ environmentId: envId, container: 'php', cpu: 0.5, memBytes: 1, ...c }],
        });
        assert.equal(r.statusCode, 400, JSON.stringify(c));
      }
    });

    test('GET /environments/{id}/metrics: any member of the site reads; others get 404; servers 403', async () => {
      clock.advance(60_000); // the reports' buckets are complete now
      const viewer = await h.makeUser('viewer', { siteId });
      const otherSiteViewer = await h.makeUser('viewer', { siteId: otherSiteId, email: 'v2@example.test' });
      const stranger = (await h.makeOrg('elsewhere')).owner;
      for (const u of [h.owner, viewer, await h.makeUser('developer', { siteId, email: 'dev@example.test' })]) {
        const r = await read(u.token);
        assert.equal(r.statusCode, 200, r.body);
      }
      assert.equal((await read(otherSiteViewer.token)).statusCode, 404);
      assert.equal((await read(stranger.token)).statusCode, 404);
      assert.equal((await read(null)).statusCode, 401);
      assert.equal((await read(edge.credential)).statusCode, 403);
      assert.equal((await read(viewer.token, '', 'env_0000000000000000')).statusCode, 404);

      const r = (await read(viewer.token, '?range=1h')).json();
      assert.equal(r.environmentId, envId);
      assert.equal(r.step, 10);
      assert.equal(r.points.length, 360);
      const busy = r.points.filter((p: { requests: number }) => p.requests > 0);
      assert.equal(busy.length, 1);
      assert.deepEqual(busy[0], {
        t: busy[0].t,
        requests: 30,
        rps: 3,
        s1xx: 0,
        s2xx: 27,
        s3xx: 0,
        s4xx: 2,
        s5xx: 1,
        p50: 37.5,
        p95: 48.75,
        p99: 49.75,
        hitRatio: 0.5,
        wafBlocks: 2,
        upstreamErrors: 1,
      });
      assert.equal(r.containers.length, 1);
      assert.equal(r.containers[0].name, 'php');
      assert.equal(r.containers[0].serverId, app.id);
      const cpu = r.containers[0].points.filter((p: { cpu: number | null }) => p.cpu !== null);
      assert.deepEqual(cpu, [{ t: busy[0].t, cpu: 0.5, memBytes: 64 * 1024 * 1024 }]);

      clock.advance(3_600_000); // the report's hour is complete
      const week = (await read(viewer.token, '?range=7d&series=waf,containers')).json();
      assert.equal(week.step, 3600);
      assert.equal(week.points.length, 168);
      assert.deepEqual(Object.keys(week.points[0]).sort(), ['t', 'wafBlocks']);
      assert.equal(
        week.points.reduce((a: number, p: { wafBlocks: number }) => a + p.wafBlocks, 0),
        2,
      );
      assert.equal(week.containers[0].points.length, 168);
    });

    test('bad queries are 400', async () => {
      for (const q of ['?range=2d', '?series=cpu', '?series=traffic,', '?series=', '?foo=1']) {
        const r = await read(h.owner.token, q);
        assert.equal(r.statusCode, 400, q);
        assert.equal(r.json().error.code, 'TRIPLANE_ERR_VALIDATION');
      }
    });
  });
}
