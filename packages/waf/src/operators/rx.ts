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
 * costs ~0.1–0.3 s instead of seconds. Cost: a payload placed after that many bytes of one
 * value is not seen by @rx rules (the other operators still see it). Windowed matching would
 * close that gap; see README.
 */
export const GUARDED_INPUT_CAP = 8 * 1024;
export const UNGUARDED_INPUT_CAP = 4 * 1024;

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
  const s = input.length <= cap ? input : input.slice(0, cap);
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
