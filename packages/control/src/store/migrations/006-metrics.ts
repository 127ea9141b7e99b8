import type { Kysely } from 'kysely';

/** Latency histogram columns l00…l14 (packages/spec LATENCY_BUCKETS_MS + overflow); fixed here, as a shipped migration must be. */
const LATENCY_COLUMNS = Array.from({ length: 15 }, (_, i) => `l${String(i).padStart(2, '0')}`);

/**
 * The metrics rollup store (packages/control/src/metrics, docs/metrics.md).
 *
 * `metric_points`: an environment's edge traffic per time bucket. `step_ms` is the bucket width
 * (10,000 for the last hour, 60,000 for 7 days), `t` the bucket start (epoch ms). Every column is a
 * sum, so reports from several edges and both resolutions are written with an additive upsert
 * (`ON CONFLICT … DO UPDATE SET x = x + excluded.x`) — no read-modify-write, no lost update.
 * `metric_container_points`: CPU/memory samples per container and app server, as sums plus the
 * sample count (the average is sum / samples).
 * Size is bounded by pruning (metrics/rollup.ts): per environment about 370 + 10,140 rows in
 * each table (per container and server for the second). Deleting an environment deletes its points.
 */
export async function up(db: Kysely<any>): Promise<void> {
  let points = db.schema
    .createTable('metric_points')
    .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
    .addColumn('step_ms', 'integer', (c) => c.notNull())
    .addColumn('t', 'bigint', (c) => c.notNull());
  for (const col of [
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
  ]) {
    points = points.addColumn(col, 'bigint', (c) => c.notNull().defaultTo(0));
  }
  await points.addPrimaryKeyConstraint('metric_points_pk', ['environment_id', 'step_ms', 't']).execute();
  await db.schema.createIndex('metric_points_age_idx').on('metric_points').columns(['step_ms', 't']).execute();

  await db.schema
    .createTable('metric_container_points')
    .addColumn('environment_id', 'text', (c) => c.notNull().references('environments.id').onDelete('cascade'))
    .addColumn('server_id', 'text', (c) => c.notNull())
    .addColumn('container', 'text', (c) => c.notNull())
    .addColumn('step_ms', 'integer', (c) => c.notNull())
    .addColumn('t', 'bigint', (c) => c.notNull())
    .addColumn('cpu_sum', 'double precision', (c) => c.notNull().defaultTo(0))
    .addColumn('mem_sum', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('samples', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('metric_container_points_pk', ['environment_id', 'step_ms', 't', 'server_id', 'container'])
    .execute();
  await db.schema
    .createIndex('metric_container_points_age_idx')
    .on('metric_container_points')
    .columns(['step_ms', 't'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('metric_container_points').ifExists().execute();
  await db.schema.dropTable('metric_points').ifExists().execute();
}
