import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LATENCY_BUCKETS_MS, LATENCY_COUNTS } from '@triplane/spec';
import { histogramQuantile } from './quantile.ts';

const hist = (at: Record<number, number>) => Array.from({ length: LATENCY_COUNTS }, (_, i) => at[i] ?? 0);

test('no request: null', () => {
  assert.equal(histogramQuantile(hist({}), 0.5), null);
});

test('interpolates linearly inside the bucket that holds the rank', () => {
  // 100 requests in (10, 25] ms → p50 at the middle, p99 near the top
  const h = hist({ 5: 100 });
  assert.equal(LATENCY_BUCKETS_MS[4], 10);
  assert.equal(LATENCY_BUCKETS_MS[5], 25);
  assert.equal(histogramQuantile(h, 0.5), 17.5);
  assert.equal(histogramQuantile(h, 0.99), 24.85);
});

test('first bucket starts at 0; ranks walk across buckets', () => {
  // 90 fast (≤ 0.5 ms), 10 slow in (100, 250]
  const h = hist({ 0: 90, 8: 10 });
  assert.equal(histogramQuantile(h, 0.5), 0.28); // 45/90 of 0.5
  assert.equal(histogramQuantile(h, 0.95), 175); // 5 of 10 into (100, 250]
  assert.equal(histogramQuantile(h, 0.99), 235);
});

test('a quantile in the overflow bucket is the last bound', () => {
  const h = hist({ 14: 3 });
  assert.equal(histogramQuantile(h, 0.5), 10000);
});

test('summed histograms give the percentile of the union', () => {
  const a = hist({ 2: 50 });
  const b = hist({ 6: 50 });
  const sum = a.map((v, i) => v + (b[i] ?? 0));
  // p50 = top of a's bucket (1, 2.5], p95 inside b's (25, 50]
  assert.equal(histogramQuantile(sum, 0.5), 2.5);
  assert.equal(histogramQuantile(sum, 0.95), 47.5);
});
