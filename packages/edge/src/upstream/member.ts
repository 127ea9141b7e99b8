import { Agent } from 'node:http';

/** One origin server of a pool, with its keep-alive agent and health state. */
export class Member {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly agent: Agent;
  /** Requests currently in flight (least-connections). */
  active = 0;
  /** Active health check verdict (true until a check says otherwise). */
  healthy = true;
  /** Passive ejection: consecutive transport failures and the time the ejection ends. */
  failures = 0;
  ejectedUntil = 0;

  constructor(url: string, host: string, port: number, opts: { maxSockets?: number } = {}) {
    this.url = url;
    this.host = host;
    this.port = port;
    this.agent = new Agent({
      keepAlive: true,
      keepAliveMsecs: 1000,
      maxSockets: opts.maxSockets ?? 256,
      maxFreeSockets: 64,
      scheduling: 'lifo',
    });
  }

  available(now: number): boolean {
    return this.healthy && this.ejectedUntil <= now;
  }

  recordSuccess(): void {
    this.failures = 0;
  }

  /** A transport failure: eject for `ejectMs` once `threshold` failures in a row happened. */
  recordFailure(now: number, threshold: number, ejectMs: number): void {
    this.failures++;
    if (this.failures >= threshold) {
      this.ejectedUntil = now + ejectMs;
      this.failures = 0;
    }
  }
}
