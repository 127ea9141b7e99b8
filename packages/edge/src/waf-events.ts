import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { backoffDelay, type Logger, silentLogger } from '@triplane/kernel';
import { WAF_EVENTS_MAX_BATCH, type WafEventIn } from '@triplane/spec';

/** A WAF event as the edge produces it (waf-request.ts); `environmentId` is unset for file-configured sites. */
export type WafEvent = Omit<WafEventIn, 'environmentId'> & { site: string; environmentId: string | undefined };

export interface WafEventShipperOptions {
  /** Control-plane base URL (`http://127.0.0.1:7400`). */
  apiUrl: string;
  /** The edge server's `tpa_` credential (STATE/identity.json, see `readEdgeCredential`); undefined = not joined yet. */
  credential: () => Promise<string | undefined> | string | undefined;
  logger?: Logger;
  /** Send when this many events are queued… */
  batchSize?: number;
  /** …or this long after the first one was queued. */
  flushMs?: number;
  /** Events kept while the control plane is unreachable; the oldest are dropped beyond it. */
  maxQueued?: number;
}

/**
 * Batches WAF events and posts them to `POST /api/v1/edge/waf-events`, off the request path:
 * `push` only appends to an array. One request in flight at a time; failures back off
 * (1 s … 60 s) and keep the batch; the queue is bounded (a long outage loses the oldest events,
 * counted in `stats.dropped`, never memory). Events of sites without an environment id (a file
 * config) are not sent.
 *
 * Example:
 *   const shipper = new WafEventShipper({ apiUrl, credential: () => readEdgeCredential(stateDir) });
 *   const edge = await startEdge({ config, onWafEvent: (e) => shipper.push(e) });
 *   …; await shipper.stop();
 */
export class WafEventShipper {
  readonly #o: Required<Omit<WafEventShipperOptions, 'logger'>> & { logger: Logger };
  #queue: WafEventIn[] = [];
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #failures = 0;
  #stopped = false;
  readonly stats = { sent: 0, dropped: 0, rejected: 0 };

  constructor(o: WafEventShipperOptions) {
    this.#o = {
      apiUrl: o.apiUrl.replace(/\/$/, ''),
      credential: o.credential,
      logger: o.logger ?? silentLogger(),
      batchSize: Math.min(o.batchSize ?? 200, WAF_EVENTS_MAX_BATCH),
      flushMs: o.flushMs ?? 2000,
      maxQueued: o.maxQueued ?? 10_000,
    };
  }

  get queued(): number {
    return this.#queue.length;
  }

  push(e: WafEvent): void {
    if (this.#stopped || e.environmentId === undefined) return;
    const { site: _site, ...rest } = e;
    this.#queue.push({ ...rest, environmentId: e.environmentId });
    if (this.#queue.length > this.#o.maxQueued) {
      const over = this.#queue.length - this.#o.maxQueued;
      this.#queue.splice(0, over);
      this.stats.dropped += over;
    }
    if (this.#queue.length >= this.#o.batchSize && this.#failures === 0) this.#schedule(0);
    else this.#schedule(this.#o.flushMs);
  }

  #schedule(ms: number): void {
    if (this.#stopped || this.#inFlight) return;
    if (this.#timer && ms > 0) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, ms);
    this.#timer.unref();
  }

  /** Send everything queued now (batch by batch); resolves when done or after the first failure. */
  flush(): Promise<void> {
    this.#inFlight ??= this.#drain().finally(() => {
      this.#inFlight = undefined;
      if (this.#queue.length > 0 && !this.#stopped) {
        this.#schedule(this.#failures > 0 ? backoffDelay(this.#failures, { baseMs: 1000, capMs: 60_000 }) : 0);
      }
    });
    return this.#inFlight;
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.slice(0, this.#o.batchSize);
      let status: number;
      try {
        const credential = await this.#o.credential();
        if (!credential) throw new Error('the edge has not joined the control plane yet');
        const res = await fetch(`${this.#o.apiUrl}/api/v1/edge/waf-events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
          body: JSON.stringify({ events: batch }),
          signal: AbortSignal.timeout(10_000),
        });
        status = res.status;
        await res.arrayBuffer().catch(() => undefined);
      } catch (e) {
        this.#failures++;
        this.#o.logger.warn({ err: (e as Error).message, queued: this.#queue.length }, 'waf events: control plane unreachable');
        return;
      }
      if (status >= 500 || status === 429 || status === 401 || status === 408) {
        // the control plane may come back (or the credential be restored): keep the batch
        this.#failures++;
        this.#o.logger.warn({ status, queued: this.#queue.length }, 'waf events refused for now; retrying later');
        return;
      }
      this.#queue.splice(0, batch.length);
      this.#failures = 0;
      if (status >= 400) {
        // a batch the control plane can never accept (a bug): drop it rather than block the queue
        this.stats.rejected += batch.length;
        this.#o.logger.error({ status, events: batch.length }, 'waf events rejected by the control plane; dropped');
      } else this.stats.sent += batch.length;
    }
  }

  /** Stop the timer and try one last flush (bounded by the request timeout). */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#queue.length > 0 && this.#failures === 0) await this.flush();
    else await this.#inFlight;
    this.#stopped = true;
  }
}

/** The credential the control link saved when the edge joined (STATE/identity.json, control-link.ts). */
export async function readEdgeCredential(stateDir: string): Promise<string | undefined> {
  try {
    const j = JSON.parse(await readFile(join(stateDir, 'identity.json'), 'utf8')) as { credential?: unknown };
    return typeof j.credential === 'string' ? j.credential : undefined;
  } catch {
    return undefined;
  }
}
