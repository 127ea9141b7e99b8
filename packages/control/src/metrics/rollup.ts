import type { Clock } from '@triplane/kernel';
import type { AgentMetricsReport, EdgeEnvironmentDelta, EdgeMetricsReport, MetricsIngestResult } from '@triplane/spec';
import { type Insertable, sql } from 'kysely';
import type { Store } from '../store/store.ts';
import {
  LATENCY_COLUMNS,
  type MetricContainerPointsTable,
  type MetricPointsTable,
  metricsDb,
  metricsTrx,
  POINT_COUNTERS,
} from './tables.ts';

/** The two resolutions: 10-second points kept for the last hour, 1-minute points for 7 days. */
export const FINE_STEP_MS = 10_000;
export const COARSE_STEP_MS = 60_000;
export const FINE_KEEP_MS = 3_600_000;
/** 7 days plus one hour, so the first 1-hour bucket of a 7-day query is whole. */
export const COARSE_KEEP_MS = 7 * 24 * 3_600_000 + 3_600_000;
/** Pruning runs on ingest, at most this often per process. */
export const PRUNE_EVERY_MS = 60_000;

const STEPS = [FINE_STEP_MS, COARSE_STEP_MS] as const;
/** Rows per statement: far below SQLite's and PostgreSQL's bound-parameter limits (28 columns a row). */
const CHUNK = 200;

const bucketOf = (nowMs: number, step: number) => nowMs - (nowMs % step);

/**
 * The rollup writer. A report is filed under the control plane's clock at arrival, into the 10 s
 * bucket and the 1 min bucket that contain that instant — both at once, with an additive upsert,
 * because every stored value is a sum (counters, histogram bucket counts, CPU/memory sums and the
 * sample count): aggregating 10 s into 1 min later would compute exactly the same numbers, with a
 * job to run and to miss. Several edges reporting the same environment add up in the same row.
 *
 * Pruning (retention) runs from ingest, throttled to once a minute: 10 s points older than an hour
 * and 1 min points older than 7 days are deleted, so the tables stay bounded with no scheduler.
 *
 * Example:
 *   const rollup = new MetricsRollup(store, clock);
 *   await rollup.ingestEdge(report);            // from POST /edge/metrics
 *   await rollup.ingestContainers('srv_…', r);  // from POST /agents/{id}/metrics
 */
export class MetricsRollup {
  readonly #store: Store;
  readonly #clock: Clock;
  #lastPrune = Number.NEGATIVE_INFINITY;

  constructor(store: Store, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  async ingestEdge(report: EdgeMetricsReport): Promise<MetricsIngestResult> {
    const now = this.#clock.now();
    const merged = new Map<string, EdgeEnvironmentDelta>();
    for (const e of report.environments) merged.set(e.environmentId, addDelta(merged.get(e.environmentId), e));
    const result = await this.#store.transaction(async (t) => {
      const trx = metricsTrx(t);
      const known = await knownEnvironments(trx, [...merged.keys()]);
      const rows: Insertable<MetricPointsTable>[] = [];
      for (const d of merged.values()) {
        if (!known.has(d.environmentId) || d.requests + d.wafBlocks === 0) continue;
        for (const step of STEPS) rows.push(pointRow(d, step, bucketOf(now, step)));
      }
      const set = Object.fromEntries(
        POINT_COUNTERS.map((c) => [c, sql<number>`${sql.ref(`metric_points.${c}`)} + ${sql.ref(`excluded.${c}`)}`]),
      );
      for (let i = 0; i < rows.length; i += CHUNK) {
        await trx
          .insertInto('metric_points')
          .values(rows.slice(i, i + CHUNK))
          .onConflict((oc) => oc.columns(['environment_id', 'step_ms', 't']).doUpdateSet(set))
          .execute();
      }
      let accepted = 0;
      for (const e of report.environments) if (known.has(e.environmentId)) accepted++;
      return { accepted, ignored: report.environments.length - accepted };
    });
    await this.#maybePrune(now);
    return result;
  }

  async ingestContainers(serverId: string, report: AgentMetricsReport): Promise<MetricsIngestResult> {
    const now = this.#clock.now();
    // one sample per (environment, container) and report; a repeated one replaces the earlier
    const latest = new Map<string, AgentMetricsReport['containers'][number]>();
    for (const c of report.containers) latest.set(`${c.environmentId}\u0000${c.container}`, c);
    const result = await this.#store.transaction(async (t) => {
      const trx = metricsTrx(t);
      const known = await knownEnvironments(trx, [...new Set(report.containers.map((c) => c.environmentId))]);
      const rows: Insertable<MetricContainerPointsTable>[] = [];
      for (const c of latest.values()) {
        if (!known.has(c.environmentId)) continue;
        for (const step of STEPS) {
          rows.push({
            environment_id: c.environmentId,
            server_id: serverId,
            container: c.container,
            step_ms: step,
            t: bucketOf(now, step),
            cpu_sum: c.cpu,
            mem_sum: c.memBytes,
            samples: 1,
          });
        }
      }
      const add = (c: string) => sql<number>`${sql.ref(`metric_container_points.${c}`)} + ${sql.ref(`excluded.${c}`)}`;
      for (let i = 0; i < rows.length; i += CHUNK) {
        await trx
          .insertInto('metric_container_points')
          .values(rows.slice(i, i + CHUNK))
          .onConflict((oc) =>
            oc
              .columns(['environment_id', 'step_ms', 't', 'server_id', 'container'])
              .doUpdateSet({ cpu_sum: add('cpu_sum'), mem_sum: add('mem_sum'), samples: add('samples') }),
          )
          .execute();
      }
      let accepted = 0;
      for (const c of report.containers) if (known.has(c.environmentId)) accepted++;
      return { accepted, ignored: report.containers.length - accepted };
    });
    await this.#maybePrune(now);
    return result;
  }

  async #maybePrune(now: number): Promise<void> {
    if (now - this.#lastPrune < PRUNE_EVERY_MS) return;
    this.#lastPrune = now;
    await pruneMetrics(this.#store, now);
  }
}

