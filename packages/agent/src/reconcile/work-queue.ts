import { type BackoffOptions, backoffDelay, type Clock } from '@triplane/kernel';

/**
 * Per-key backoff bookkeeping for the reconcile loop: a key that failed (or keeps needing the
 * same repair) is not worked on again before `notBefore`, which grows exponentially with
 * the consecutive attempts (kernel `backoffDelay`: full jitter, capped). Level-based: the
 * queue stores no work items, only WHEN a key may be worked on again; what to do is
 * recomputed from desired vs observed state every time.
 *
 * Example:
 *   const q = new BackoffQueue(clock, { baseMs: 1000, capMs: 300_000 });
 *   if (q.ready('env_1')) try { await apply(); q.success('env_1'); } catch { q.failure('env_1'); }
 */
export class BackoffQueue {
  readonly #clock: Clock;
  readonly #opts: BackoffOptions;
  readonly #entries = new Map<string, { attempts: number; notBefore: number }>();

  constructor(clock: Clock, opts: BackoffOptions) {
    this.#clock = clock;
    this.#opts = opts;
  }

  /** May the key be worked on now? */
  ready(key: string): boolean {
    const e = this.#entries.get(key);
    return !e || this.#clock.now() >= e.notBefore;
  }

  /** Consecutive attempts recorded since the last success (0 when none). */
  attempts(key: string): number {
    return this.#entries.get(key)?.attempts ?? 0;
  }

  /** Epoch ms before which the key waits (0 when ready). */
  notBefore(key: string): number {
    return this.#entries.get(key)?.notBefore ?? 0;
  }

  /** Record one more attempt; returns the delay before the next one (ms). */
  failure(key: string): number {
    const e = this.#entries.get(key) ?? { attempts: 0, notBefore: 0 };
    e.attempts++;
    const delay = backoffDelay(e.attempts, this.#opts);
    e.notBefore = this.#clock.now() + delay;
    this.#entries.set(key, e);
    return delay;
  }

  /** The key is healthy again: the next failure starts from the base delay. */
  success(key: string): void {
    this.#entries.delete(key);
  }

  /** Keys with a pending wait, for `nextDue`. */
  keys(): string[] {
    return [...this.#entries.keys()];
  }

  /** The earliest future `notBefore` (epoch ms), or null when nothing waits. */
  nextDue(): number | null {
    const now = this.#clock.now();
    let min: number | null = null;
    for (const e of this.#entries.values()) if (e.notBefore > now && (min === null || e.notBefore < min)) min = e.notBefore;
    return min;
  }
}
