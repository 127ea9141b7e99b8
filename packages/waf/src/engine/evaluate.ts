/**
 * Rule evaluation with ModSecurity 2 semantics:
 * - a rule runs its operator on every target value (after its transformations; with
 *   multiMatch after each transformation that changed the value);
 * - every match runs the rule's non-disruptive actions (setvar, ctl, …) — also in a chain
 *   link, even if the chain later fails (documented ModSecurity 2 behaviour);
 * - in the last rule of a chain (or a rule without chain) every match is logged with the
 *   chain starter's msg/logdata and triggers the starter's disruptive action (enforced only
 *   when SecRuleEngine is On);
 * - a matched chain then applies skip/skipAfter.
 */

import type { Arg } from '../body/types.ts';
import type { OperatorTx } from '../operators/registry.ts';
import { atoi } from '../operators/types.ts';
import { compilePcre } from '../regex/compile.ts';
import { idMatcher } from './compile.ts';
import { formatLogLine } from './log.ts';
import { expandMacros } from './macros.ts';
import type { NdAction, Rule } from './model.ts';
import {
  type GroupScan,
  groupScanOf,
  mayMatch,
  type PrefilterGroup,
  type RulePrefilter,
  scanValue,
  type TransformChain,
  valueScans,
} from './prefilter-groups.ts';
import { cachedTargets, collectTargets, stableTarget, type Target } from './targets.ts';
import type { Transaction } from './transaction.ts';

/**
 * What the rule loop reads of each rule of a phase list, in flat arrays: most rules are skipped
 * by their prefilter on benign traffic, and reading that from the Rule, its RulePrefilter and its
 * group (three objects scattered over the heap, per rule and phase) costs more in cache misses
 * than the check itself.
 */
interface PhaseGate {
  /** for each rule with skipAfter: the index of its marker (or the list's end) */
  readonly jumps: Int32Array;
  /** 1 for markers */
  readonly marker: Uint8Array;
  /** the prefilter group of a rule evaluated only when its prefilter passes; -1: always evaluated */
  readonly group: Int32Array;
  readonly groups: Array<PrefilterGroup | undefined>;
  /** RulePrefilter.minLength / bits / mask */
  readonly minLength: Int32Array;
  readonly bits: Int32Array;
  readonly masks: Array<Int32Array | undefined>;
}

/** Per phase list (rule sets never change a list once compiled; a new list gets its own). */
const gates = new WeakMap<readonly Rule[], PhaseGate>();

function gateOf(rules: readonly Rule[]): PhaseGate {
  let g = gates.get(rules);
  if (g !== undefined) return g;
  const n = rules.length;
  g = {
    jumps: new Int32Array(n),
    marker: new Uint8Array(n),
    group: new Int32Array(n).fill(-1),
    groups: new Array<PrefilterGroup | undefined>(n).fill(undefined),
    minLength: new Int32Array(n),
    bits: new Int32Array(n),
    masks: new Array<Int32Array | undefined>(n).fill(undefined),
  };
  for (let i = 0; i < n; i++) {
    const r = rules[i]!;
    if (r.marker !== undefined) g.marker[i] = 1;
    const to = r.skipAfter;
    g.jumps[i] = n;
    if (to !== undefined)
      for (let k = i + 1; k < n; k++)
        if (rules[k]!.marker === to) {
          g.jumps[i] = k;
          break;
        }
    // what evalRule checks first: unconditional and folded rules never read their prefilter
    const p = r.prefilter;
    if (r.marker === undefined && !r.unconditional && r.folded === undefined && p !== undefined) {
      g.group[i] = p.group.index;
      g.groups[i] = p.group;
      g.minLength[i] = p.minLength;
      g.bits[i] = p.bits;
      g.masks[i] = p.mask;
    }
  }
  gates.set(rules, g);
  return g;
}

