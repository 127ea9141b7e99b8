/**
 * Compile-time constant folding of TX conditions.
 *
 * CRS guards every paranoia-level block with
 *   SecRule TX:EXECUTING_PARANOIA_LEVEL "@lt 2" "id:911013,phase:2,pass,nolog,skipAfter:END-…"
 * and TX:executing_paranoia_level comes from SecActions and init rules that only read other
 * configured TX values. This pass interprets the rule list abstractly, phase by phase in
 * execution order, tracking each TX variable as unset, a known constant, or unknown. A rule
 * whose targets are all TX:key / &TX:key with known state and whose operator is pure gets a
 * fixed outcome: 'never' (skipped at run time) or 'always' (its recorded matches are replayed,
 * so actions, logging, MATCHED_VAR and skipAfter behave exactly as before). At PL1 the PL2–4
 * blocks are then skipped without evaluating a single rule.
 *
 * Soundness, i.e. a folded outcome is the outcome in every transaction:
 * - a rule that is not folded is "dynamic": every TX variable it may write becomes unknown
 *   (for a setvar name with a macro, every name its literal parts allow), and so do TX:0–9 and the MSC_* flags
 *   operators and ctl set behind the rules' backs;
 * - skip/skipAfter of a rule that may match join the state at the jump target; a rule that
 *   always jumps makes the rules up to the target unreachable;
 * - `allow` (phase/request) joins the state into the start of the next phase / phase 3;
 *   interventions only lead to phase 5, which is never folded (processLogging may run it
 *   without the earlier phases);
 * - rules a runtime ctl may remove (ruleRemoveBy…/ruleRemoveTargetBy… anywhere in the set,
 *   any ctl value holding a macro counts as "every rule") are never folded and their writes
 *   are treated as maybe-happening;
 * - operator parameters with macros are expanded from known TX values, or the rule is dynamic;
 * - the transaction runs phases 1–4 in order (transaction.ts), so a phase starts from the
 *   state its predecessor ended with.
 */
import type { OperatorTx } from '../operators/registry.ts';
import { atoi } from '../operators/types.ts';
import { compilePcre } from '../regex/compile.ts';
import { idMatcher } from './compile.ts';
import type { NdAction, Rule, RuleSet } from './model.ts';

type Known = { name: string; value: string };
/** null = unset; TOP = unknown */
type Val = Known | null | typeof TOP;
const TOP = 'top' as const;

/** TX variables written outside setvar: captures (TX:0–9) and internal error flags. */
const IMPLICIT = [
  '0',
  '1',
  '2',
  '3',
  '4',
  '5',
  '6',
  '7',
  '8',
  '9',
  'msc_pcre_error',
  'msc_ctl_error',
  'msc_pcre_limits_exceeded',
];

/** Operators whose result depends only on the input (and the parameter when it has no macro). */
const PURE_OPS = new Set([
  'eq',
  'ge',
  'gt',
  'le',
  'lt',
  'streq',
  'within',
  'beginsWith',
  'endsWith',
  'contains',
  'containsWord',
  'rx',
  'pm',
  'unconditionalMatch',
  'noMatch',
]);

class State {
  /** variables not in `vars` (nor matched by `patterns`) are unknown when true, unset when false */
  top = false;
  vars = new Map<string, Val>();
  /** names a setvar with a macro in its name may have written (those are unknown) */
  patterns: RegExp[] = [];

  get(lkey: string): Val {
    const v = this.vars.get(lkey);
    if (v !== undefined) return v;
    if (this.top) return TOP;
    for (const p of this.patterns) if (p.test(lkey)) return TOP;
    return null;
  }

  set(lkey: string, v: Val): void {
    this.vars.set(lkey, v);
  }

