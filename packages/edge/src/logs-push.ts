import { type Logger, silentLogger } from '@triplane/kernel';
import { type EdgeLogLine, LOG_MESSAGE_MAX, LOG_UA_MAX, LOGS_MAX_BATCH, sanitizePath } from '@triplane/spec';
import type { AccessEntry } from './access-log.ts';
import type { CompiledConfig } from './compile.ts';
import type { WafEvent } from './waf-events.ts';

/**
 * The edge's access and error lines, per environment, to the control plane (docs/logs.md):
 *
 *   request path   AccessLogRing.append(entry): two array stores and a counter — no copy, no
 *                  serialisation, no I/O. The ring is bounded: when nobody drains it, the oldest
 *                  entries are overwritten and counted.
 *   drain          drainLogLines(edge) (in the worker, or in-process): entries → EdgeLogLine, with the
 *                  site → environment mapping of the config in use, fields truncated, secrets cut.
 *   ship           EdgeLogShipper (edge primary): every 2 s, or as soon as a ring holds 500 lines,
 *                  collects, adds WAF actions and WAF-block error lines, and posts batches of ≤ 500
 *                  to POST /api/v1/edge/logs. Bounded queue: while the control plane is down the
 *                  oldest lines are dropped and counted (told to the control plane in the next batch).
 */

/** Entries one process keeps between drains; past it the oldest are overwritten (counted). */
export const LOG_RING_CAPACITY = 8192;

/**
 * A fixed-size ring of access entries. `append` is the only thing the request path does for logs;
 * at `threshold` entries it schedules `onThreshold` (once per drain, on a later tick) so a busy edge
 * ships before the 2-second timer.
 *
 * Example:
 *   const ring = new AccessLogRing({ onThreshold: () => shipper.ready() });
 *   ring.append(entry);                 // per request
 *   const { entries, times, overwritten } = ring.drain();
 */
export class AccessLogRing {
  readonly #items: (AccessEntry | undefined)[];
  readonly #times: Float64Array;
  readonly #cap: number;
  readonly #threshold: number;
  readonly #onThreshold: (() => void) | undefined;
  #start = 0;
  #size = 0;
  #overwritten = 0;

  constructor(o: { capacity?: number; threshold?: number; onThreshold?: (() => void) | undefined } = {}) {
    this.#cap = Math.max(1, o.capacity ?? LOG_RING_CAPACITY);
    this.#threshold = o.threshold ?? LOGS_MAX_BATCH;
    this.#onThreshold = o.onThreshold;
    this.#items = new Array(this.#cap).fill(undefined);
    this.#times = new Float64Array(this.#cap);
  }

  get size(): number {
    return this.#size;
  }

