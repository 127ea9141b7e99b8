import { type EdgeEnvironmentDelta, LATENCY_BUCKETS_MS, LATENCY_COUNTS } from '@triplane/spec';

/** One site's traffic since the last drain (the wire delta without the environment id). */
export type SiteDelta = Omit<EdgeEnvironmentDelta, 'environmentId'>;

const emptyDelta = (): SiteDelta => ({
  requests: 0,
  s1xx: 0,
  s2xx: 0,
  s3xx: 0,
  s4xx: 0,
  s5xx: 0,
  cacheHits: 0,
  cacheLookups: 0,
  wafBlocks: 0,
  upstreamErrors: 0,
  latencyMs: new Array<number>(LATENCY_COUNTS).fill(0),
});

/** Histogram slot of a duration: the first bound it does not exceed (Prometheus `le`), else the overflow. */
export function latencySlot(ms: number): number {
  for (let i = 0; i < LATENCY_BUCKETS_MS.length; i++) if (ms <= (LATENCY_BUCKETS_MS[i] as number)) return i;
  return LATENCY_BUCKETS_MS.length;
}

/** Cache statuses of answers the edge made itself (no cache lookup): not in the hit ratio's denominator. */
const NO_LOOKUP = new Set(['SYNTH', 'PURGE']);

/**
 * Per-site traffic counts since the last `drain`, kept next to the Prometheus metrics of one edge
 * process (metrics.ts feeds it from the same access entries). The control plane wants deltas per
 * environment every 10 s (metrics-push.ts); keeping them here, instead of diffing cumulative
 * Prometheus counters, makes them exact across worker restarts and needs no per-worker memory of
 * the previous values. Cost on the request path: one Map lookup and a few increments.
 */
export class TrafficDeltas {
  #sites = new Map<string, SiteDelta>();

  #site(site: string): SiteDelta {
    let d = this.#sites.get(site);
    if (!d) {
      d = emptyDelta();
      this.#sites.set(site, d);
    }
    return d;
  }

  /** One answered request; `upstreamError`: no upstream answered (refused, reset, timed out, none healthy). */
  request(site: string, status: number, cache: string, ms: number, upstreamError: boolean): void {
    const d = this.#site(site);
    d.requests++;
    const cls = Math.floor(status / 100);
    if (cls === 1) d.s1xx++;
    else if (cls === 2) d.s2xx++;
    else if (cls === 3) d.s3xx++;
    else if (cls === 4) d.s4xx++;
    else if (cls === 5) d.s5xx++;
    if (!NO_LOOKUP.has(cache)) {
      d.cacheLookups++;
      if (cache === 'HIT' || cache === 'STALE') d.cacheHits++;
    }
    if (upstreamError) d.upstreamErrors++;
    (d.latencyMs as number[])[latencySlot(ms)]! += 1;
  }

  wafBlock(site: string): void {
    this.#site(site).wafBlocks++;
  }

  /** The counts since the previous drain, by site name; starts over. */
  drain(): Map<string, SiteDelta> {
    const out = this.#sites;
    this.#sites = new Map();
    return out;
  }
}

/**
 * Site deltas → environment deltas, through the site ↔ environment mapping of the config in use
 * (snapshot.ts names a site after its environment; file-configured sites have no environment and
 * are left out).
 */
export function toEnvironmentDeltas(
  sites: Map<string, SiteDelta>,
  environmentOf: (site: string) => string | undefined,
): EdgeEnvironmentDelta[] {
  const out: EdgeEnvironmentDelta[] = [];
  for (const [site, d] of sites) {
    const environmentId = environmentOf(site);
    if (environmentId !== undefined) out.push({ environmentId, ...d });
  }
  return out;
}

/** Sums deltas of the same environment (several worker processes). */
export function mergeEnvironmentDeltas(parts: readonly EdgeEnvironmentDelta[][]): EdgeEnvironmentDelta[] {
  const by = new Map<string, EdgeEnvironmentDelta>();
  for (const list of parts) {
    for (const d of list) {
      const a = by.get(d.environmentId);
      if (!a) {
        by.set(d.environmentId, { ...d, latencyMs: [...d.latencyMs] });
        continue;
      }
      a.requests += d.requests;
      a.s1xx += d.s1xx;
      a.s2xx += d.s2xx;
      a.s3xx += d.s3xx;
      a.s4xx += d.s4xx;
      a.s5xx += d.s5xx;
      a.cacheHits += d.cacheHits;
      a.cacheLookups += d.cacheLookups;
      a.wafBlocks += d.wafBlocks;
      a.upstreamErrors += d.upstreamErrors;
      a.latencyMs = a.latencyMs.map((v, i) => v + (d.latencyMs[i] ?? 0));
    }
  }
  return [...by.values()];
}