  /** A setvar whose name is a macro template, e.g. `tx.%{rule.id}-OWASP_CRS/…`. */
  havocTemplate(name: string): void {
    const source = name
      .toLowerCase()
      .split(/%\{[^}]+\}/)
      .map((lit) => lit.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'))
      .join('.*');
    const re = new RegExp(`^${source}$`, 's');
    for (const k of this.vars.keys()) if (re.test(k)) this.vars.set(k, TOP);
    if (!this.patterns.some((p) => p.source === re.source)) this.patterns = [...this.patterns, re];
  }

  clone(): State {
    const s = new State();
    s.top = this.top;
    s.vars = new Map(this.vars);
    s.patterns = this.patterns;
    return s;
  }
}

function same(a: Val, b: Val): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === TOP || b === TOP) return false;
  return a.name === b.name && a.value === b.value;
}

/** Least upper bound; undefined is "unreachable". */
function join(a: State | undefined, b: State | undefined): State | undefined {
  if (a === undefined) return b?.clone();
  if (b === undefined) return a;
  const out = new State();
  out.top = a.top || b.top;
  out.patterns = [...a.patterns, ...b.patterns.filter((p) => !a.patterns.some((q) => q.source === p.source))];
  for (const k of new Set([...a.vars.keys(), ...b.vars.keys()])) {
    const va = a.get(k);
    out.set(k, same(va, b.get(k)) ? va : TOP);
  }
  return out;
}

/** A runtime rule removal some ctl in the set can perform (ruleRemoveBy… / ruleRemoveTargetBy…). */
interface Removal {
  id: number;
  /** removes targets (changes a rule's outcome) rather than whole rules */
  targets: boolean;
  /** the selector is literal: `starter` is exact, not just a superset (macros: any rule) */
  exact: boolean;
  /** the removal applies to this chain starter (exactly what Transaction.isRemoved checks) */
  starter: (r: Rule) => boolean;
}

const removals = new WeakMap<NdAction, Removal | null>();
let removalIds = 0;

/** The removal a ctl action performs, or null when it is not a removal or never takes effect. */
function removalOf(a: NdAction): Removal | null {
  if (a.kind !== 'ctl' || !a.name.startsWith('ruleremove')) return null;
  let r = removals.get(a);
  if (r !== undefined) return r;
  const targets = a.name.startsWith('ruleremovetarget');
  const sel = targets ? a.value.slice(0, Math.max(0, a.value.indexOf(';'))) : a.value;
  let test: ((x: Rule) => boolean) | undefined;
  if (a.value.includes('%{')) test = () => true;
  else
    try {
      if (a.name.endsWith('byid')) {
        const ids = idMatcher(sel, { file: '<fold>', line: 0 });
        test = (x) => ids(x.id);
      } else {
        const re = compilePcre(sel).re;
        test = a.name.endsWith('bytag') ? (x) => x.tags.some((t) => re.test(t)) : (x) => x.msg !== undefined && re.test(x.msg);
      }
    } catch {
      // the runtime flags MSC_CTL_ERROR and removes nothing
    }
  r = test ? { id: removalIds++, targets, exact: !a.value.includes('%{'), starter: test } : null;
  removals.set(a, r);
  return r;
}

function chainRemovals(starter: Rule): Removal[] {
  const out: Removal[] = [];
  for (let l: Rule | undefined = starter; l; l = l.chain)
    for (const a of l.actions) {
      const r = removalOf(a);
      if (r) out.push(r);
    }
  return out;
}

/**
 * One class of transactions reaching a program point: removals certainly performed (`sure`),
 * removals possibly performed (`maybe`, ⊇ sure), and the TX state. Keeping the transactions in
 * which e.g. the CRS test marker removed every rule apart from the others keeps the others exact.
 */
interface Config {
  sure: Removal[];
  maybe: Removal[];
  vars: State;
}

const MAX_CONFIGS = 8;

function key(rs: Removal[]): string {
  return rs
    .map((r) => r.id)
    .sort((a, b) => a - b)
    .join(',');
}

