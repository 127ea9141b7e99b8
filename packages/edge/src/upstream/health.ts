import { Agent, request } from 'node:http';
import type { Member } from './member.ts';

export interface HealthCheckSpec {
  path: string;
  host: string | undefined;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
  expectStatusMin: number;
  expectStatusMax: number;
}

/**
 * Active health checks: GET `path` on every member each `intervalMs`; `unhealthyThreshold`
 * consecutive failures mark a member down, `healthyThreshold` consecutive successes bring it back.
 */
export class HealthChecker {
  readonly #members: readonly Member[];
  readonly #spec: HealthCheckSpec;
  readonly #agent = new Agent({ keepAlive: false });
  readonly #streaks = new Map<Member, { ok: number; fail: number }>();
  #timer: NodeJS.Timeout | undefined;
  #running = new Set<Member>();
  onChange: ((m: Member, healthy: boolean) => void) | undefined;

  constructor(members: readonly Member[], spec: HealthCheckSpec) {
    this.#members = members;
    this.#spec = spec;
  }

  start(): void {
    this.#timer = setInterval(() => this.runOnce(), this.#spec.intervalMs);
    this.#timer.unref();
    this.runOnce();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#agent.destroy();
  }

  runOnce(): void {
    for (const m of this.#members) {
      if (this.#running.has(m)) continue;
      this.#running.add(m);
      this.#probe(m).then((ok) => {
        this.#running.delete(m);
        this.#record(m, ok);
      });
    }
  }

  #record(m: Member, ok: boolean): void {
    const s = this.#streaks.get(m) ?? { ok: 0, fail: 0 };
    if (ok) {
      s.ok++;
      s.fail = 0;
      if (!m.healthy && s.ok >= this.#spec.healthyThreshold) {
        m.healthy = true;
        this.onChange?.(m, true);
      }
    } else {
      s.fail++;
      s.ok = 0;
      if (m.healthy && s.fail >= this.#spec.unhealthyThreshold) {
        m.healthy = false;
        this.onChange?.(m, false);
      }
    }
    this.#streaks.set(m, s);
  }

  #probe(m: Member): Promise<boolean> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (ok: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(ok);
      };
      const req = request({
        host: m.host,
        port: m.port,
        path: this.#spec.path,
        method: 'GET',
        agent: this.#agent,
        headers: { host: this.#spec.host ?? `${m.host}:${m.port}`, 'user-agent': 'triplane-edge-health' },
      });
      const timer = setTimeout(() => {
        req.destroy();
        finish(false);
      }, this.#spec.timeoutMs);
      req.on('response', (res) => {
        res.resume();
        const s = res.statusCode ?? 0;
        finish(s >= this.#spec.expectStatusMin && s <= this.#spec.expectStatusMax);
      });
      req.on('error', () => finish(false));
      req.end();
    });
  }
}
