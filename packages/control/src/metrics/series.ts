import {
  type ContainerSeries,
  type EnvironmentMetrics,
  METRICS_SERIES,
  type MetricsPoint,
  type MetricsRange,
  type MetricsSeriesName,
} from '@triplane/spec';
import { sql } from 'kysely';
import type { Store } from '../store/store.ts';
import { histogramQuantile } from './quantile.ts';
import { COARSE_STEP_MS, FINE_STEP_MS } from './rollup.ts';
import { LATENCY_COLUMNS, metricsDb, POINT_COUNTERS } from './tables.ts';

/** Per range: the stored resolution read, and the bucket width returned (a chart wants a few hundred points). */
export const RANGES: Record<MetricsRange, { source: number; step: number; buckets: number }> = {
  '1h': { source: FINE_STEP_MS, step: 10_000, buckets: 360 },
  '24h': { source: COARSE_STEP_MS, step: 300_000, buckets: 288 },
  '7d': { source: COARSE_STEP_MS, step: 3_600_000, buckets: 168 },
};

export function parseSeries(s: string | undefined): Set<MetricsSeriesName> {
  if (!s) return new Set(METRICS_SERIES);
  return new Set(s.split(',') as MetricsSeriesName[]);
}

/**
 * An environment's series over `range`, aligned: one point per bucket from `from` to `to` (the
 * current, incomplete bucket excluded, so the last point doesn't dip), buckets without traffic as
 * zero counts with null percentiles and hit ratio. Sums are grouped in SQL (`t - t % step`, portable);
 * percentiles come from the summed histogram buckets (quantile.ts).
 */
export async function environmentSeries(
  store: Store,
  environmentId: string,
  range: MetricsRange,
  nowMs: number,
  series: Set<MetricsSeriesName>,
): Promise<EnvironmentMetrics> {
  const r = RANGES[range];
  const to = nowMs - (nowMs % r.step);
  const from = to - r.buckets * r.step;
  const db = metricsDb(store.db);
  const bucket = sql<number>`t - (t % ${sql.lit(r.step)})`;
  const out: EnvironmentMetrics = { environmentId, range, step: r.step / 1000, from, to, points: [], containers: [] };

  const edgeWanted = [...series].some((s) => s !== 'containers');
  if (edgeWanted) {
    const rows = await db
      .selectFrom('metric_points')
      .select(bucket.as('b'))
      .select((eb) => POINT_COUNTERS.map((c) => eb.fn.sum<number>(c).as(c)))
      .where('environment_id', '=', environmentId)
      .where('step_ms', '=', r.source)
      .where('t', '>=', from)
      .where('t', '<', to)
      .groupBy(bucket)
      .execute();
    const byBucket = new Map(rows.map((row) => [Number(row.b), row as unknown as Record<string, unknown>]));
    for (let t = from; t < to; t += r.step) out.points.push(point(t, byBucket.get(t), r.step, series));
  }

  if (series.has('containers')) {
    const rows = await db
      .selectFrom('metric_container_points')
      .select(['server_id', 'container', bucket.as('b')])
      .select((eb) => [
        eb.fn.sum<number>('cpu_sum').as('cpu'),
        eb.fn.sum<number>('mem_sum').as('mem'),
        eb.fn.sum<number>('samples').as('n'),
      ])
      .where('environment_id', '=', environmentId)
      .where('step_ms', '=', r.source)
      .where('t', '>=', from)
      .where('t', '<', to)
      .groupBy(['server_id', 'container', bucket])
      .execute();
    const bySeries = new Map<string, { s: ContainerSeries; at: Map<number, { cpu: number; mem: number; n: number }> }>();
    for (const row of rows) {
      const key = `${row.server_id}\u0000${row.container}`;
      let e = bySeries.get(key);
      if (!e) {
        e = { s: { name: row.container, serverId: row.server_id, points: [] }, at: new Map() };
        bySeries.set(key, e);
      }
      e.at.set(Number(row.b), { cpu: Number(row.cpu), mem: Number(row.mem), n: Number(row.n) });
    }
    for (const { s, at } of [...bySeries.values()].sort(
      (a, b) => a.s.name.localeCompare(b.s.name) || a.s.serverId.localeCompare(b.s.serverId),
    )) {
      for (let t = from; t < to; t += r.step) {
        const v = at.get(t);
        s.points.push(
          v && v.n > 0
            ? { t, cpu: Math.round((v.cpu / v.n) * 10_000) / 10_000, memBytes: Math.round(v.mem / v.n) }
            : { t, cpu: null, memBytes: null },
        );
      }
      out.containers.push(s);
    }
  }
  return out;
}

function point(
  t: number,
  row: Record<string, unknown> | undefined,
  stepMs: number,
  series: Set<MetricsSeriesName>,
): MetricsPoint {
  const n = (k: string) => Number(row?.[k] ?? 0);
  const p: MetricsPoint = { t };
  if (series.has('traffic')) {
    p.requests = n('requests');
    p.rps = Math.round((n('requests') / (stepMs / 1000)) * 1000) / 1000;
    p.s1xx = n('s1xx');
    p.s2xx = n('s2xx');
    p.s3xx = n('s3xx');
    p.s4xx = n('s4xx');
    p.s5xx = n('s5xx');
  }
  if (series.has('latency')) {
    const counts = LATENCY_COLUMNS.map((c) => n(c));
    p.p50 = histogramQuantile(counts, 0.5);
    p.p95 = histogramQuantile(counts, 0.95);
    p.p99 = histogramQuantile(counts, 0.99);
  }
  if (series.has('cache')) {
    const lookups = n('cache_lookups');
    p.hitRatio = lookups > 0 ? Math.round((n('cache_hits') / lookups) * 10_000) / 10_000 : null;
  }
  if (series.has('waf')) p.wafBlocks = n('waf_blocks');
  if (series.has('upstream')) p.upstreamErrors = n('upstream_errors');
  return p;
}