function union(a: Removal[], b: Removal[]): Removal[] {
  const out = a.slice();
  for (const r of b) if (!out.includes(r)) out.push(r);
  return out;
}

/** Merges configurations with the same removals; past MAX_CONFIGS, everything into one. */
function normalize(cs: Config[]): Config[] {
  const byKey = new Map<string, Config>();
  for (const c of cs) {
    const k = key(c.sure) + '/' + key(c.maybe);
    const prev = byKey.get(k);
    byKey.set(k, prev ? { sure: prev.sure, maybe: prev.maybe, vars: join(prev.vars, c.vars)! } : c);
  }
  const out = [...byKey.values()];
  if (out.length <= MAX_CONFIGS) return out;
  let merged = out[0]!;
  for (const c of out.slice(1))
    merged = {
      sure: merged.sure.filter((r) => c.sure.includes(r)),
      maybe: union(merged.maybe, c.maybe),
      vars: join(merged.vars.clone(), c.vars)!,
    };
  return [merged];
}

function cloneConfig(c: Config, extra: Removal[] = [], sure = false): Config {
  return {
    sure: sure
      ? union(
          c.sure,
          extra.filter((r) => r.exact),
        )
      : c.sure,
    maybe: union(c.maybe, extra),
    vars: c.vars.clone(),
  };
}

/** The operator's view of a transaction during folding: macros over known TX values only. */
function staticTx(s: State): OperatorTx {
  return {
    capturing: false,
    expand: (text) => {
      const v = staticExpand(text, s);
      if (v === undefined) throw new Error('unknown macro');
      return v;
    },
    setCaptures: () => {
      throw new Error('capture');
    },
    flagInternal: () => {
      throw new Error('internal');
    },
  };
}

/** The link's matches (display name, transformed value) in this state, or undefined if unknown. */
function staticMatches(l: Rule, s: State): Known[] | undefined {
  if (l.unconditional) return [{ name: '', value: '' }];
  if (!PURE_OPS.has(l.opName) || l.capture || l.multiMatch || l.targets.length === 0) return undefined;
  const values: Known[] = [];
  for (const t of l.targets) {
    if (t.exclude || t.variable.persistent !== 'tx' || t.lkey === undefined) return undefined;
    const v = s.get(t.lkey);
    if (v === TOP) return undefined;
    if (t.count) values.push({ name: `&${t.name}:${t.key}`, value: v === null ? '0' : '1' });
    else if (v !== null) values.push({ name: `${t.name}:${v.name}`, value: v.value });
  }
  const out: Known[] = [];
  const otx = staticTx(s);
  try {
    for (const t of values) {
      let v = t.value;
      for (const tr of l.transforms) v = tr.apply(v);
      if (l.op(v, otx) !== l.negated) out.push({ name: t.name, value: v });
    }
  } catch {
    return undefined;
  }
  return out;
}

/** expandMacros over a known state; undefined when any macro is not a known TX value. */
function staticExpand(text: string, s: State): string | undefined {
  if (!text.includes('%{')) return text;
  let unknown = false;
  const out = text.replace(/%\{([^}]+)\}/g, (_m, ref: string) => {
    const dot = ref.indexOf('.');
    const v = dot > 0 && ref.slice(0, dot).toUpperCase() === 'TX' ? s.get(ref.slice(dot + 1).toLowerCase()) : TOP;
    if (v === TOP) {
      unknown = true;
      return '';
    }
    return v === null ? '' : v.value;
  });
  return unknown ? undefined : out;
}

