import { type CompiledPcre, compilePcre } from '../regex/compile.ts';
import { hasAnyByte } from '../regex/required.ts';
import type { Operator, OperatorTx } from './types.ts';

/**
 * Regex input caps. Backtracking is bounded by V8's linear-engine fallback (regex/guard.ts),
 * but many CRS patterns are still quadratic in the input length without backtracking much
 * (each start position scans far ahead): measured on 64 KiB of `<a <a …` or `((((…`, single
 * patterns took 0.4–3.7 s. ModSecurity bounds the same work with its PCRE match limit (the
 * match fails). We match on the first bytes of long values instead: 8 KiB for patterns the
 * guard covers, 4 KiB for the 14 it cannot; the worst 64 KiB request measured at PL4 then
 * costs ~0.1–0.3 s instead of seconds. A long value is matched in overlapping windows of that
 * size (WINDOW_OVERLAP bytes shared by neighbours, longer than any CRS attack pattern needs), so a
 * payload placed after kilobytes of padding is still seen; the work stays linear in the value's
 * length. A pattern with a `^` anchor only matches in the first window and one with `$` only in
 * the last (in a middle window they would mean "window start/end", a false match); a pattern
 * with both is matched on the first window, as before.
 */
export const GUARDED_INPUT_CAP = 8 * 1024;
export const UNGUARDED_INPUT_CAP = 4 * 1024;
export const WINDOW_OVERLAP = 1024;
/** At most this many bytes of one value are matched (64 windows); ModSecurity's body limits are lower. */
export const MAX_WINDOWED_BYTES = 512 * 1024;
/**
 * CPU one transaction may spend on windows past the first, all @rx rules together. Benign long
 * values cost little (prefilters skip most windows); crafted ones (64 KiB of `'`) would cost
 * seconds at PL4. Past the budget the remaining windows are skipped and TX:MSC_PCRE_LIMITS_EXCEEDED
 * is set — what ModSecurity does when PCRE's match limit is hit; the edge's default rules deny on it
 * after the CRS (rule 200006, edge waf-config.ts), so an attacker can't buy a bypass with padding.
 */
export const WINDOW_BUDGET_MS = 50;
const windowSpent = new WeakMap<OperatorTx, number>();

const anchors = new Map<string, { start: boolean; end: boolean }>();
/** Whether a translated pattern uses `^` / `$` as anchors (outside classes, unescaped). */
function anchorsOf(re: RegExp): { start: boolean; end: boolean } {
  let a = anchors.get(re.source);
  if (a) return a;
  a = { start: false, end: false };
  const src = re.source;
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const ch = src[i];
    if (ch === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (ch === ']') inClass = false;
      continue;
    }
    if (ch === '[') inClass = true;
    else if (ch === '^') a.start = true;
    else if (ch === '$') a.end = true;
  }
  if (anchors.size > 4096) anchors.clear();
  anchors.set(re.source, a);
  return a;
}

export const rx: Operator = {
  name: 'rx',
  literals: (param) => (param.includes('%{') ? undefined : compilePcre(param).prefilter),
  compile(param) {
    if (param.includes('%{')) {
      // the pattern depends on transaction data: compile (cached, bounded) per distinct value;
      // a pattern that does not compile is a ModSecurity internal error, not a match
      return (input, tx) => {
        let c: CompiledPcre;
        try {
          c = compilePcre(tx.expand(param));
        } catch {
          tx.flagInternal('MSC_PCRE_ERROR');
          return false;
        }
        return exec(c, input, tx);
      };
    }
    const c = compilePcre(param);
    return (input, tx) => exec(c, input, tx);
  },
};

const lowered = new Map<string, string>();

/** toLowerCase is per-char on latin1 strings, so literal ⊂ value ⇒ lower(literal) ⊂ lower(value) */
function lower(s: string): string {
  let l = lowered.get(s);
  if (l === undefined) {
    if (lowered.size > 4096) lowered.clear();
    l = s.toLowerCase();
    lowered.set(s, l);
  }
  return l;
}

function exec(c: CompiledPcre, input: string, tx: OperatorTx): boolean {
  const cap = c.linearSafe ? GUARDED_INPUT_CAP : UNGUARDED_INPUT_CAP;
  if (input.length <= cap) return execWindow(c, input, tx);
  const a = anchorsOf(c.re);
  // `^…` (with or without `$`): the value's start; `…$` only: its end; unanchored: every window
  if (a.start) return execWindow(c, input.slice(0, cap), tx);
  if (a.end) return execWindow(c, input.slice(input.length - cap), tx);
  const len = Math.min(input.length, MAX_WINDOWED_BYTES);
  if (execWindow(c, input.slice(0, cap), tx)) return true;
  for (let at = cap - WINDOW_OVERLAP; at < len - WINDOW_OVERLAP; at += cap - WINDOW_OVERLAP) {
    const spent = windowSpent.get(tx) ?? 0;
    if (spent > WINDOW_BUDGET_MS) {
      tx.flagInternal('MSC_PCRE_LIMITS_EXCEEDED');
      return false;
    }
    const t0 = performance.now();
    const hit = execWindow(c, input.slice(at, at + cap), tx);
    windowSpent.set(tx, spent + performance.now() - t0);
    if (hit) return true;
  }
  return false;
}

function execWindow(c: CompiledPcre, s: string, tx: OperatorTx): boolean {
  // necessary conditions (regex/required.ts): too short, or none of the bytes a match needs
  if (s.length < c.minLength || (c.requiredBytes !== undefined && !hasAnyByte(s, c.requiredBytes))) return false;
  if (c.prefilter) {
    const l = lower(s);
    let hit = false;
    for (const lit of c.prefilter) {
      if (l.includes(lit)) {
        hit = true;
        break;
      }
    }
    if (!hit) return false;
  }
  if (!tx.capturing) return c.re.test(s);
  const m = c.re.exec(s);
  if (!m) return false;
  const groups: Array<string | undefined> = [];
  for (let g = 0; g < 10 && g < c.groupMap.length; g++) groups.push(m[c.groupMap[g]!]);
  tx.setCaptures(groups);
  return true;
}
