import type { HealthChecker } from './health.ts';
import './least-connections.ts';
import type { Member } from './member.ts';
import { createLbPolicy, type LbPolicy } from './policy.ts';
import './round-robin.ts';

/**
 * An upstream pool: members, a load-balancing policy, optional active health checks, passive
 * ejection. `pick(exclude)` returns a member not yet tried by this request, preferring members
 * that are healthy and not ejected; when every member is ejected it still tries a healthy one
 * (ejection is a hint, active health is a verdict); undefined when none is usable.
 */
export class Pool {
  readonly members: readonly Member[];
  readonly #policy: LbPolicy;
  /** The candidate list of a one-member pool. */
  readonly #single: readonly Member[] | undefined;
  readonly passive: { failures: number; ejectMs: number };
  health: HealthChecker | undefined;

  constructor(members: readonly Member[], policy: string, passive: { failures: number; ejectMs: number }) {
    this.members = members;
    this.#policy = createLbPolicy(policy);
    this.passive = passive;
    this.#single = members.length === 1 ? [members[0]!] : undefined;
  }

  pick(now: number, exclude: ReadonlySet<Member>): Member | undefined {
    const only = this.#single;
    if (only !== undefined) {
      // one member (most sites): the same choice as below, without the candidate arrays
      const m = only[0]!;
      return !exclude.has(m) && m.healthy ? this.#policy.pick(only) : undefined;
    }
    const untried = this.members.filter((m) => !exclude.has(m));
    const preferred = untried.filter((m) => m.available(now));
    if (preferred.length) return this.#policy.pick(preferred);
    const healthy = untried.filter((m) => m.healthy);
    return healthy.length ? this.#policy.pick(healthy) : undefined;
  }

  close(graceMs = 30_000): void {
    this.health?.stop();
    const t = setTimeout(() => {
      for (const m of this.members) m.agent.destroy();
    }, graceMs);
    t.unref();
  }
}
