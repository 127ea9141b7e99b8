import { type Static, Type } from '@sinclair/typebox';
import { Id } from '../primitives.ts';

/**
 * The metrics pipeline's wire types (docs/metrics.md).
 *
 *   POST /api/v1/edge/metrics               (edge servers, every 10 s) EdgeMetricsReport → 202 MetricsIngestResult
 *   POST /api/v1/agents/{id}/metrics        (app servers, every 10 s)  AgentMetricsReport → 202 MetricsIngestResult
 *   GET  /api/v1/environments/{id}/metrics?range=1h|24h|7d&series=…    (viewer and up) → EnvironmentMetrics
 *
 * Reports are deltas since the sender's previous report (counters) or current values (gauges); the
 * control plane files them under its own clock at arrival, so senders' clocks do not matter.
 *
 * Latency is a histogram with fixed bounds (LATENCY_BUCKETS_MS, the same as the edge's Prometheus
 * `triplane_edge_request_duration_seconds`): `latencyMs[i]` counts requests that took at most
 * LATENCY_BUCKETS_MS[i] ms and more than the previous bound (not cumulative); the last count is
 * everything slower than the last bound. Bucket counts add across edges and time, so percentiles
 * are computed at query time from the summed buckets.
 */
export const LATENCY_BUCKETS_MS = [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;
/** Counts per report: one per bound plus the overflow. */
export const LATENCY_COUNTS = LATENCY_BUCKETS_MS.length + 1;
export const METRICS_MAX_ENVIRONMENTS = 5000;
export const METRICS_MAX_CONTAINERS = 5000;

const Count = Type.Integer({ minimum: 0, maximum: 1_000_000_000_000 });
const EnvRef = Type.String({ minLength: 1, maxLength: 64 });

export const EdgeEnvironmentDelta = Type.Object(
  {
    environmentId: EnvRef,
    requests: Count,
    s1xx: Count,
    s2xx: Count,
    s3xx: Count,
    s4xx: Count,
    s5xx: Count,
    /** Answered from the cache (HIT or STALE)… */
    cacheHits: Count,
    /** …out of the requests the cache saw (everything but edge-made answers: redirects, refusals, errors). */
    cacheLookups: Count,
    /** Requests the WAF refused (block mode). */
    wafBlocks: Count,
    /** Requests answered 502/503/504 because no upstream answered (refused, reset, timed out, none healthy). */
    upstreamErrors: Count,
    latencyMs: Type.Array(Count, { minItems: LATENCY_COUNTS, maxItems: LATENCY_COUNTS }),
  },
  { additionalProperties: false },
);
export type EdgeEnvironmentDelta = Static<typeof EdgeEnvironmentDelta>;

export const EdgeMetricsReport = Type.Object(
  {
    /** Length of the period this delta covers, ms (informational). */
    intervalMs: Type.Integer({ minimum: 0, maximum: 86_400_000 }),
    environments: Type.Array(EdgeEnvironmentDelta, { maxItems: METRICS_MAX_ENVIRONMENTS }),
    /** Reports this edge failed to deliver since its last successful one (their deltas are lost). */
    dropped: Type.Optional(Count),
  },
  { additionalProperties: false },
);
export type EdgeMetricsReport = Static<typeof EdgeMetricsReport>;

export const ContainerSample = Type.Object(
  {
    environmentId: EnvRef,
    /** Container name inside the environment's pod (`web`, `php`, `db`, …). */
    container: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.-]+$' }),
    /** CPU used over the sampling period, in cores (0.5 = half of one core). */
    cpu: Type.Number({ minimum: 0, maximum: 4096 }),
    /** Memory in use now (cgroup usage minus page cache), bytes. */
    memBytes: Type.Integer({ minimum: 0, maximum: 2 ** 50 }),
  },
  { additionalProperties: false },
);
export type ContainerSample = Static<typeof ContainerSample>;

