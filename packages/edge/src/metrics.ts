import { createServer, type Server } from 'node:http';
import type { MemoryStorage } from '@triplane/cache';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AccessEntry } from './access-log.ts';
import { TrafficDeltas } from './traffic-deltas.ts';

/**
 * Prometheus metrics of one edge process. Served on its own listener (`listen.metrics`), never on
 * the public one. Hit ratio = sum(requests_total{cache=~"HIT|STALE"}) / sum(requests_total{cache!="SYNTH"}).
 */
export class EdgeMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'triplane_edge_requests_total',
    help: 'Requests by site, status code and cache status',
    labelNames: ['site', 'status', 'cache'] as const,
    registers: [this.registry],
  });
  readonly upstreamFirstByte = new Histogram({
    name: 'triplane_edge_upstream_first_byte_seconds',
    help: 'Time from the first upstream attempt to response headers',
    labelNames: ['site'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'triplane_edge_request_duration_seconds',
    help: 'Time to the end of the response',
    labelNames: ['site', 'cache'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly wafBlocks = new Counter({
    name: 'triplane_edge_waf_blocks_total',
    help: 'Requests the WAF refused (block mode), by site',
    labelNames: ['site'] as const,
    registers: [this.registry],
  });
  readonly upstreamErrors = new Counter({
    name: 'triplane_edge_upstream_errors_total',
    help: 'Requests answered 502/503/504 because no upstream answered (refused, reset, timeout, none healthy)',
    labelNames: ['site'] as const,
    registers: [this.registry],
  });
  /** Per-site counts since the last drain, pushed to the control plane (metrics-push.ts). */
  readonly traffic = new TrafficDeltas();
  readonly connections = new Gauge({
    name: 'triplane_edge_active_connections',
    help: 'Open client connections',
    registers: [this.registry],
  });

  constructor(storage: MemoryStorage) {
    const reg = this.registry;
    new Gauge({
      name: 'triplane_edge_cache_bytes',
      help: 'Bytes held by the memory cache',
      registers: [reg],
      collect() {
        this.set(storage.stats().bytes);
      },
    });
    new Gauge({
      name: 'triplane_edge_cache_objects',
      help: 'Objects held by the memory cache',
      registers: [reg],
      collect() {
        this.set(storage.stats().objects);
      },
    });
    new Gauge({
      name: 'triplane_edge_cache_evictions',
      help: 'LRU evictions since start',
      registers: [reg],
      collect() {
        this.set(storage.stats().evictions);
      },
    });
  }

  observe(e: AccessEntry): void {
    const site = e.site ?? '-';
    this.requests.inc({ site, status: String(e.status), cache: e.cache });
    this.duration.observe({ site, cache: e.cache }, e.ms / 1000);
    if (e.upstreamMs !== undefined) this.upstreamFirstByte.observe({ site }, e.upstreamMs / 1000);
    // the edge made a 502/503/504 itself: no upstream response headers arrived
    const upstreamError = e.status >= 502 && e.status <= 504 && e.upstreamMs === undefined && e.site !== undefined;
    if (upstreamError) this.upstreamErrors.inc({ site });
    if (e.site !== undefined) this.traffic.request(e.site, e.status, e.cache, e.ms, upstreamError);
  }

  /** A request the WAF refused (server.ts, from the WAF event). */
  wafBlocked(site: string): void {
    this.wafBlocks.inc({ site });
    this.traffic.wafBlock(site);
  }

  async listen(host: string, port: number): Promise<Server> {
    const server = createServer(async (req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      const body = await this.registry.metrics();
      res.writeHead(200, { 'content-type': this.registry.contentType });
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(port, host, () => r()));
    return server;
  }
}
