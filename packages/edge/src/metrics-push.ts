import { type Logger, silentLogger } from '@triplane/kernel';
import type { EdgeEnvironmentDelta, EdgeMetricsReport } from '@triplane/spec';
import type { CompiledConfig } from './compile.ts';
import type { EdgeMetrics } from './metrics.ts';
import { toEnvironmentDeltas } from './traffic-deltas.ts';

/** Environments per POST: keeps a report well under the API's 1 MiB body limit (~350 bytes each). */
const MAX_ENVIRONMENTS_PER_POST = 1000;

/**
 * The traffic one edge process saw since the previous call, per environment (and reset): the site ↔
 * environment mapping is the config in use (a site of a file config has no environment: left out).
 */
export function drainEnvironmentDeltas(edge: { metrics: EdgeMetrics; current(): CompiledConfig }): EdgeEnvironmentDelta[] {
  const sites = edge.current().sites;
  return toEnvironmentDeltas(
    edge.metrics.traffic.drain(),
    (name) => sites.find((s) => s.config.name === name)?.config.environmentId,
  );
}

export interface EdgeMetricsPusherOptions {
  /** Control-plane base URL (`http://127.0.0.1:7400`). */
  apiUrl: string;
  /** The edge server's `tpa_` credential (`readEdgeCredential(stateDir)`); undefined = not joined yet. */
  credential: () => Promise<string | undefined> | string | undefined;
  /** The deltas since the previous call: `drainEnvironmentDeltas(edge)`, or the cluster's `drainMetrics()`. */
  collect: () => Promise<EdgeEnvironmentDelta[]> | EdgeEnvironmentDelta[];
  intervalMs?: number;
  /** A POST taking longer is abandoned (and its delta dropped). */
  timeoutMs?: number;
  logger?: Logger;
}

/**
 * Pushes the edge's per-environment traffic to `POST /api/v1/edge/metrics` every 10 s, from its own
 * timer — never on the request path (the request path only increments counters in TrafficDeltas).
 *
 * Push, not scrape: the edge already holds an authenticated link to the control plane and may sit
 * behind NAT where nothing can reach it (docs/metrics.md). A failed report is dropped, not retried
 * (its counts are lost, the next report starts over): retrying would file old counts in a new time
 * bucket and make a spike out of an outage. Drops are counted in `stats` and told to the control
 * plane in the next report (`dropped`). One report in flight at a time; a tick that finds one still
 * running is skipped (the counts wait for the next tick).
 *
 * Example:
 *   const pusher = new EdgeMetricsPusher({ apiUrl, credential: () => readEdgeCredential(stateDir),
 *                                          collect: () => drainEnvironmentDeltas(edge) });
 *   pusher.start(); …; await pusher.stop();
 */
export class EdgeMetricsPusher {
  readonly #o: Required<Omit<EdgeMetricsPusherOptions, 'logger'>> & { logger: Logger };
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #last = performance.now();
  #unreported = 0;
  readonly stats = { sent: 0, dropped: 0, skipped: 0 };

  constructor(o: EdgeMetricsPusherOptions) {
    this.#o = {
      apiUrl: o.apiUrl.replace(/\/$/, ''),
      credential: o.credential,
      collect: o.collect,
      intervalMs: o.intervalMs ?? 10_000,
      timeoutMs: o.timeoutMs ?? 5_000,
      logger: o.logger ?? silentLogger(),
    };
  }

  start(): void {
    if (this.#timer) return;
    this.#last = performance.now();
    this.#timer = setInterval(() => void this.push(), this.#o.intervalMs);
    this.#timer.unref();
  }

  /** One report now (the timer's tick); resolves when it is sent or dropped. Never throws. */
  push(): Promise<void> {
    if (this.#inFlight) {
      this.stats.skipped++;
      return this.#inFlight;
    }
    this.#inFlight = this.#push().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  /** Stops the timer and sends what was counted since the last report (best effort). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
    await this.push();
  }

  async #push(): Promise<void> {
    let deltas: EdgeEnvironmentDelta[] = [];
    try {
      const credential = await this.#o.credential();
      if (!credential) return; // not joined yet: the counts keep accumulating, nothing is lost
      deltas = await this.#o.collect();
      const now = performance.now();
      const intervalMs = Math.min(86_400_000, Math.max(0, Math.round(now - this.#last)));
      this.#last = now;
      if (deltas.length === 0 && this.#unreported === 0) return;
      for (let i = 0; i < Math.max(1, deltas.length); i += MAX_ENVIRONMENTS_PER_POST) {
        const report: EdgeMetricsReport = {
          intervalMs,
          environments: deltas.slice(i, i + MAX_ENVIRONMENTS_PER_POST),
          ...(this.#unreported > 0 ? { dropped: this.#unreported } : {}),
        };
        const res = await fetch(`${this.#o.apiUrl}/api/v1/edge/metrics`, {
          method: 'POST',
          headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
          body: JSON.stringify(report),
          signal: AbortSignal.timeout(this.#o.timeoutMs),
        });
        await res.body?.cancel();
        if (res.status !== 202) throw new Error(`metrics report answered ${res.status}`);
        this.#unreported = 0;
      }
      this.stats.sent++;
    } catch (e) {
      this.stats.dropped++;
      this.#unreported++;
      // first failure, then every 30th: an outage must not flood the log
      if (this.stats.dropped === 1 || this.stats.dropped % 30 === 0)
        this.#o.logger.warn({ err: (e as Error).message, dropped: this.stats.dropped }, 'metrics report dropped');
    }
  }
}
