import { type LbPolicy, registerLbPolicy } from './policy.ts';

/** Fewest requests in flight; ties broken round-robin so idle pools still spread load. */
export function leastConnections(): LbPolicy {
  let tie = 0;
  return {
    pick(candidates) {
      let min = Number.POSITIVE_INFINITY;
      for (const c of candidates) min = Math.min(min, c.active);
      const best = candidates.filter((c) => c.active === min);
      tie = (tie + 1) % 1_000_000_007;
      return best[tie % best.length]!;
    },
  };
}

registerLbPolicy('least-connections', leastConnections);