  append(e: AccessEntry): void {
    let i = this.#start + this.#size;
    if (i >= this.#cap) i -= this.#cap;
    this.#items[i] = e;
    this.#times[i] = Date.now();
    if (this.#size < this.#cap) {
      if (++this.#size === this.#threshold && this.#onThreshold) setImmediate(this.#onThreshold);
    } else {
      this.#start = this.#start + 1 === this.#cap ? 0 : this.#start + 1;
      this.#overwritten++;
    }
  }

  /** Everything appended since the last drain, oldest first, and how many were overwritten unread. */
  drain(): { entries: AccessEntry[]; times: number[]; overwritten: number } {
    const entries: AccessEntry[] = new Array(this.#size);
    const times: number[] = new Array(this.#size);
    for (let k = 0; k < this.#size; k++) {
      let i = this.#start + k;
      if (i >= this.#cap) i -= this.#cap;
      entries[k] = this.#items[i] as AccessEntry;
      times[k] = this.#times[i] as number;
      this.#items[i] = undefined; // let the entry be collected
    }
    const overwritten = this.#overwritten;
    this.#start = 0;
    this.#size = 0;
    this.#overwritten = 0;
    return { entries, times, overwritten };
  }
}

const cut = (s: string | undefined, max: number): string | undefined =>
  s === undefined ? undefined : s.length > max ? s.slice(0, max) : s;

// sanitizePath: the redaction rule for shipped request targets lives in spec (the agent's site
// logs apply it too); re-exported for this file's callers and tests.
export { sanitizePath };

const UPSTREAM_FAILURE: Record<string, string> = {
  'no-member': 'no healthy upstream member',
  connect: 'upstream connection failed',
  'connect-timeout': 'upstream connect timeout',
  'first-byte-timeout': 'upstream timeout (no response headers)',
  reset: 'upstream reset the connection',
};

/**
 * Access entries → lines: one access line per request of a site with an environment, and an error
 * line when the edge answered 502/503/504 itself because no upstream answered (the same rule as the
 * `upstreamErrors` metric). Entries of file-configured sites (no environment) and of requests that
 * matched no site are left out.
 */
export function toLogLines(
  entries: readonly AccessEntry[],
  times: readonly number[],
  environmentOf: (site: string) => string | undefined,
): EdgeLogLine[] {
  const out: EdgeLogLine[] = [];
  for (let k = 0; k < entries.length; k++) {
    const e = entries[k] as AccessEntry;
    if (e.site === undefined) continue;
    const environmentId = environmentOf(e.site);
    if (environmentId === undefined) continue;
    const at = Math.round(times[k] ?? Date.now());
    const path = sanitizePath(e.url);
    const line: EdgeLogLine = {
      environmentId,
      kind: 'access',
      at,
      method: cut(e.method, 32) as string,
      path,
      status: Math.min(999, Math.max(0, e.status)),
      bytes: Math.max(0, e.bytesOut),
      ms: Math.max(0, e.ms),
      cache: cut(e.cache, 16) as string,
    };
    if (e.id !== undefined) line.requestId = cut(e.id, 64);
    if (e.host !== undefined) line.host = cut(e.host, 253);
    if (e.ip !== undefined) line.ip = cut(e.ip, 64);
    if (e.ua !== undefined) line.ua = cut(e.ua, LOG_UA_MAX);
    if (e.upstream !== undefined) line.upstream = cut(e.upstream, 256);
    if (e.upstreamMs !== undefined) line.upstreamMs = Math.max(0, e.upstreamMs);
    out.push(line);
    const failed =
      (e.upstreamError !== undefined && e.upstreamError in UPSTREAM_FAILURE) ||
      (e.status >= 502 && e.status <= 504 && e.upstreamMs === undefined && e.upstreamError === undefined);
    if (failed) {
      const what = UPSTREAM_FAILURE[e.upstreamError ?? ''] ?? 'no upstream response';
      const from = e.upstream ? ` from ${e.upstream}` : '';
      const tries = e.attempts > 0 ? ` after ${e.attempts} attempt${e.attempts === 1 ? '' : 's'}` : '';
      const err: EdgeLogLine = {
        environmentId,
        kind: 'error',
        at,
        method: line.method,
        path,
        status: line.status,
        message: cut(`${what}${from}${tries}; answered ${e.status}`, LOG_MESSAGE_MAX),
      };
      if (line.requestId !== undefined) err.requestId = line.requestId;
      if (line.host !== undefined) err.host = line.host;
      if (line.ip !== undefined) err.ip = line.ip;
      if (line.upstream !== undefined) err.upstream = line.upstream;
      out.push(err);
    }
  }
  return out;
}

export interface DrainedLogs {
  lines: EdgeLogLine[];
  /** Entries overwritten in the ring before this drain. */
  dropped: number;
}

/** What one edge process logged since the previous call, as lines (and reset). */
export function drainLogLines(edge: { logs: AccessLogRing | undefined; current(): CompiledConfig }): DrainedLogs {
  if (!edge.logs || edge.logs.size === 0) return { lines: [], dropped: 0 };
  const { entries, times, overwritten } = edge.logs.drain();
  const envs = new Map<string, string | undefined>();
  for (const s of edge.current().sites) envs.set(s.config.name, s.config.environmentId);
  return { lines: toLogLines(entries, times, (name) => envs.get(name)), dropped: overwritten };
}

/** An error line for a WAF refusal (`blocked`); undefined for other events and sites without an environment. */
export function wafErrorLine(e: WafEvent): EdgeLogLine | undefined {
  if (e.action !== 'blocked' || e.environmentId === undefined) return undefined;
  const at = Date.parse(e.time);
  const rules = e.rules.map((r) => `${r.id} ${r.msg}`.trim()).join('; ');
  return {
    environmentId: e.environmentId,
    kind: 'error',
    at: Number.isFinite(at) ? at : Date.now(),
    requestId: cut(e.requestId, 64) as string,
    method: cut(e.method, 32) as string,
    host: cut(e.host, 253) as string,
    path: sanitizePath(e.uri),
    status: e.status,
    ip: cut(e.clientIp, 64) as string,
    waf: 'blocked',
    message: cut(`WAF blocked (anomaly score ${e.anomalyScore}): ${rules || 'no rule message'}`, LOG_MESSAGE_MAX) as string,
  };
}

export interface EdgeLogShipperOptions {
  /** Control-plane base URL (`http://127.0.0.1:7400`). */
  apiUrl: string;
  /** The edge server's `tpa_` credential (`readEdgeCredential(stateDir)`); undefined = not joined yet. */
  credential: () => Promise<string | undefined> | string | undefined;
  /** Lines since the previous call: `drainLogLines(edge)`, or the cluster's `drainLogs()`. */
  collect: () => Promise<DrainedLogs> | DrainedLogs;
  intervalMs?: number;
  /** Lines kept while the control plane is unreachable; beyond it the oldest are dropped (counted). */
  maxQueued?: number;
  /** A POST taking longer is abandoned (its lines stay queued). */
  timeoutMs?: number;
  logger?: Logger;
}

/** WAF actions remembered to annotate access lines (by request id); the oldest are forgotten. */
const WAF_MEMORY = 5000;

/**
 * Ships the edge's log lines to `POST /api/v1/edge/logs` from its own timer (every 2 s) or when a
 * ring fills up (`ready()`), never on the request path. One POST in flight at a time. A failed POST
 * keeps its lines for the next tick; the queue is bounded (`maxQueued`), so a long outage drops the
 * oldest lines — counted in `stats.dropped` and reported in the next accepted batch (`dropped`).
 *
 * Example:
 *   const shipper = new EdgeLogShipper({ apiUrl, credential: () => readEdgeCredential(stateDir),
 *                                        collect: () => drainLogLines(edge) });
 *   shipper.start(); …; onWafEvent: (e) => shipper.wafEvent(e); …; await shipper.stop();
 */
export class EdgeLogShipper {
  readonly #o: Required<Omit<EdgeLogShipperOptions, 'logger'>> & { logger: Logger };
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #again = false;
  #queue: EdgeLogLine[] = [];
  #unreported = 0;
  #failures = 0;
  readonly #waf = new Map<string, 'blocked' | 'detected'>();
  readonly stats = { sent: 0, dropped: 0, rejected: 0, failedPosts: 0 };

  constructor(o: EdgeLogShipperOptions) {
    this.#o = {
      apiUrl: o.apiUrl.replace(/\/$/, ''),
      credential: o.credential,
      collect: o.collect,
      intervalMs: o.intervalMs ?? 2000,
      maxQueued: o.maxQueued ?? 10_000,
      timeoutMs: o.timeoutMs ?? 5000,
      logger: o.logger ?? silentLogger(),
    };
  }

  get queued(): number {
    return this.#queue.length;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.flush(), this.#o.intervalMs);
    this.#timer.unref();
  }

  /** A ring reached a batch: ship now rather than at the next tick (not while the control plane is failing). */
  ready(): void {
    if (this.#failures === 0) void this.flush();
  }

  /** A WAF event (from any worker): remembered for its access line; a refusal is also an error line. */
  wafEvent(e: WafEvent): void {
    if (e.environmentId === undefined) return;
    this.#waf.set(e.requestId, e.action);
    if (this.#waf.size > WAF_MEMORY) this.#waf.delete(this.#waf.keys().next().value as string);
    const line = wafErrorLine(e);
    if (line) this.#enqueue([line]);
  }

  /** Collect and send now; resolves when done or after the first failure. Never throws. */
  flush(): Promise<void> {
    if (this.#inFlight) {
      this.#again = true;
      return this.#inFlight;
    }
    this.#inFlight = this.#run().finally(() => {
      this.#inFlight = undefined;
      if (this.#again && this.#timer) {
        this.#again = false;
        void this.flush();
      }
    });
    return this.#inFlight;
  }

  /** Stops the timer and sends what is left (best effort, bounded by the POST timeout). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#inFlight;
    await this.flush();
  }

  #enqueue(lines: EdgeLogLine[]): void {
    for (const l of lines) this.#queue.push(l);
    const over = this.#queue.length - this.#o.maxQueued;
    if (over > 0) {
      this.#queue.splice(0, over);
      this.#drop(over);
    }
  }

  #drop(n: number): void {
    if (n <= 0) return;
    const before = this.stats.dropped;
    this.stats.dropped += n;
    this.#unreported += n;
    // first loss, then every 10,000 lines: an outage must not flood the log
    if (before === 0 || Math.floor(before / 10_000) !== Math.floor(this.stats.dropped / 10_000))
      this.#o.logger.warn({ dropped: this.stats.dropped }, 'log lines dropped (queue full or ring overwritten)');
  }

  async #run(): Promise<void> {
    try {
      const got = await this.#o.collect();
      this.#drop(got.dropped);
      for (const l of got.lines) {
        if (l.kind === 'access' && l.requestId !== undefined) {
          const action = this.#waf.get(l.requestId);
          if (action) l.waf = action;
        }
      }
      this.#enqueue(got.lines);
    } catch (e) {
      this.#o.logger.warn({ err: (e as Error).message }, 'log lines: collecting failed');
    }
    while (this.#queue.length > 0) {
      const batch = this.#queue.slice(0, LOGS_MAX_BATCH);
      let status: number;
      try {
        const credential = await this.#o.credential();
        if (!credential) return; // not joined yet: lines wait in the bounded queue
        const body: { lines: EdgeLogLine[]; dropped?: number } = { lines: batch };
        if (this.#unreported > 0) body.dropped = this.#unreported;
        const res = await fetch(`${this.#o.apiUrl}/api/v1/edge/logs`, {
          method: 'POST',
          headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(this.#o.timeoutMs),
        });
        status = res.status;
        await res.arrayBuffer().catch(() => undefined);
      } catch (e) {
        this.#failed({ err: (e as Error).message });
        return;
      }
      if (status >= 500 || status === 429 || status === 401 || status === 408) {
        this.#failed({ status });
        return;
      }
      this.#queue.splice(0, batch.length);
      this.#failures = 0;
      if (status !== 202) {
        // a batch the control plane can never accept (a bug): drop it rather than block the queue
        this.stats.rejected += batch.length;
        this.#o.logger.error({ status, lines: batch.length }, 'log lines rejected by the control plane; dropped');
        continue;
      }
      this.#unreported = 0;
      this.stats.sent += batch.length;
    }
  }

  #failed(detail: Record<string, unknown>): void {
    this.stats.failedPosts++;
    if (this.#failures++ % 30 === 0)
      this.#o.logger.warn({ ...detail, queued: this.#queue.length }, 'log lines: control plane unreachable; kept, retrying');
  }
}
