import type { Kysely, Transaction } from 'kysely';
import type { DB } from '../store/schema.ts';

/** Latency histogram columns, one per LATENCY_BUCKETS_MS bound plus the overflow (migration 006). */
export const LATENCY_COLUMNS = [
  'l00',
  'l01',
  'l02',
  'l03',
  'l04',
  'l05',
  'l06',
  'l07',
  'l08',
  'l09',
  'l10',
  'l11',
  'l12',
  'l13',
  'l14',
] as const;
export type LatencyColumn = (typeof LATENCY_COLUMNS)[number];

/** Every additive column of `metric_points`, in the order of the wire fields. */
export const POINT_COUNTERS = [
  'requests',
  's1xx',
  's2xx',
  's3xx',
  's4xx',
  's5xx',
  'cache_hits',
  'cache_lookups',
  'waf_blocks',
  'upstream_errors',
  ...LATENCY_COLUMNS,
] as const;
export type PointCounter = (typeof POINT_COUNTERS)[number];

export type MetricPointsTable = { environment_id: string; step_ms: number; t: number } & Record<PointCounter, number>;

export type MetricContainerPointsTable = {
  environment_id: string;
  server_id: string;
  container: string;
  step_ms: number;
  t: number;
  cpu_sum: number;
  mem_sum: number;
  samples: number;
};

export type MetricsTables = {
  metric_points: MetricPointsTable;
  metric_container_points: MetricContainerPointsTable;
};

/** The store's handle typed with the metrics tables (kept here, next to their only users). */
export function metricsDb(db: Kysely<DB>): Kysely<DB & MetricsTables> {
  return db.withTables<MetricsTables>() as unknown as Kysely<DB & MetricsTables>;
}

export function metricsTrx(trx: Transaction<DB>): Transaction<DB & MetricsTables> {
  return trx.withTables<MetricsTables>() as unknown as Transaction<DB & MetricsTables>;
}