/** TX writes of one match of the link: exact when `definite`, else they make values unknown. */
function applyWrites(actions: NdAction[], s: State, definite: boolean): void {
  for (const a of actions) {
    if (a.kind !== 'setvar' || a.collection !== 'tx') continue;
    if (a.name.includes('%{')) {
      s.havocTemplate(a.name);
      continue;
    }
    const lkey = a.name.toLowerCase();
    if (!definite) {
      s.set(lkey, TOP);
      continue;
    }
    if (a.op === 'delete') {
      s.set(lkey, null);
      continue;
    }
    const value = staticExpand(a.value, s);
    if (value === undefined) {
      s.set(lkey, TOP);
      continue;
    }
    if (a.op === 'set') {
      s.set(lkey, { name: a.name, value });
      continue;
    }
    const cur = s.get(lkey);
    if (cur === TOP) {
      s.set(lkey, TOP);
      continue;
    }
    const n = atoi(cur === null ? '0' : cur.value);
    const d = atoi(value);
    s.set(lkey, { name: a.name, value: String(a.op === 'add' ? n + d : n - d) });
  }
}

function havocChain(starter: Rule, s: State): void {
  for (let l: Rule | undefined = starter; l; l = l.chain) applyWrites(l.actions, s, false);
  for (const k of IMPLICIT) s.set(k, TOP);
}

/** Index the runtime resumes at after the rule at i jumps (list length = end of phase). */
function jumpTarget(list: Rule[], i: number, r: Rule): number {
  if (r.skipAfter !== undefined) {
    for (let j = i + 1; j < list.length; j++) if (list[j]!.marker === r.skipAfter) return j;
    return list.length;
  }
  let count = 0;
  for (let j = i + 1; j < list.length; j++) {
    if (list[j]!.marker !== undefined) continue;
    if (count === r.skip) return j;
    count++;
  }
  return list.length;
}

type Fold = Array<[Rule, Known[]]>;

/** The chain's outcome in one state; writes of matched links are applied to `s`. */
function evalChainStatic(starter: Rule, s: State): { outcome: 'true' | 'false' | 'dynamic'; folds: Fold } {
  const folds: Fold = [];
  for (let l: Rule | undefined = starter; l; l = l.chain) {
    const m = staticMatches(l, s);
    if (m === undefined) return { outcome: 'dynamic', folds };
    folds.push([l, m]);
    for (let k = 0; k < m.length; k++) applyWrites(l.actions, s, true);
    if (m.length === 0) return { outcome: 'false', folds };
  }
  return { outcome: 'true', folds };
}

function sameFolds(a: Fold, b: Fold): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const [la, ma] = a[i]!;
    const [lb, mb] = b[i]!;
    if (la !== lb || ma.length !== mb.length) return false;
    for (let k = 0; k < ma.length; k++) if (ma[k]!.name !== mb[k]!.name || ma[k]!.value !== mb[k]!.value) return false;
  }
  return true;
}

