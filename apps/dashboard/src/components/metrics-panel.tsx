import type { EnvironmentMetrics, MetricsRange } from '@triplane/spec';
import { useState } from 'react';
import { isMissingRoute } from '../api.ts';
import { useApi } from '../hooks.ts';
import { ErrorNotice, Loading, Section } from '../ui.tsx';
import { LineChart } from './line-chart.tsx';

const COLORS = ['#1d4ed8', '#15803d', '#b45309', '#b91c1c', '#7c3aed', '#0e7490', '#be185d'];
const num = (d: number) => (v: number) => (Math.abs(v) >= 1000 ? `${(v / 1000).toFixed(1)}k` : v.toFixed(d));
const ms = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v < 10 ? 1 : 0)} ms`);
const pct = (v: number) => `${Math.round(v * 100)}%`;
const mib = (v: number) => `${Math.round(v / (1 << 20))} MiB`;
const REFRESH_MS: Record<MetricsRange, number> = { '1h': 10_000, '24h': 60_000, '7d': 300_000 };

/**
 * The environment's live charts from `GET /environments/{id}/metrics` (docs/metrics.md),
 * refreshed at the rate its buckets fill. Until that route exists (404) it says so, like the
 * other feature slots.
 */
export function MetricsPanel({ environmentId }: { environmentId: string }) {
  const [range, setRange] = useState<MetricsRange>('1h');
  const m = useApi(
    `metrics:${environmentId}:${range}`,
    async (c) => {
      try {
        return await c.http.request<EnvironmentMetrics>('GET', `/environments/${environmentId}/metrics`, { query: { range } });
      } catch (e) {
        if (isMissingRoute(e)) return null;
        throw e;
      }
    },
    REFRESH_MS[range],
  );
  const d = m.data;
  const p = d?.points ?? [];
  const col = (k: keyof (typeof p)[number]) => p.map((x) => (typeof x[k] === 'number' ? (x[k] as number) : null));
  const anyTraffic = p.some((x) => (x.requests ?? 0) > 0);
  return (
    <Section
      title="Performance"
      actions={
        d !== null && (
          <div className="field field-inline">
            <label htmlFor={`range-${environmentId}`}>Range</label>
            <select id={`range-${environmentId}`} value={range} onChange={(e) => setRange(e.target.value as MetricsRange)}>
              <option value="1h">last hour (10 s)</option>
              <option value="24h">24 hours (5 min)</option>
              <option value="7d">7 days (1 h)</option>
            </select>
          </div>
        )
      }
    >
      {m.loading && d === undefined && <Loading label="Loading metrics…" />}
      <ErrorNotice error={m.error} title="Could not load metrics" />
      {d === null && (
        <div className="slot-empty" data-slot="Performance">
          <p>
            <strong>Not available yet.</strong> Live charts of requests/s, status classes, latency, cache hit ratio, WAF blocks,
            upstream errors, CPU and memory.
          </p>
          <p className="help">This API does not have metrics yet (it answered 404).</p>
        </div>
      )}
      {d && (
        <>
          {!anyTraffic && <p className="help">No traffic recorded in this range yet; the charts fill as edges report.</p>}
          <div className="charts">
            <LineChart
              title="Requests per second"
              format={num(1)}
              series={[{ name: 'req/s', color: COLORS[0] as string, values: col('rps') }]}
            />
            <LineChart
              title="Responses by status"
              format={num(0)}
              series={(['s2xx', 's3xx', 's4xx', 's5xx'] as const).map((k, i) => ({
                name: k.slice(1),
                color: COLORS[i + 1] as string,
                values: col(k),
              }))}
            />
            <LineChart
              title="Latency"
              format={ms}
              series={(['p50', 'p95', 'p99'] as const).map((k, i) => ({ name: k, color: COLORS[i] as string, values: col(k) }))}
            />
            <LineChart
              title="Cache hit ratio"
              format={pct}
              fixedMax={1}
              series={[{ name: 'hits', color: COLORS[1] as string, values: col('hitRatio') }]}
            />
            <LineChart
              title="WAF blocks and upstream errors"
              format={num(0)}
              series={[
                { name: 'WAF blocks', color: COLORS[3] as string, values: col('wafBlocks') },
                { name: 'upstream errors', color: COLORS[2] as string, values: col('upstreamErrors') },
              ]}
            />
            {d.containers.length > 0 && (
              <>
                <LineChart
                  title="CPU by container (cores)"
                  format={num(2)}
                  series={d.containers.map((c, i) => ({
                    name: `${c.name}@${c.serverId.slice(-4)}`,
                    color: COLORS[i % COLORS.length] as string,
                    values: c.points.map((x) => x.cpu),
                  }))}
                />
                <LineChart
                  title="Memory by container"
                  format={mib}
                  series={d.containers.map((c, i) => ({
                    name: `${c.name}@${c.serverId.slice(-4)}`,
                    color: COLORS[i % COLORS.length] as string,
                    values: c.points.map((x) => x.memBytes),
                  }))}
                />
              </>
            )}
          </div>
        </>
      )}
    </Section>
  );
}
