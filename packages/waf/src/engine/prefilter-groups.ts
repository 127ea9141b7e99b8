/**
 * Rule-level prefiltering: necessary conditions checked once per group of rules instead of
 * running each rule's operator on each value.
 *
 * - Literals: every literal the operators of rules with the same transformation chain require
 *   (Operator.literals) goes into one scanner per chain.
 * - Bytes and length (@rx only, regex/required.ts): a match needs one of a few bytes and a
 *   minimum length.
 *
 * Each distinct value is transformed and scanned once per transaction and chain (literals
 * found, bytes present, length), and remembered. Rules that inspect the same targets through
 * the same chain form a group; per phase a group unites what its values hold, and a rule whose
 * conditions no value meets is skipped without evaluating it — on benign traffic that is most
 * of CRS. Sound: a rule is only skipped when its operator cannot match any of the values
 * (ctl target removals and `!` exclusions only shrink the values, and the group scans the
 * superset; @rx's input cap only shortens them).
 */
import { compilePcre } from '../regex/compile.ts';
import { LiteralScanner, NONE } from './literal-scan.ts';
import type { Rule } from './model.ts';

/** What every chain shares: one scanner over all literals, one byte summary table. */
export interface PrefilterShared {
  /** undefined when no rule has literals */
  scanner: LiteralScanner | undefined;
  /** 32-bit words in a bit set over the scanner's literals */
  words: number;
  /** byte of a lower-cased value → bits of the byte summary (see byteBits) */
  bits: Int32Array;
}

/** All prefiltered rules with one transformation chain. */
export interface PrefilterChain {
  /** position among the rule set's chains (Transaction.prefilterMemo) */
  index: number;
  shared: PrefilterShared;
  /** bit set of the literals of this chain's rules */
  mask: Int32Array;
}

export interface PrefilterGroup {
  /** the first rule of the group: its targets and transformations are the group's */
  example: Rule;
  chain: PrefilterChain;
  /** position among the rule set's groups (Transaction.prefilterFound) */
  index: number;
  /** identity of the group's targets without `!` exclusions (Transaction.groupValues) */
  valuesKey: string;
}

export interface RulePrefilter {
  group: PrefilterGroup;
  /** bit set over the scanner's literals: this rule's literals (undefined: none required) */
  mask: Int32Array | undefined;
  /** summary bits of the bytes a match contains one of; 0 = no requirement */
  bits: number;
  /** no match is shorter */
  minLength: number;
}

/** What one lower-cased transformed value holds: literals found, bytes present, length. */
export interface Scan {
  ids: readonly number[];
  bits: number;
  length: number;
}

/** The same for all values of a group (the literal lists of its values, not copied). */
export interface GroupScan {
  ids: Array<readonly number[]>;
  bits: number;
  /** the longest value */
  length: number;
}

/**
 * Scans a transformed value once lower-cased. Values that different chains transform alike
 * (most benign values) share the scan (Transaction.scanMemo).
 */
export function scanLowered(shared: PrefilterShared, lowered: string): Scan {
  const table = shared.bits;
  let bits = 0;
  for (let i = 0; i < lowered.length; i++) bits |= table[lowered.charCodeAt(i) & 0xff]!;
  return { ids: shared.scanner ? shared.scanner.found(lowered) : NONE, bits, length: lowered.length };
}

/** A value's scan restricted to the literals of one chain's rules (shorter lists to check). */
export function forChain(chain: PrefilterChain, s: Scan): Scan {
  const ids = s.ids;
  if (ids.length === 0) return s;
  const mask = chain.mask;
  let kept: number[] | undefined;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if ((mask[id >> 5]! >>> (id & 31)) & 1) {
      if (kept !== undefined) kept.push(id);
    } else if (kept === undefined) kept = ids.slice(0, i);
  }
  return kept === undefined ? s : { ids: kept.length > 0 ? kept : NONE, bits: s.bits, length: s.length };
}

/** Adds a value's scan to a group's (`into` is the group's own, never a value's). */
export function uniteScan(into: GroupScan | undefined, s: Scan): GroupScan {
  if (into === undefined) return { ids: s.ids.length > 0 ? [s.ids] : [], bits: s.bits, length: s.length };
  if (s.ids.length > 0) into.ids.push(s.ids);
  into.bits |= s.bits;
  if (s.length > into.length) into.length = s.length;
  return into;
}

export const EMPTY_SCAN: GroupScan = { ids: [], bits: 0, length: 0 };

/** True when the group's values may satisfy the rule's operator. */
export function mayMatch(p: RulePrefilter, s: GroupScan): boolean {
  if (s.length < p.minLength) return false;
  if (p.bits !== 0 && (p.bits & s.bits) === 0) return false;
  const mask = p.mask;
  if (mask === undefined) return true;
  for (const ids of s.ids)
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if ((mask[id >> 5]! >>> (id & 31)) & 1) return true;
    }
  return false;
}

