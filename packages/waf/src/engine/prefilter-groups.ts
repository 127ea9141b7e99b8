/**
 * Rule-level prefiltering. Rules that inspect the same targets through the same
 * transformation chain form a group; every literal their operators require (Operator.literals)
 * goes into one scanner. Per phase, each transformed value of the group is scanned once, and a
 * rule none of whose literals occurred is skipped without evaluating it — on benign traffic
 * that is most of CRS. Sound: a rule is only skipped when its operator cannot match any of the
 * values (ctl target removals only shrink the values, never add).
 */
import { LiteralScanner } from './literal-scan.ts';
import type { Rule } from './model.ts';

export interface PrefilterGroup {
  /** the first rule of the group: its targets and transformations are the group's */
  example: Rule;
  scanner: LiteralScanner;
  size: number;
}

export interface RulePrefilter {
  group: PrefilterGroup;
  /** indexes of this rule's literals in the group scanner */
  lits: Int32Array;
}

export function assignPrefilterGroups(rules: Iterable<Rule>): number {
  const groups = new Map<string, { example: Rule; literals: Map<string, number>; members: Array<[Rule, string[]]> }>();
  for (const r of rules) {
    if (!r.literals || r.negated || r.multiMatch || !r.cacheTargets || r.targets.length === 0) continue;
    const key = r.targets.map((t) => (t.exclude ? '!' : '') + t.cacheKey).join('|') + '#' + r.tkey;
    let g = groups.get(key);
    if (!g) {
      g = { example: r, literals: new Map(), members: [] };
      groups.set(key, g);
    }
    for (const l of r.literals) if (!g.literals.has(l)) g.literals.set(l, g.literals.size);
    g.members.push([r, r.literals]);
  }
  let n = 0;
  for (const g of groups.values()) {
    const group: PrefilterGroup = {
      example: g.example,
      scanner: new LiteralScanner([...g.literals.keys()]),
      size: g.literals.size,
    };
    for (const [r, lits] of g.members) {
      r.prefilter = { group, lits: Int32Array.from(lits.map((l) => g.literals.get(l)!)) };
      n++;
    }
  }
  return n;
}