export function evaluatePhase(tx: Transaction, phase: number): void {
  const rules = tx.rules.phases[phase]!;
  tx.halted = false;
  const gate = gateOf(rules);
  let skipN = 0;
  for (let i = 0; i < rules.length; i++) {
    if (gate.marker[i] === 1) continue;
    if (skipN > 0) {
      skipN--;
      continue;
    }
    const r = rules[i]!;
    if ((tx.removedIds.length > 0 || tx.removedTags.length > 0) && tx.isRemoved(r)) continue;
    const gi = gate.group[i]!;
    if (gi >= 0) {
      // the chain starter's prefilter (evalRule's own check, without touching the rule)
      let found = tx.prefilterFound.get(gi);
      if (found === undefined) found = groupFound(tx, gate.groups[i]!);
      if (!passes(found, gate.minLength[i]!, gate.bits[i]!, gate.masks[i])) {
        // what evalChain leaves behind for a starter that does not match
        tx.matchedCount = 0;
        tx.currentRule = r;
        continue;
      }
    }
    const matched = evalChain(tx, r);
    if (tx.halted) return;
    if (tx.allowed === 'all' || (tx.allowed === 'request' && phase <= 2)) return;
    if (matched) {
      // skipAfter jumps to its marker, which evaluates nothing: go on after it (past the end when missing)
      if (r.skipAfter !== undefined) i = gate.jumps[i]!;
      else if (r.skip > 0) skipN = r.skip;
      if (r.disruptive === 'allow' && r.allowScope === 'phase' && tx.ruleEngine === 'On') return;
    }
  }
}

/** mayMatch (prefilter-groups.ts) on a PhaseGate's arrays. */
function passes(s: GroupScan, minLength: number, bits: number, mask: Int32Array | undefined): boolean {
  if (s.length < minLength) return false;
  if (bits !== 0 && (bits & s.bits) === 0) return false;
  if (mask === undefined) return true;
  const ids = s.ids;
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if ((mask[id >> 5]! >>> (id & 31)) & 1) return true;
  }
  return false;
}

function evalChain(tx: Transaction, starter: Rule): boolean {
  tx.matchedCount = 0;
  let r: Rule | undefined = starter;
  while (r) {
    if (!evalRule(tx, r, starter)) return false;
    if (tx.halted) return true;
    r = r.chain;
  }
  return true;
}

const CAPTURE_KEYS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];

class OpTx implements OperatorTx {
  capturing = false;
  readonly tx: Transaction;
  constructor(tx: Transaction) {
    this.tx = tx;
  }
  expand(text: string): string {
    return expandMacros(this.tx, text);
  }
  setCaptures(groups: ReadonlyArray<string | undefined>): void {
    // TX:0–9 straight into the TX map (what collectionSet/collectionDelete do for TX)
    const vars = this.tx.txVars;
    for (let i = 0; i < 10; i++) {
      const g = groups[i];
      const k = CAPTURE_KEYS[i]!;
      if (g === undefined) vars.delete(k);
      else vars.set(k, { name: k, value: g, target: undefined });
    }
  }
  flagInternal(name: string): void {
    this.tx.collectionSet('tx', name, '1');
  }
}

function evalRule(tx: Transaction, rule: Rule, starter: Rule): boolean {
  tx.currentRule = starter;
  if (rule.unconditional) {
    onMatch(tx, rule, starter, UNCONDITIONAL, '');
    return true;
  }
  if (rule.folded !== undefined) return evalFolded(tx, rule, starter);
  let otx = tx.opTx as OpTx | undefined;
  if (otx === undefined) {
    otx = new OpTx(tx);
    tx.opTx = otx;
  }
  if (rule.prefilter && !prefilterHit(tx, rule.prefilter)) return false;
  otx.capturing = rule.capture;
  const spec = rule.txSpec;
  if (spec !== undefined && tx.removedTargets.length === 0) {
    // TX:key / &TX:key alone (paranoia-level checks, scoring): no target list to build
    const e = tx.txVars.get(spec.lkey!);
    let t: Target;
    if (spec.count) t = e === undefined ? spec.countTargets![0] : spec.countTargets![1];
    else if (e === undefined) return false;
    else t = stableTarget(spec.name, e);
    return evalTarget(tx, rule, starter, otx, t);
  }
  const targets = collectTargets(tx, rule);
  let any = false;
  for (const t of targets) {
    if (evalTarget(tx, rule, starter, otx, t)) {
      any = true;
      if (tx.halted) return true;
    }
  }
  return any;
}

