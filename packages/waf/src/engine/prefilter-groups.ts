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
 * the same chain form a group. Per phase, what the values of each (chain, target selection)
 * pair hold is united once, whatever the number of groups reading it; a group unites its
 * pairs, and a rule whose conditions no value meets is skipped without evaluating it — on
 * benign traffic that is most of CRS. Sound: a rule is only skipped when its operator cannot match any of the values
 * (ctl target removals and `!` exclusions only shrink the values, and the group scans the
 * superset; @rx's input cap only shortens them).
 */
import { compilePcre } from '../regex/compile.ts';
import type { Transformation } from '../transformations/registry.ts';
import { LiteralScanner, NONE } from './literal-scan.ts';
import type { Rule, TargetSpec } from './model.ts';

/** What every chain shares: one scanner over all literals, one byte summary table. */
export interface PrefilterShared {
  /** undefined when no rule has literals */
  scanner: LiteralScanner | undefined;
  /** 32-bit words in a bit set over the scanner's literals */
  words: number;
  /** byte of a lower-cased value → bits of the byte summary (see byteBits) */
  bits: Int32Array;
  /** scans of short lower-cased values across transactions (scanValue) */
  memo: Map<string, Scan>;
  /**
   * per short raw value, across transactions: its scan through each chain (by
   * PrefilterChain.index; the last slot is the scan of the value itself), see valueScans
   */
  values: Map<string, Array<Scan | undefined>>;
  /** number of prefilter chains */
  chains: number;
  /** the longest minimum length of a prefiltered rule: longer lengths all behave alike */
  lengthCap: number;
  /** GroupScans without literals by bits and capped length (groupScanOf) */
  interned: Map<number, GroupScan>;
  /** scratch of groupScanOf, one byte per literal, all 0 between calls */
  seen: Uint8Array;
}

/** A transformation chain as the per-transaction transformation cache knows it (a Rule is one). */
export interface TransformChain {
  transforms: Transformation[];
  /** Rule.tids */
  tids: Int32Array;
  /** Rule.tchain */
  tchain: number;
}

/** A transformation chain prefiltered rules see their values through. */
export interface PrefilterChain {
  /** position among the rule set's prefilter chains (valueScans) */
  index: number;
  shared: PrefilterShared;
  transforms: TransformChain;
}

export interface PrefilterGroup {
  /** the first rule of the group: its targets and transformations are the group's */
  example: Rule;
  /** position among the rule set's groups (Transaction.prefilterFound) */
  index: number;
  shared: PrefilterShared;
  /**
   * the group's targets without `!` exclusions, through its chain (PrefilterPair.index); with
   * multiMatch through every prefix of its chain (the operator sees each intermediate value)
   */
  pairs: Int32Array;
}

/**
 * One target selection seen through one chain. Groups with the same chain share what the values
 * of a selection hold (Transaction.pairScans): per phase, each value of a selection is looked
 * at once per chain, whatever the number of groups.
 */
export interface PrefilterPair {
  index: number;
  chain: PrefilterChain;
  /** a non-volatile, non-excluded selection (TargetSpec.index numbers it) */
  spec: TargetSpec;
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

/**
 * The same for all values of a pair or group: the distinct literals of its values (each rule
 * checks them against its mask, so a literal many values hold is checked once). Immutable: one
 * without literals is shared by every pair and transaction with the same bits and length
 * (groupScanOf).
 */
export interface GroupScan {
  readonly ids: readonly number[];
  readonly bits: number;
  /** the longest value, at most PrefilterShared.lengthCap */
  readonly length: number;
}

/** Short values' scans are remembered across transactions, at most this many (then all dropped). */
const MEMO_ENTRIES = 4096;
const MEMO_VALUE_LENGTH = 256;

/**
 * The scan of a lower-cased transformed value. Values that different chains transform alike
 * (most benign values) share it: short ones across transactions (header values, argument names
 * and common values recur from request to request), longer ones within the transaction (txMemo).
 */
export function scanValue(shared: PrefilterShared, lowered: string, txMemo: Map<string, Scan>): Scan {
  const memo = lowered.length <= MEMO_VALUE_LENGTH ? shared.memo : txMemo;
  let s = memo.get(lowered);
  if (s === undefined) {
    s = scanLowered(shared, lowered);
    if (memo.size >= MEMO_ENTRIES) memo.clear();
    memo.set(lowered, s);
  }
  return s;
}

/**
 * The scans of a raw value through every chain, filled in as chains ask (a slot per chain, the
 * last for the value itself). A pure function of the value: short values share one array
 * across transactions, so a value that recurs (header values, argument names, paths) is
 * transformed and scanned once per chain for as long as it stays remembered.
 */
export function valueScans(shared: PrefilterShared, raw: string): Array<Scan | undefined> {
  if (raw.length > MEMO_VALUE_LENGTH) return new Array<Scan | undefined>(shared.chains + 1).fill(undefined);
  let a = shared.values.get(raw);
  if (a === undefined) {
    a = new Array<Scan | undefined>(shared.chains + 1).fill(undefined);
    if (shared.values.size >= MEMO_ENTRIES) shared.values.clear();
    shared.values.set(raw, a);
  }
  return a;
}

/** Scans a lower-cased value: literals found, bytes present, length (immutable, shareable). */
export function scanLowered(shared: PrefilterShared, lowered: string): Scan {
  const table = shared.bits;
  let bits = 0;
  for (let i = 0; i < lowered.length; i++) bits |= table[lowered.charCodeAt(i) & 0xff]!;
  return { ids: shared.scanner ? shared.scanner.found(lowered) : NONE, bits, length: lowered.length };
}

/**
 * A pair's or group's scan from what its values hold. Without literals (most of them on benign
 * traffic) it is a shared object: only bits and length matter then, and a length past
 * lengthCap makes no rule's minimum-length check fail, so it is capped.
 */
export function groupScanOf(
  shared: PrefilterShared,
  lists: ReadonlyArray<readonly number[]>,
  count: number,
  bits: number,
  length: number,
): GroupScan {
  const len = Math.min(length, shared.lengthCap);
  if (count > 0) return { ids: count === 1 ? lists[0]! : distinct(shared.seen, lists, count), bits, length: len };
  const key = bits * (shared.lengthCap + 1) + len;
  let s = shared.interned.get(key);
  if (s === undefined) {
    s = { ids: NONE, bits, length: len };
    // bounded: bits and lengths come from request data
    if (shared.interned.size >= 4096) shared.interned.clear();
    shared.interned.set(key, s);
  }
  return s;
}

/** The distinct ids of the first `count` lists, each list distinct itself (seen: scratch, all 0 before and after). */
function distinct(seen: Uint8Array, lists: ReadonlyArray<readonly number[]>, count: number): readonly number[] {
  const out: number[] = [];
  for (let l = 0; l < count; l++) {
    const ids = lists[l]!;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (seen[id] === 0) {
        seen[id] = 1;
        out.push(id);
      }
    }
  }
  for (let i = 0; i < out.length; i++) seen[out[i]!] = 0;
  return out;
}

/** True when the group's values may satisfy the rule's operator. */
export function mayMatch(p: RulePrefilter, s: GroupScan): boolean {
  if (s.length < p.minLength) return false;
  if (p.bits !== 0 && (p.bits & s.bits) === 0) return false;
  const mask = p.mask;
  if (mask === undefined) return true;
  const ids = s.ids;
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

/**
 * Groups the rules' prefilters; returns the number of chains and groups, and the pairs.
 * chainOf numbers a transformation chain for the transformation cache (multiMatch rules need
 * the prefixes of theirs).
 */
export function assignPrefilterGroups(
  rules: Iterable<Rule>,
  chainOf: (transforms: Transformation[]) => TransformChain,
): { chains: number; groups: number; pairs: PrefilterPair[] } {
  type Member = { rule: Rule; bytes: Uint8Array | undefined; minLength: number };
  const literals = new Map<string, number>();
  // by chain (multiMatch rules apart: they read more pairs), then by targets
  const byChain = new Map<string, Map<string, Member[]>>();
  for (const r of rules) {
    if (r.negated || !r.cacheTargets || r.targets.length === 0) continue;
    const req = rxRequirements(r);
    if (!r.literals && !req.bytes && req.minLength === 0) continue;
    const ckey = (r.multiMatch ? '*' : '') + r.tkey;
    let groups = byChain.get(ckey);
    if (!groups) {
      groups = new Map();
      byChain.set(ckey, groups);
    }
    for (const l of r.literals ?? []) if (!literals.has(l)) literals.set(l, literals.size);
    const key = r.targets.map((t) => (t.exclude ? '!' : '') + t.cacheKey).join('|');
    const members = groups.get(key);
    const m = { rule: r, ...req };
    if (members) members.push(m);
    else groups.set(key, [m]);
  }
  const required: Uint8Array[] = [];
  for (const groups of byChain.values())
    for (const ms of groups.values()) for (const m of ms) if (m.bytes) required.push(m.bytes);
  const table = byteBits(required);
  const shared: PrefilterShared = {
    scanner: literals.size > 0 ? new LiteralScanner([...literals.keys()]) : undefined,
    words: (literals.size + 31) >> 5,
    bits: foldCase(table),
    memo: new Map(),
    values: new Map(),
    chains: 0,
    lengthCap: 0,
    interned: new Map(),
    seen: new Uint8Array(literals.size),
  };
  const chains = new Map<string, PrefilterChain>();
  const chainFor = (transforms: Transformation[]): PrefilterChain => {
    const key = transforms.map((t) => t.name).join(',');
    let c = chains.get(key);
    if (c === undefined) {
      c = { index: chains.size, shared, transforms: chainOf(transforms) };
      chains.set(key, c);
    }
    return c;
  };
  // by chain index and TargetSpec.index
  const pairOf = new Map<string, PrefilterPair>();
  const pairs: PrefilterPair[] = [];
  let groupIndex = 0;
  for (const groups of byChain.values())
    for (const members of groups.values()) {
      const example = members[0]!.rule;
      const n = example.transforms.length;
      const prefixes = example.multiMatch
        ? Array.from({ length: n + 1 }, (_, k) => example.transforms.slice(0, k))
        : [example.transforms];
      const own = new Set<number>();
      for (const transforms of prefixes) {
        const chain = chainFor(transforms);
        for (const t of example.targets) {
          if (t.exclude) continue;
          const key = `${chain.index}|${t.index}`;
          let pair = pairOf.get(key);
          if (pair === undefined) {
            pair = { index: pairs.length, chain, spec: t };
            pairs.push(pair);
            pairOf.set(key, pair);
          }
          own.add(pair.index);
        }
      }
      const group: PrefilterGroup = { example, index: groupIndex++, shared, pairs: Int32Array.from(own) };
      for (const { rule, bytes, minLength } of members) {
        let mask: Int32Array | undefined;
        if (rule.literals) {
          mask = new Int32Array(shared.words);
          for (const l of rule.literals) {
            const id = literals.get(l)!;
            mask[id >> 5]! |= 1 << (id & 31);
          }
        }
        rule.prefilter = { group, mask, bits: bitsOf(table, bytes), minLength };
      }
    }
  shared.chains = chains.size;
  for (const groups of byChain.values())
    for (const ms of groups.values()) for (const m of ms) shared.lengthCap = Math.max(shared.lengthCap, m.minLength);
  return { chains: chains.size, groups: groupIndex, pairs };
}
