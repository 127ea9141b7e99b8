/**
 * Rule targets → the values a rule inspects: collection expansion, key and regex selection,
 * `&` counting, `!` exclusions, and per-transaction exclusions (ctl:ruleRemoveTargetBy…).
 */
import type { Arg } from '../body/types.ts';
import type { Variable } from '../variables/registry.ts';
import type { Rule, TargetSpec } from './model.ts';
import type { Entry, Transaction } from './transaction.ts';

export interface Target {
  /** upper-cased variable name */
  coll: string;
  /** key within the collection (original case), undefined for scalars and counts */
  key: string | undefined;
  /** ModSecurity display name, e.g. `ARGS:id`, `REQUEST_FILENAME`, `&TX:foo` */
  name: string;
  value: string;
  /** Transaction.valueId of `value`, valid in the transaction whose serial is `vtx` (evaluate.ts) */
  vid?: number;
  vtx?: number;
}

function excluded(spec: TargetSpec, t: Target): boolean {
  if (spec.name !== t.coll) return false;
  if (spec.lkey === undefined && spec.re === undefined) return true;
  if (t.key === undefined) return false;
  if (spec.lkey !== undefined) return spec.lkey === t.key.toLowerCase();
  return keySelected(spec, t.key);
}

/** The key matches the spec's (case-insensitive) key regex; a literal one is compared directly. */
export function keySelected(spec: TargetSpec, key: string): boolean {
  const lit = spec.keyLiteral;
  if (lit === undefined) return spec.re!.re.test(key);
  const text = lit.text;
  const last = lit.anchored ? 0 : key.length - text.length;
  for (let at = 0; at <= last; at++) {
    let i = 0;
    for (; i < text.length; i++) {
      let c = key.charCodeAt(at + i);
      // (?i) folds ASCII letters only (bytes >= 0x80 are not case-folded, as PCRE in the C locale)
      if (c >= 65 && c <= 90) c += 32;
      if (c !== text.charCodeAt(i)) break;
    }
    if (i === text.length) return true;
  }
  return false;
}

function select(tx: Transaction, spec: TargetSpec, out: Target[]): void {
  const v = spec.variable;
  if (v.persistent && spec.lkey !== undefined && !spec.count) {
    // hot path: TX:name (CRS's paranoia-level and scoring rules)
    const e = tx.collectionGet(v.persistent, spec.lkey);
    if (e) out.push(stableTarget(spec.name, e));
    return;
  }
  if (!v.volatile && spec.index >= 0) {
    const cached = cachedTargets(tx, spec);
    for (let i = 0; i < cached.length; i++) out.push(cached[i]!);
    return;
  }
  selectFresh(tx, v, spec, out);
}

/**
 * The targets of a non-volatile selection: that data only changes between phases, so they are
 * built once per phase (Transaction.targetCache, by TargetSpec.index).
 */
export function cachedTargets(tx: Transaction, spec: TargetSpec): Target[] {
  let cached = tx.targetCache.get(spec.index);
  if (cached === undefined) {
    cached = [];
    selectFresh(tx, spec.variable, spec, cached);
    tx.targetCache.set(spec.index, cached);
  }
  return cached;
}

function selectFresh(tx: Transaction, v: Variable, spec: TargetSpec, out: Target[]): void {
  if (v.value) {
    if (spec.count) {
      out.push({ coll: spec.name, key: undefined, name: '&' + spec.name, value: v.value(tx) === undefined ? '0' : '1' });
      return;
    }
    const val = v.value(tx);
    if (val !== undefined) out.push({ coll: spec.name, key: undefined, name: spec.name, value: val });
    return;
  }
  let entries: readonly Arg[];
  if (spec.lkey !== undefined) entries = v.lookup!(tx, spec.lkey);
  else {
    entries = v.entries!(tx);
    if (spec.re) entries = entries.filter((e) => keySelected(spec, e.name));
  }
  if (spec.count) {
    const label = spec.key !== undefined ? `:${spec.key}` : spec.keyRegex !== undefined ? `:/${spec.keyRegex}/` : '';
    out.push({ coll: spec.name, key: undefined, name: `&${spec.name}${label}`, value: String(entries.length) });
    return;
  }
  if (v.volatile) {
    // TX/IP/…: stored entries are replaced on every change, so a Target per entry object stays valid
    for (const e of entries) out.push(stableTarget(spec.name, e));
    return;
  }
  for (const e of entries) out.push({ coll: spec.name, key: e.name, name: `${spec.name}:${e.name}`, value: e.value });
}

/** TX/IP/… entries are replaced on every change, so the Target built for an entry stays valid. */
export function stableTarget(coll: string, e: Entry): Target {
  let t = e.target;
  if (t === undefined || t.coll !== coll) {
    t = { coll, key: e.name, name: `${coll}:${e.name}`, value: e.value };
    e.target = t;
  }
  return t;
}

export function collectTargets(tx: Transaction, rule: Rule): Target[] {
  // a rule over non-volatile variables sees the same targets for the whole phase; rules with
  // the same target list share them, unless a ctl removed targets (removals are per rule)
  if (rule.cacheTargets) {
    if (tx.removedTargets.length === 0) {
      let cached = tx.sharedTargetCache.get(rule.targetsIndex);
      if (cached === undefined) {
        cached = collectFresh(tx, rule);
        tx.sharedTargetCache.set(rule.targetsIndex, cached);
      }
      return cached;
    }
    let cached = tx.ruleTargetCache.get(rule);
    if (!cached) {
      cached = collectFresh(tx, rule);
      tx.ruleTargetCache.set(rule, cached);
    }
    return cached;
  }
  return collectFresh(tx, rule);
}

function collectFresh(tx: Transaction, rule: Rule): Target[] {
  const out: Target[] = [];
  let hasExclusions = false;
  for (const spec of rule.targets) {
    if (spec.exclude) hasExclusions = true;
    else select(tx, spec, out);
  }
  const removed = tx.removedTargets.length > 0 ? tx.removedTargets.filter((r) => r.test(rule)) : [];
  if (!hasExclusions && removed.length === 0) return out;
  return out.filter((t) => {
    if (t.key === undefined && t.name.startsWith('&')) return true;
    for (const spec of rule.targets) if (spec.exclude && excluded(spec, t)) return false;
    for (const r of removed) if (excluded(r.target, t)) return false;
    return true;
  });
}