/** Runs the operator on one target (after transformations); true when it matched. */
function evalTarget(tx: Transaction, rule: Rule, starter: Rule, otx: OpTx, t: Target): boolean {
  if (rule.multiMatch) {
    let any = false;
    let v = t.value;
    if (rule.op(v, otx) !== rule.negated) {
      any = true;
      onMatch(tx, rule, starter, t, v);
      if (tx.halted) return true;
    }
    for (const tr of rule.transforms) {
      const nv = tr.apply(v);
      if (nv === v) continue;
      v = nv;
      if (rule.op(v, otx) !== rule.negated) {
        any = true;
        onMatch(tx, rule, starter, t, v);
        if (tx.halted) return true;
      }
    }
    return any;
  }
  const v = rule.transforms.length === 0 ? t.value : transformed(tx, targetValueId(tx, t), rule);
  if (rule.op(v, otx) !== rule.negated) {
    onMatch(tx, rule, starter, t, v);
    return true;
  }
  return false;
}

const UNCONDITIONAL: Target = { coll: '', key: undefined, name: '', value: '' };

/** A rule whose outcome compile-time folding fixed (fold.ts): replay it without evaluating. */
function evalFolded(tx: Transaction, rule: Rule, starter: Rule): boolean {
  if (rule.folded === 'never') return false;
  const ms = rule.foldedMatches;
  for (let i = 0; i < ms.length; i++) {
    const m = ms[i]!;
    onMatch(tx, rule, starter, m, m.value, rule.foldedVars[i]);
    if (tx.halted) return true;
  }
  return true;
}

/**
 * Scratch for the literal-id lists a pair's values (PAIR_LISTS) or a group's pairs (GROUP_LISTS)
 * hold, read by groupScanOf before the next use: no array per pair and phase. Two, because a
 * group's pairs are scanned while its own lists are gathered.
 */
const PAIR_LISTS: Array<readonly number[]> = [];
const GROUP_LISTS: Array<readonly number[]> = [];

function prefilterHit(tx: Transaction, p: RulePrefilter): boolean {
  const g = p.group;
  return mayMatch(p, tx.prefilterFound.get(g.index) ?? groupFound(tx, g));
}

/**
 * Once per group and phase: what the group's values hold, united from its (chain, target)
 * pairs, which groups with the same chain share (a value in two of them counts twice: harmless).
 */
function groupFound(tx: Transaction, g: PrefilterGroup): GroupScan {
  const pairs = g.pairs;
  let found: GroupScan;
  if (pairs.length === 1) found = pairScan(tx, pairs[0]!);
  else {
    let bits = 0;
    let length = 0;
    let count = 0;
    for (let i = 0; i < pairs.length; i++) {
      const s = pairScan(tx, pairs[i]!);
      bits |= s.bits;
      if (s.length > length) length = s.length;
      if (s.ids.length > 0) GROUP_LISTS[count++] = s.ids;
    }
    found = groupScanOf(g.shared, GROUP_LISTS, count, bits, length);
  }
  tx.prefilterFound.set(g.index, found);
  return found;
}

/**
 * What the values of one target selection hold through one chain, once per phase. Values are
 * numbered per transaction, so each (chain, value) scan is an array slot; each distinct
 * lower-cased transformed value is scanned once per transaction, whatever the chain.
 */
function pairScan(tx: Transaction, k: number): GroupScan {
  let acc = tx.pairScans.get(k);
  if (acc !== undefined) return acc;
  const pair = tx.rules.prefilterPairs[k]!;
  const c = pair.chain;
  const raw = c.shared.chains;
  // `!` exclusions and ctl removals ignored: a superset is sound
  const targets = cachedTargets(tx, pair.spec);
  let bits = 0;
  let length = 0;
  let count = 0;
  for (let i = 0; i < targets.length; i++) {
    const id = targetValueId(tx, targets[i]!);
    let scans = tx.valueScans[id];
    if (scans === undefined) {
      scans = valueScans(c.shared, tx.values[id]!);
      tx.valueScans[id] = scans;
    }
    let s = scans[c.index];
    if (s === undefined) {
      const v = transformed(tx, id, c.transforms);
      // most chains leave a benign value as it is: those share the value's own scan
      if (v === tx.values[id]) {
        s = scans[raw];
        if (s === undefined) {
          s = scanValue(c.shared, v.toLowerCase(), tx.scanMemo);
          scans[raw] = s;
        }
      } else s = scanValue(c.shared, v.toLowerCase(), tx.scanMemo);
      scans[c.index] = s;
    }
    bits |= s.bits;
    if (s.length > length) length = s.length;
    if (s.ids.length > 0) PAIR_LISTS[count++] = s.ids;
  }
  acc = groupScanOf(c.shared, PAIR_LISTS, count, bits, length);
  tx.pairScans.set(k, acc);
  return acc;
}