/**
 * Deletes points past retention: 10 s points whose bucket started more than FINE_KEEP_MS before the
 * current 10 s bucket, 1 min points more than COARSE_KEEP_MS before the current minute. Returns the
 * rows deleted.
 */
export async function pruneMetrics(store: Store, nowMs: number): Promise<number> {
  const db = metricsDb(store.db);
  let deleted = 0;
  for (const [step, keep] of [
    [FINE_STEP_MS, FINE_KEEP_MS],
    [COARSE_STEP_MS, COARSE_KEEP_MS],
  ] as const) {
    const cut = bucketOf(nowMs, step) - keep;
    const a = await db.deleteFrom('metric_points').where('step_ms', '=', step).where('t', '<', cut).executeTakeFirst();
    const b = await db.deleteFrom('metric_container_points').where('step_ms', '=', step).where('t', '<', cut).executeTakeFirst();
    deleted += Number(a.numDeletedRows) + Number(b.numDeletedRows);
  }
  return deleted;
}

async function knownEnvironments(trx: ReturnType<typeof metricsTrx>, ids: string[]): Promise<Set<string>> {
  const known = new Set<string>();
  for (let i = 0; i < ids.length; i += 1000) {
    const rows = await trx
      .selectFrom('environments')
      .select('id')
      .where('id', 'in', ids.slice(i, i + 1000))
      .execute();
    for (const r of rows) known.add(r.id);
  }
  return known;
}

function addDelta(a: EdgeEnvironmentDelta | undefined, b: EdgeEnvironmentDelta): EdgeEnvironmentDelta {
  if (!a) return b;
  return {
    environmentId: a.environmentId,
    requests: a.requests + b.requests,
    s1xx: a.s1xx + b.s1xx,
    s2xx: a.s2xx + b.s2xx,
    s3xx: a.s3xx + b.s3xx,
    s4xx: a.s4xx + b.s4xx,
    s5xx: a.s5xx + b.s5xx,
    cacheHits: a.cacheHits + b.cacheHits,
    cacheLookups: a.cacheLookups + b.cacheLookups,
    wafBlocks: a.wafBlocks + b.wafBlocks,
    upstreamErrors: a.upstreamErrors + b.upstreamErrors,
    latencyMs: a.latencyMs.map((v, i) => v + (b.latencyMs[i] ?? 0)),
  };
}

function pointRow(d: EdgeEnvironmentDelta, step: number, t: number): Insertable<MetricPointsTable> {
  const row: Record<string, number | string> = {
    environment_id: d.environmentId,
    step_ms: step,
    t,
    requests: d.requests,
    s1xx: d.s1xx,
    s2xx: d.s2xx,
    s3xx: d.s3xx,
    s4xx: d.s4xx,
    s5xx: d.s5xx,
    cache_hits: d.cacheHits,
    cache_lookups: d.cacheLookups,
    waf_blocks: d.wafBlocks,
    upstream_errors: d.upstreamErrors,
  };
  LATENCY_COLUMNS.forEach((c, i) => {
    row[c] = d.latencyMs[i] ?? 0;
  });
  return row as Insertable<MetricPointsTable>;
}
