import type { Member } from './member.ts';

/** A load-balancing policy: picks one of the candidate members (never empty). Registered by name. */
export interface LbPolicy {
  pick(candidates: readonly Member[]): Member;
}

export type LbPolicyFactory = () => LbPolicy;

const registry = new Map<string, LbPolicyFactory>();

export function registerLbPolicy(name: string, f: LbPolicyFactory): void {
  registry.set(name, f);
}

export function createLbPolicy(name: string): LbPolicy {
  const f = registry.get(name);
  if (!f) throw new Error(`unknown load-balancing policy ${name}`);
  return f();
}