export const AgentMetricsReport = Type.Object(
  { containers: Type.Array(ContainerSample, { maxItems: METRICS_MAX_CONTAINERS }) },
  { additionalProperties: false },
);
export type AgentMetricsReport = Static<typeof AgentMetricsReport>;

export const MetricsIngestResult = Type.Object(
  {
    accepted: Type.Integer({ minimum: 0 }),
    ignored: Type.Integer({ minimum: 0, description: 'entries of environments that do not exist (any more)' }),
  },
  { additionalProperties: false },
);
export type MetricsIngestResult = Static<typeof MetricsIngestResult>;

export const MetricsRange = Type.Union([Type.Literal('1h'), Type.Literal('24h'), Type.Literal('7d')]);
export type MetricsRange = Static<typeof MetricsRange>;

/** Series names for `?series=` (comma-separated; default all). */
export const METRICS_SERIES = ['traffic', 'latency', 'cache', 'waf', 'upstream', 'containers'] as const;
export type MetricsSeriesName = (typeof METRICS_SERIES)[number];

export const MetricsQuery = Type.Object(
  {
    range: Type.Optional(MetricsRange),
    series: Type.Optional(
      Type.String({
        maxLength: 200,
        pattern: `^(${METRICS_SERIES.join('|')})(,(${METRICS_SERIES.join('|')}))*$`,
        description: `comma-separated subset of ${METRICS_SERIES.join(', ')} (default: all)`,
      }),
    ),
  },
  { additionalProperties: false },
);
export type MetricsQuery = Static<typeof MetricsQuery>;

const NullableNumber = Type.Union([Type.Number(), Type.Null()]);

/** One bucket of the environment's traffic; fields of series not asked for are absent. */
export const MetricsPoint = Type.Object(
  {
    /** Bucket start, epoch ms. */
    t: Type.Integer(),
    // traffic
    requests: Type.Optional(Type.Integer({ minimum: 0 })),
    rps: Type.Optional(Type.Number({ minimum: 0 })),
    s1xx: Type.Optional(Type.Integer({ minimum: 0 })),
    s2xx: Type.Optional(Type.Integer({ minimum: 0 })),
    s3xx: Type.Optional(Type.Integer({ minimum: 0 })),
    s4xx: Type.Optional(Type.Integer({ minimum: 0 })),
    s5xx: Type.Optional(Type.Integer({ minimum: 0 })),
    // latency, ms (null: no request in the bucket)
    p50: Type.Optional(NullableNumber),
    p95: Type.Optional(NullableNumber),
    p99: Type.Optional(NullableNumber),
    // cache: hits / lookups (null: no lookup)
    hitRatio: Type.Optional(NullableNumber),
    wafBlocks: Type.Optional(Type.Integer({ minimum: 0 })),
    upstreamErrors: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type MetricsPoint = Static<typeof MetricsPoint>;

export const ContainerPoint = Type.Object(
  {
    t: Type.Integer(),
    /** Average cores used in the bucket; null: no sample. */
    cpu: NullableNumber,
    /** Average memory in use in the bucket, bytes; null: no sample. */
    memBytes: NullableNumber,
  },
  { additionalProperties: false },
);
export type ContainerPoint = Static<typeof ContainerPoint>;

export const ContainerSeries = Type.Object(
  { name: Type.String(), serverId: Type.String(), points: Type.Array(ContainerPoint) },
  { additionalProperties: false },
);
export type ContainerSeries = Static<typeof ContainerSeries>;

export const EnvironmentMetrics = Type.Object(
  {
    environmentId: Id,
    range: MetricsRange,
    /** Bucket width, seconds: 10 (1h), 300 (24h), 3600 (7d). */
    step: Type.Integer({ minimum: 1 }),
    /** First bucket start and end of the last bucket (epoch ms); the current, incomplete bucket is not included. */
    from: Type.Integer(),
    to: Type.Integer(),
    points: Type.Array(MetricsPoint),
    containers: Type.Array(ContainerSeries),
  },
  { additionalProperties: false },
);
export type EnvironmentMetrics = Static<typeof EnvironmentMetrics>;
