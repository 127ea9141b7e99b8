import { type LbPolicy, registerLbPolicy } from './policy.ts';

export function roundRobin(): LbPolicy {
  let next = 0;
  return {
    pick(candidates) {
      const m = candidates[next % candidates.length]!;
      next = (next + 1) % 1_000_000_007;
      return m;
    },
  };
}

registerLbPolicy('round-robin', roundRobin);
