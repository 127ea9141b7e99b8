/**
 * Exponential backoff with full jitter, capped.
 * delay(attempt) for attempt = 1, 2, 3… is uniform in [base/2, min(cap, base·2^(attempt-1))].
 * Example: backoffDelay(3, { baseMs: 1000, capMs: 60000 }) → between 500 and 4000 ms.
 */
export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  random?: () => number;
}

export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const n = Math.max(1, Math.floor(attempt));
  const ceiling = Math.min(opts.capMs, opts.baseMs * 2 ** Math.min(n - 1, 30));
  const floor = Math.min(ceiling, opts.baseMs / 2);
  const r = (opts.random ?? Math.random)();
  return Math.round(floor + (ceiling - floor) * r);
}
