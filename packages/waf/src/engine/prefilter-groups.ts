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

/** All prefiltered rules with one transformation chain. */
export interface PrefilterChain {
  /** position among the rule set's chains (Transaction.prefilterMemo) */
  index: number;
  /** undefined when no rule of the chain has literals */
  scanner: LiteralScanner | undefined;
  /** byte → bit of the byte summary (shared by the rule set, see byteBits) */
  bits: Int32Array;
}

export interface PrefilterGroup {
  /** the first rule of the group: its targets and transformations are the group's */
  example: Rule;
  chain: PrefilterChain;
  /** position among the rule set's groups (Transaction.prefilterFound) */
  index: number;
}

export interface RulePrefilter {
  group: PrefilterGroup;
  /** mask[i] === 1 when literal i of the chain's scanner is one of this rule's literals */
  mask: Uint8Array | undefined;
  /** bits (PrefilterChain.bits) of the bytes a match contains one of; 0 = no requirement */
  bits: number;
  /** no match is shorter */
  minLength: number;
}

/** What a value (or all values of a group) holds: literals found, bytes present, length. */
export interface Scan {
  ids: readonly number[];
  /** summary of the bytes present (PrefilterChain.bits) */
  bits: number;
  /** the longest value */
  length: number;
}

export const EMPTY_SCAN: Scan = { ids: NONE, bits: 0, length: 0 };

export function scanValue(chain: PrefilterChain, transformed: string): Scan {
  const table = chain.bits;
  let bits = 0;
  for (let i = 0; i < transformed.length; i++) bits |= table[transformed.charCodeAt(i) & 0xff]!;
  const ids = chain.scanner ? chain.scanner.found(transformed.toLowerCase()) : NONE;
  return { ids, bits, length: transformed.length };
}

/** Adds a value's scan to a group's (`into` is the group's own, never a value's). */
export function uniteScan(into: Scan | undefined, s: Scan): Scan {
  if (into === undefined) return { ids: s.ids, bits: s.bits, length: s.length };
  if (s.ids.length > 0) into.ids = into.ids.length === 0 ? s.ids : into.ids.concat(s.ids);
  into.bits |= s.bits;
  if (s.length > into.length) into.length = s.length;
  return into;
}

/** True when the group's values may satisfy the rule's operator. */
export function mayMatch(p: RulePrefilter, s: Scan): boolean {
  if (s.length < p.minLength) return false;
  if (p.bits !== 0 && (p.bits & s.bits) === 0) return false;
  const mask = p.mask;
  if (mask === undefined) return true;
  const ids = s.ids;
  for (let i = 0; i < ids.length; i++) if (mask[ids[i]!] === 1) return true;
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

function bitsOf(table: Int32Array, bytes: Uint8Array | undefined): number {
  if (!bytes) return 0;
  let bits = 0;
  for (let b = 0; b < 256; b++) if (bytes[b] === 1) bits |= table[b]!;
  return bits;
}

/** Groups the rules' prefilters; returns the number of chains and groups. */
export function assignPrefilterGroups(rules: Iterable<Rule>): { chains: number; groups: number } {
  type Member = { rule: Rule; bytes: Uint8Array | undefined; minLength: number };
  const chains = new Map<string, { literals: Map<string, number>; groups: Map<string, Member[]> }>();
  for (const r of rules) {
    if (r.negated || r.multiMatch || !r.cacheTargets || r.targets.length === 0) continue;
    const req = rxRequirements(r);
    if (!r.literals && !req.bytes && req.minLength === 0) continue;
    let c = chains.get(r.tkey);
    if (!c) {
      c = { literals: new Map(), groups: new Map() };
      chains.set(r.tkey, c);
    }
    for (const l of r.literals ?? []) if (!c.literals.has(l)) c.literals.set(l, c.literals.size);
    const key = r.targets.map((t) => (t.exclude ? '!' : '') + t.cacheKey).join('|');
    const members = c.groups.get(key);
    const m = { rule: r, ...req };
    if (members) members.push(m);
    else c.groups.set(key, [m]);
  }
  const required: Uint8Array[] = [];
  for (const c of chains.values()) for (const ms of c.groups.values()) for (const m of ms) if (m.bytes) required.push(m.bytes);
  const table = byteBits(required);
  let chainIndex = 0;
  let groupIndex = 0;
  for (const c of chains.values()) {
    const chain: PrefilterChain = {
      index: chainIndex++,
      scanner: c.literals.size > 0 ? new LiteralScanner([...c.literals.keys()]) : undefined,
      bits: table,
    };
    for (const members of c.groups.values()) {
      const group: PrefilterGroup = { example: members[0]!.rule, chain, index: groupIndex++ };
      for (const { rule, bytes, minLength } of members) {
        let mask: Uint8Array | undefined;
        if (rule.literals) {
          mask = new Uint8Array(c.literals.size);
          for (const l of rule.literals) mask[c.literals.get(l)!] = 1;
        }
        rule.prefilter = { group, mask, bits: bitsOf(table, bytes), minLength };
      }
    }
  }
  return { chains: chainIndex, groups: groupIndex };
}