/** The target's value number (Transaction.valueId), remembered on the target for this transaction. */
function targetValueId(tx: Transaction, t: Target): number {
  // some targets outlive a transaction (TX entries from a store, &TX counts): check whose id it is
  if (t.vtx !== tx.serial) {
    t.vid = tx.valueId(t.value);
    t.vtx = tx.serial;
  }
  return t.vid!;
}

/** Value `id` after the rule's transformations, cached per transaction, chain and value. */
function transformed(tx: Transaction, id: number, rule: TransformChain): string {
  const value = tx.values[id]!;
  const n = rule.transforms.length;
  if (n === 0) return value;
  let cache = tx.tfCache[rule.tchain];
  if (cache === undefined) {
    cache = [];
    tx.tfCache[rule.tchain] = cache;
  }
  let v = cache[id];
  if (v !== undefined) return v;
  // leading transformations known to leave this value as it is are skipped: most chains
  // start with decoders that change nothing in a benign value, and many chains share them
  v = value;
  let i = 0;
  for (; i < n; i++) {
    const t = rule.tids[i]!;
    let known = tx.tfIdentity[t];
    if (known === undefined) {
      known = [];
      tx.tfIdentity[t] = known;
    }
    const k = known[id];
    if (k === true) continue;
    if (k === false) break;
    const nv = rule.transforms[i]!.apply(value);
    known[id] = nv === value;
    if (nv !== value) {
      v = nv;
      i++;
      break;
    }
  }
  for (; i < n; i++) v = rule.transforms[i]!.apply(v);
  cache[id] = v;
  return v;
}

function onMatch(tx: Transaction, rule: Rule, starter: Rule, t: Target, value: string, shared?: Arg): void {
  if (!rule.unconditional) {
    const mv = shared ?? { name: t.name, value };
    tx.matchedVar = mv;
    tx.matchedStore[tx.matchedCount++] = mv;
  }
  for (const a of rule.actions) runAction(tx, a);
  if (rule.chained) return;
  // end of chain (or a single rule): log and disrupt with the starter's metadata
  if (starter.severity !== undefined && starter.severity < tx.highestSeverity) tx.highestSeverity = starter.severity;
  const d = starter.disruptive ?? 'pass';
  // the logging phase (5) never disrupts; a transaction is interrupted at most once
  const enforce =
    tx.ruleEngine === 'On' && (d === 'deny' || d === 'drop' || d === 'redirect') && starter.phase !== 5 && !tx.intervention;
  if (enforce) {
    tx.halted = true;
    tx.intervention = {
      status: d === 'redirect' ? (starter.status ?? 302) : (starter.status ?? 403),
      ruleId: starter.id,
      action: d,
      ...(d === 'redirect' && starter.redirectUrl !== undefined ? { url: expandMacros(tx, starter.redirectUrl) } : {}),
    };
  } else if (d === 'allow' && tx.ruleEngine === 'On') {
    if (starter.allowScope === 'all') tx.allowed = 'all';
    else if (starter.allowScope === 'request') tx.allowed = 'request';
  }
  if (!starter.log && !enforce) return;
  const event = {
    ruleId: starter.id,
    phase: starter.phase,
    file: starter.file,
    line: starter.line,
    msg: starter.msg !== undefined ? expandMacros(tx, starter.msg) : '',
    data: starter.logdata !== undefined ? expandMacros(tx, starter.logdata) : '',
    severity: starter.severity,
    tags: starter.tags,
    ver: starter.ver,
    match: rule.unconditional
      ? 'Unconditional match in SecAction.'
      : `Matched "Operator \`${opLabel(rule.opName)}' with parameter \`${clip(rule.opParam)}' against variable \`${t.name}' (Value: \`${clip(value)}' )"`,
    disruptive: d,
    enforced: enforce,
    log: starter.log,
  };
  tx.events.push(event);
  if (tx.onLog && starter.log) tx.onLog(formatLogLine(tx, event), event);
}

