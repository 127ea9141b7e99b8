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
  return spec.re!.re.test(t.key);
}

function select(tx: Transaction, spec: TargetSpec, out: Target[]): void {
  const v = spec.variable;
  if (v.persistent && spec.lkey !== undefined && !spec.count) {
    // hot path: TX:name (CRS's paranoia-level and scoring rules)
    const e = tx.collectionGet(v.persistent, spec.lkey);
    if (e) out.push(stableTarget(spec.name, e));
    return;
  }
  if (!v.volatile) {
    // non-volatile data only changes between phases: build the targets once per phase
    let cached = tx.targetCache.get(spec.cacheKey);
    if (!cached) {
      cached = [];
      selectFresh(tx, v, spec, cached);
      tx.targetCache.set(spec.cacheKey, cached);
    }
    for (const t of cached) out.push(t);
    return;
  }
  selectFresh(tx, v, spec, out);
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
    if (spec.re) {
      const re = spec.re.re;
      entries = entries.filter((e) => re.test(e.name));
    }
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

/** The rule's targets before `!` exclusions and ctl removals (a superset, for prefiltering). */
export function collectUnfiltered(tx: Transaction, rule: Rule): Target[] {
  const out: Target[] = [];
  for (const spec of rule.targets) if (!spec.exclude) select(tx, spec, out);
  return out;
}

export function collectTargets(tx: Transaction, rule: Rule): Target[] {
  // a rule over non-volatile variables sees the same targets for the whole phase; rules with
  // the same target list share them, unless a ctl removed targets (removals are per rule)
  if (rule.cacheTargets) {
    if (tx.removedTargets.length === 0) {
      let cached = tx.sharedTargetCache.get(rule.targetsKey);
      if (!cached) {
        cached = collectFresh(tx, rule);
        tx.sharedTargetCache.set(rule.targetsKey, cached);
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
