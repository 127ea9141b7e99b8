import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type EdgeEnvironmentDelta, LATENCY_COUNTS } from '@triplane/spec';
import { FakeClock } from '@triplane/testkit';
import { createSite } from '../desired/test-support.ts';
import { createHarness, type Harness } from '../testing/harness.ts';
import { COARSE_KEEP_MS, FINE_KEEP_MS, MetricsRollup, PRUNE_EVERY_MS, pruneMetrics } from './rollup.ts';
import { environmentSeries, parseSeries } from './series.ts';
import { metricsDb } from './tables.ts';

const ALL = parseSeries(undefined);

export function delta(environmentId: string, over: Partial<EdgeEnvironmentDelta> = {}): EdgeEnvironmentDelta {
  const latencyMs = Array.from({ length: LATENCY_COUNTS }, () => 0);
  latencyMs[5] = over.requests ?? 10; // (10, 25] ms
  return {
    environmentId,
    requests: 10,
    s1xx: 0,
    s2xx: 8,
    s3xx: 1,
    s4xx: 1,
    s5xx: 0,
    cacheHits: 6,
    cacheLookups: 8,
    wafBlocks: 1,
    upstreamErrors: 0,
    latencyMs,
    ...over,
  };
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`${dialect}: metrics rollup`, () => {
    let h: Harness;
    let env: string;
    let other: string;
    // a round instant: the hour starts a bucket of every resolution
    const T0 = Date.parse('2026-03-02T10:00:00Z');
    const countRows = async (table: 'metric_points' | 'metric_container_points', step: number) =>
      Number(
        (
          await metricsDb(h.store.db)
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .where('step_ms', '=', step)
            .executeTakeFirstOrThrow()
        ).n,
      );

    before(async () => {
      h = await createHarness({ dialect });
      env = (await createSite(h, h.owner.token, { name: 'rollup-a', domains: ['a.example.test'] })).environmentId;
      other = (await createSite(h, h.owner.token, { name: 'rollup-b', domains: ['b.example.test'] })).environmentId;
    });
    after(() => h.close());

    test('reports in one 10 s bucket add up (several edges), land in the 1 min bucket too, and show once the bucket is complete', async () => {
      const clock = new FakeClock(T0 + 2_000);
      const rollup = new MetricsRollup(h.store, clock);
      const r1 = await rollup.ingestEdge({ intervalMs: 10_000, environments: [delta(env), delta('env_0000000000000000')] });
      assert.deepEqual(r1, { accepted: 1, ignored: 1 });
      clock.advance(5_000); // same 10 s bucket, "another edge", with slow requests
      const slow = Array.from({ length: LATENCY_COUNTS }, () => 0);
      slow[8] = 10; // (100, 250] ms
      await rollup.ingestEdge({
        intervalMs: 10_000,
        environments: [delta(env, { latencyMs: slow, s2xx: 5, s5xx: 3, upstreamErrors: 3, cacheHits: 0 })],
      });

      // still inside the bucket: it is not shown yet
      let s = await environmentSeries(h.store, env, '1h', clock.now(), ALL);
      assert.equal(s.points.length, 360);
      assert.equal(s.step, 10);
      assert.equal(s.to, T0);
      assert.ok(s.points.every((p) => p.requests === 0 && p.p50 === null && p.hitRatio === null));

      clock.set(T0 + 10_000);
      s = await environmentSeries(h.store, env, '1h', clock.now(), ALL);
      assert.equal(s.points.length, 360);
      const last = s.points.at(-1);
      assert.deepEqual(last, {
        t: T0,
        requests: 20,
        rps: 2,
        s1xx: 0,
        s2xx: 13,
        s3xx: 2,
        s4xx: 2,
        s5xx: 3,
        p50: 25, // the 10th of 20 requests: top of (10, 25]
        p95: 235, // the 19th: 9/10 into (100, 250]
        p99: 247,
        hitRatio: 0.375, // 6 / 16
        wafBlocks: 2,
        upstreamErrors: 3,
      });
      assert.equal(s.points[0]?.t, T0 + 10_000 - 3_600_000);
      // points are aligned and contiguous
      for (let i = 1; i < s.points.length; i++) assert.equal(s.points[i]!.t - s.points[i - 1]!.t, 10_000);

      // the 1-minute resolution got the same sums (shown when the minute is over, in the 5-min point)
      clock.set(T0 + 300_000);
      const day = await environmentSeries(h.store, env, '24h', clock.now(), parseSeries('traffic,latency'));
      assert.equal(day.step, 300);
      assert.equal(day.points.length, 288);
      assert.deepEqual(day.points.at(-1), {
        t: T0,
        requests: 20,
        rps: 0.067,
        s1xx: 0,
        s2xx: 13,
        s3xx: 2,
        s4xx: 2,
        s5xx: 3,
        p50: 25,
        p95: 235,
        p99: 247,
      });
      // the other environment saw nothing
      const b = await environmentSeries(h.store, other, '1h', clock.now(), parseSeries('traffic'));
      assert.ok(b.points.every((p) => p.requests === 0));
    });

    test('containers: one series per (server, container), averaged per bucket, gaps are null', async () => {
      const clock = new FakeClock(T0 + 3_600_000 + 1_000);
      const rollup = new MetricsRollup(h.store, clock);
      await rollup.ingestContainers('srv_aaaaaaaaaaaaaaaa', {
        containers: [
          { environmentId: env, container: 'web', cpu: 0.2, memBytes: 100 },
          { environmentId: env, container: 'php', cpu: 1, memBytes: 1000 },
          { environmentId: 'env_0000000000000000', container: 'php', cpu: 1, memBytes: 1000 },
        ],
      });
      clock.advance(4_000);
      await rollup.ingestContainers('srv_aaaaaaaaaaaaaaaa', {
        containers: [{ environmentId: env, container: 'web', cpu: 0.4, memBytes: 300 }],
      });
      await rollup.ingestContainers('srv_bbbbbbbbbbbbbbbb', {
        containers: [{ environmentId: env, container: 'web', cpu: 3, memBytes: 5 }],
      });
      clock.set(T0 + 3_600_000 + 10_000);
      const s = await environmentSeries(h.store, env, '1h', clock.now(), parseSeries('containers'));
      assert.deepEqual(s.points, [], 'no edge series asked for');
      assert.deepEqual(
        s.containers.map((c) => [c.name, c.serverId, c.points.at(-1), c.points.at(-2)]),
        [
          [
            'php',
            'srv_aaaaaaaaaaaaaaaa',
            { t: T0 + 3_600_000, cpu: 1, memBytes: 1000 },
            { t: T0 + 3_590_000, cpu: null, memBytes: null },
          ],
          [
            'web',
            'srv_aaaaaaaaaaaaaaaa',
            { t: T0 + 3_600_000, cpu: 0.3, memBytes: 200 },
            { t: T0 + 3_590_000, cpu: null, memBytes: null },
          ],
          [
            'web',
            'srv_bbbbbbbbbbbbbbbb',
            { t: T0 + 3_600_000, cpu: 3, memBytes: 5 },
            { t: T0 + 3_590_000, cpu: null, memBytes: null },
          ],
        ],
      );
    });

    test('retention with a fake clock: 10 s points for an hour, 1 min points for 7 days, pruning at most once a minute', async () => {
      const start = Date.parse('2026-04-01T00:00:00Z');
      const clock = new FakeClock(start);
      const rollup = new MetricsRollup(h.store, clock);
      const cpu = { containers: [{ environmentId: env, container: 'web', cpu: 0.1, memBytes: 1 }] };
      // 2 hours of reports every 10 s (one environment, edge + agent)
      for (let i = 0; i < 720; i++) {
        await rollup.ingestEdge({ intervalMs: 10_000, environments: [delta(env, { requests: 1 })] });
        await rollup.ingestContainers('srv_aaaaaaaaaaaaaaaa', cpu);
        clock.advance(10_000);
      }
      // pruned at most PRUNE_EVERY_MS ago: at most an hour plus a minute of 10 s points are kept
      const fineBound = (FINE_KEEP_MS + PRUNE_EVERY_MS) / 10_000 + 1;
      const fine = await countRows('metric_points', 10_000);
      assert.ok(fine <= fineBound && fine >= FINE_KEEP_MS / 10_000, `10 s rows: ${fine}`);
      assert.ok((await countRows('metric_container_points', 10_000)) <= fineBound);
      // every minute of the 2 hours is still there at 1 min resolution (plus the earlier tests' rows)
      assert.ok((await countRows('metric_points', 60_000)) >= 120);
      // the last hour reads whole: 360 points of 1 request each
      const s = await environmentSeries(h.store, env, '1h', clock.now(), parseSeries('traffic'));
      assert.equal(
        s.points.reduce((a, p) => a + (p.requests ?? 0), 0),
        360,
      );

      // 8 days later: everything older than 7 days + 1 h goes, the tables end up bounded
      clock.advance(8 * 24 * 3_600_000);
      await rollup.ingestEdge({ intervalMs: 10_000, environments: [delta(env, { requests: 1 })] });
      assert.equal(await countRows('metric_points', 10_000), 1);
      assert.equal(await countRows('metric_points', 60_000), 1);
      assert.equal(await countRows('metric_container_points', 60_000), 0);
      // direct pruning at the edge of the window
      clock.advance(COARSE_KEEP_MS);
      assert.equal(await pruneMetrics(h.store, clock.now()), 1, 'the 10 s row went; the 1 min row is exactly at the cut');
      clock.advance(60_000);
      assert.equal(await pruneMetrics(h.store, clock.now()), 1);
      assert.equal(await countRows('metric_points', 60_000), 0);
    });
  });
}