export function foldConstants(rs: RuleSet): RuleSet['foldStats'] {
  const stats = { always: 0, never: 0, dead: 0 };
  const dead = new Set<Rule>();
  const initial = new State();
  for (const k of IMPLICIT) initial.set(k, TOP);
  // configurations flowing into the start of phases 2–4 (allow:phase / allow:request)
  const into: Config[][] = [[], [{ sure: [], maybe: [], vars: initial }], [], [], [], []];
  for (let phase = 1; phase <= 4; phase++) {
    const list = rs.phases[phase]!;
    let cur: Config[] = normalize(into[phase]!);
    const joins = new Map<number, Config[]>();
    const addJoin = (at: number, c: Config) => joins.set(at, [...(joins.get(at) ?? []), c]);
    for (let i = 0; i <= list.length; i++) {
      const incoming = joins.get(i);
      if (incoming) cur = normalize([...cur, ...incoming]);
      if (i === list.length) break;
      const r = list[i]!;
      if (r.marker !== undefined) continue;
      const next: Config[] = [];
      // outcome per configuration in which the rule may run; folded only if all agree
      let agreed: Fold | undefined;
      let foldable = true;
      let runs = false;
      const ctls = chainRemovals(r);
      for (const c of cur) {
        if (c.sure.some((x) => !x.targets && x.starter(r))) {
          // removed by a ctl in every transaction of this configuration: the rule does not run
          next.push(c);
          continue;
        }
        runs = true;
        const maybeRemoved = c.maybe.some((x) => !x.targets && x.starter(r));
        const targetsChanged = c.maybe.some((x) => {
          if (!x.targets) return false;
          for (let l: Rule | undefined = r; l; l = l.chain) if (x.starter(l) || x.starter(r)) return true;
          return false;
        });
        const work = c.vars.clone();
        const ev = targetsChanged ? { outcome: 'dynamic' as const, folds: [] } : evalChainStatic(r, work);
        if (ev.outcome === 'dynamic') foldable = false;
        else if (agreed === undefined) agreed = ev.folds;
        else if (!sameFolds(agreed, ev.folds)) foldable = false;
        const exact = ev.outcome !== 'dynamic' && !maybeRemoved;
        if (exact && ev.outcome === 'false') {
          c.vars = work;
          next.push(c);
          continue;
        }
        if (!exact) havocChain(r, c.vars);
        else c.vars = work;
        // the rule matched (exact) or may have: its ctl removals, allow and jumps
        let fired: Config[];
        if (ctls.length === 0) fired = [c];
        else if (exact && !r.chain) fired = [cloneConfig(c, ctls, true)];
        else if (!r.chain) fired = [c, cloneConfig(c, ctls, true)];
        else fired = [cloneConfig(c, ctls)];
        for (const f of fired) {
          if (r.disruptive === 'allow') {
            if (r.allowScope === 'phase' && phase < 4) into[phase + 1]!.push(cloneConfig(f));
            else if (r.allowScope === 'request' && phase <= 2) into[3]!.push(cloneConfig(f));
          }
          if (r.skipAfter !== undefined || r.skip > 0) {
            addJoin(jumpTarget(list, i, r), exact ? f : cloneConfig(f));
            if (exact) continue;
          }
          next.push(f);
        }
      }
      if (!runs) {
        stats.dead++;
        dead.add(r);
      } else if (foldable && agreed !== undefined)
        for (const [l, m] of agreed) {
          if (l.unconditional) continue;
          l.folded = m.length > 0 ? 'always' : 'never';
          l.foldedMatches = m.map((x) => ({ coll: '', key: undefined, name: x.name, value: x.value }));
          l.foldedVars = m.map((x) => ({ name: x.name, value: x.value }));
          if (m.length > 0) stats.always++;
          else stats.never++;
        }
      cur = normalize(next);
    }
    if (phase < 4) into[phase + 1]!.push(...cur);
  }
  for (let phase = 1; phase <= 4; phase++)
    rs.phases[phase] = prune(rs.phases[phase]!, (r) => dead.has(r) || r.folded === 'never');
  // a marker no remaining rule of its phase skips to does nothing
  for (let phase = 1; phase <= 5; phase++) {
    const targets = new Set(rs.phases[phase]!.map((r) => r.skipAfter).filter((m) => m !== undefined));
    rs.phases[phase] = rs.phases[phase]!.filter((r) => r.marker === undefined || targets.has(r.marker));
  }
  return stats;
}

/**
 * Drops rules that never run or never match from a phase list: neither has an observable
 * effect (every chain starts by resetting MATCHED_VARS). Markers stay for skipAfter; skip:N
 * counts are recounted over the rules that remain in their window.
 */
function prune(list: Rule[], drop: (r: Rule) => boolean): Rule[] {
  const keep = list.map((r) => r.marker !== undefined || !drop(r));
  for (let i = 0; i < list.length; i++) {
    const r = list[i]!;
    if (!keep[i] || r.skip === 0) continue;
    let seen = 0;
    let kept = 0;
    for (let j = i + 1; j < list.length && seen < r.skip; j++) {
      if (list[j]!.marker !== undefined) continue;
      seen++;
      if (keep[j]) kept++;
    }
    // all dropped: skipping nothing is the same as skipping them
    r.skip = kept;
  }
  return list.filter((_, i) => keep[i]);
}