/** Byte and length requirements of a literal-pattern @rx rule (regex/required.ts). */
function rxRequirements(r: Rule): { bytes: Uint8Array | undefined; minLength: number } {
  if (r.opName !== 'rx' || r.opParam.includes('%{')) return { bytes: undefined, minLength: 0 };
  const c = compilePcre(r.opParam);
  return { bytes: c.requiredBytes, minLength: c.minLength };
}

/**
 * A 31-bit summary of which bytes a value holds. Letters and digits, present in nearly every
 * value, share one bit; the other bytes some rule requires get their own bits (the most often
 * required first; past 30 they share), the rest none. Shared bits only let more rules
 * through, never fewer.
 */
function byteBits(required: Uint8Array[]): Int32Array {
  const freq = new Array<number>(256).fill(0);
  for (const r of required) for (let b = 0; b < 256; b++) freq[b]! += r[b]!;
  const alnum = (b: number) => (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122);
  const order = [...freq.keys()].filter((b) => freq[b]! > 0 && !alnum(b)).sort((a, b) => freq[b]! - freq[a]! || a - b);
  const table = new Int32Array(256);
  order.forEach((b, i) => {
    table[b] = 1 << (i % 30);
  });
  for (let b = 0; b < 256; b++) if (freq[b]! > 0 && alnum(b)) table[b] = 1 << 30;
  return table;
}

/** The table for lower-cased values: a byte also stands for every byte that lower-cases to it. */
function foldCase(table: Int32Array): Int32Array {
  const folded = new Int32Array(256);
  for (let b = 0; b < 256; b++) {
    const l = String.fromCharCode(b).toLowerCase();
    const lc = l.length === 1 && l.charCodeAt(0) <= 0xff ? l.charCodeAt(0) : b;
    folded[lc]! |= table[b]!;
    folded[b]! |= table[b]!;
  }
  return folded;
}

function bitsOf(table: Int32Array, bytes: Uint8Array | undefined): number {
  if (!bytes) return 0;
  let bits = 0;
  for (let b = 0; b < 256; b++) if (bytes[b] === 1) bits |= table[b]!;
  return bits;
}

/** Groups the rules' prefilters; returns the number of chains and groups. */
export function assignPrefilterGroups(rules: Iterable<Rule>): { chains: number; groups: number } {
  type Member = { rule: Rule; bytes: Uint8Array | undefined; minLength: number };
  const literals = new Map<string, number>();
  const chains = new Map<string, Map<string, Member[]>>();
  for (const r of rules) {
    if (r.negated || r.multiMatch || !r.cacheTargets || r.targets.length === 0) continue;
    const req = rxRequirements(r);
    if (!r.literals && !req.bytes && req.minLength === 0) continue;
    let groups = chains.get(r.tkey);
    if (!groups) {
      groups = new Map();
      chains.set(r.tkey, groups);
    }
    for (const l of r.literals ?? []) if (!literals.has(l)) literals.set(l, literals.size);
    const key = r.targets.map((t) => (t.exclude ? '!' : '') + t.cacheKey).join('|');
    const members = groups.get(key);
    const m = { rule: r, ...req };
    if (members) members.push(m);
    else groups.set(key, [m]);
  }
  const required: Uint8Array[] = [];
  for (const groups of chains.values()) for (const ms of groups.values()) for (const m of ms) if (m.bytes) required.push(m.bytes);
  const table = byteBits(required);
  const shared: PrefilterShared = {
    scanner: literals.size > 0 ? new LiteralScanner([...literals.keys()]) : undefined,
    words: (literals.size + 31) >> 5,
    bits: foldCase(table),
  };
  let chainIndex = 0;
  let groupIndex = 0;
  for (const groups of chains.values()) {
    const chain: PrefilterChain = { index: chainIndex++, shared, mask: new Int32Array(shared.words) };
    for (const members of groups.values()) {
      const example = members[0]!.rule;
      const valuesKey = example.targets
        .filter((t) => !t.exclude)
        .map((t) => t.cacheKey)
        .join('|');
      const group: PrefilterGroup = { example, chain, index: groupIndex++, valuesKey };
      for (const { rule, bytes, minLength } of members) {
        let mask: Int32Array | undefined;
        if (rule.literals) {
          mask = new Int32Array(shared.words);
          for (const l of rule.literals) {
            const id = literals.get(l)!;
            mask[id >> 5]! |= 1 << (id & 31);
            chain.mask[id >> 5]! |= 1 << (id & 31);
          }
        }
        rule.prefilter = { group, mask, bits: bitsOf(table, bytes), minLength };
      }
    }
  }
  return { chains: chainIndex, groups: groupIndex };
}