function opLabel(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

function clip(s: string): string {
  const c = s.length > 200 ? s.slice(0, 200) + '...' : s;
  return c.replace(/[^\x20-\x7e]/g, (ch) => '\\x' + ch.charCodeAt(0).toString(16).padStart(2, '0'));
}

function runAction(tx: Transaction, a: NdAction): void {
  switch (a.kind) {
    case 'setvar': {
      if (a.txKey !== undefined) {
        // TX with a constant name (CRS's init rules and scoring): no expansion, no lower-casing
        if (a.txEntry !== undefined) tx.txVars.set(a.txKey, a.txEntry);
        else if (a.op === 'delete') tx.txVars.delete(a.txKey);
        else {
          const value = expandMacros(tx, a.value);
          let v = value;
          if (a.op !== 'set') {
            const cur = atoi(tx.txVars.get(a.txKey)?.value ?? '0');
            v = String(a.op === 'add' ? cur + atoi(value) : cur - atoi(value));
          }
          tx.txVars.set(a.txKey, { name: a.name, value: v, target: undefined });
        }
        return;
      }
      const name = expandMacros(tx, a.name);
      if (a.op === 'delete') {
        tx.collectionDelete(a.collection, name);
        return;
      }
      const value = expandMacros(tx, a.value);
      if (a.op === 'set') {
        tx.collectionSet(a.collection, name, value);
        return;
      }
      const cur = atoi(tx.collectionGet(a.collection, name.toLowerCase())?.value ?? '0');
      const delta = atoi(value);
      tx.collectionSet(a.collection, name, String(a.op === 'add' ? cur + delta : cur - delta), true);
      return;
    }
    case 'expirevar':
      tx.collectionExpire(a.collection, expandMacros(tx, a.name), atoi(expandMacros(tx, a.seconds)));
      return;
    case 'initcol':
      tx.initCollection(a.collection, expandMacros(tx, a.key));
      return;
    case 'setenv':
      tx.env.set(expandMacros(tx, a.name), expandMacros(tx, a.value));
      return;
    case 'ctl':
      try {
        runCtl(tx, a);
      } catch {
        // a ctl value built from request data that does not parse: flag it, never throw
        tx.collectionSet('tx', 'MSC_CTL_ERROR', '1');
      }
      return;
  }
}

function runCtl(tx: Transaction, a: Extract<NdAction, { kind: 'ctl' }>): void {
  const value = expandMacros(tx, a.value);
  const pos = { file: tx.currentRule?.file ?? '<ctl>', line: tx.currentRule?.line ?? 0 };
  switch (a.name) {
    case 'ruleremovebyid':
      tx.removedIds.push(idMatcher(value, pos));
      return;
    case 'ruleremovebytag':
      tx.removedTags.push(compilePcre(value).re);
      return;
    case 'ruleremovetargetbyid': {
      tx.ruleTargetCache.clear();
      const ids = idMatcher(value.slice(0, value.indexOf(';')), pos);
      for (const target of a.targets) tx.removedTargets.push({ test: (r) => ids(r.id), target });
      return;
    }
    case 'ruleremovetargetbytag': {
      tx.ruleTargetCache.clear();
      const re = compilePcre(value.slice(0, value.indexOf(';'))).re;
      for (const target of a.targets) tx.removedTargets.push({ test: (r) => r.tags.some((t) => re.test(t)), target });
      return;
    }
    case 'ruleremovetargetbymsg': {
      tx.ruleTargetCache.clear();
      const re = compilePcre(value.slice(0, value.indexOf(';'))).re;
      for (const target of a.targets) tx.removedTargets.push({ test: (r) => r.msg !== undefined && re.test(r.msg), target });
      return;
    }
    case 'ruleremovebymsg': {
      const re = compilePcre(value).re;
      tx.removedIds.push((id) => {
        const r = tx.rules.byId.get(id);
        return r?.msg !== undefined && re.test(r.msg);
      });
      return;
    }
    case 'ruleengine': {
      const v = value.toLowerCase();
      tx.ruleEngine = v === 'on' ? 'On' : v === 'off' ? 'Off' : 'DetectionOnly';
      return;
    }
    case 'requestbodyaccess':
      tx.requestBodyAccess = value.toLowerCase() === 'on';
      return;
    case 'requestbodyprocessor':
      tx.requestBodyProcessorOverride = value.toUpperCase();
      return;
    case 'forcerequestbodyvariable':
      tx.forceRequestBodyVariable = value.toLowerCase() === 'on';
      return;
    default:
      // auditEngine, auditLogParts, requestBodyLimit, debugLogLevel…: audit/limits only
      return;
  }
}
