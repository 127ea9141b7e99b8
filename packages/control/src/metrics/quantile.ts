import { LATENCY_BUCKETS_MS } from '@triplane/spec';

/**
 * The q-quantile (0 < q < 1) of a latency histogram: `counts[i]` requests in (bound[i-1], bound[i]]
 * (the first bucket starts at 0; the last count is the overflow above the last bound). Linear
 * interpolation inside the bucket, as Prometheus' histogram_quantile does; a quantile that falls in
 * the overflow is reported as the last bound (we only know it is slower). null when there is no
 * request. Rounded to 0.01 ms.
 *
 * Example: counts with 100 requests all in (10, 25] → p50 = 17.5.
 */
export function histogramQuantile(
  counts: readonly number[],
  q: number,
  bounds: readonly number[] = LATENCY_BUCKETS_MS,
): number | null {
  let total = 0;
  for (const c of counts) total += c;
  if (total <= 0) return null;
  const rank = q * total;
  let cum = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i] ?? 0;
    if (c > 0 && cum + c >= rank) {
      if (i >= bounds.length) return bounds[bounds.length - 1] ?? null;
      const lower = i === 0 ? 0 : (bounds[i - 1] ?? 0);
      const upper = bounds[i] ?? lower;
      return Math.round((lower + ((upper - lower) * (rank - cum)) / c) * 100) / 100;
    }
    cum += c;
  }
  return bounds[bounds.length - 1] ?? null;
}
