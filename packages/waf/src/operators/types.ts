/**
 * Operator contract. `compile` runs once per rule at config load (so data files, regexes and
 * Aho-Corasick automata are built once); the returned function runs per value.
 *
 * Example: operators.get('streq')!.compile('POST', ctx)('POST', tx) === true
 */
export interface OperatorTx {
  /** expands %{…} macros against the transaction */
  expand(text: string): string;
  /** stores TX.0–TX.9 when the rule has `capture` */
  setCaptures(groups: ReadonlyArray<string | undefined>): void;
  /** the rule being evaluated asked for `capture` */
  readonly capturing: boolean;
  /** marks a ModSecurity internal error (e.g. TX:MSC_PCRE_LIMITS_EXCEEDED) */
  flagInternal(name: string): void;
}

export interface CompileContext {
  /** directory of the rule's file, for @pmFromFile / @ipMatchFromFile */
  dir: string;
  readFile(file: string): string;
}

export type OperatorFn = (input: string, tx: OperatorTx) => boolean;

export interface Operator {
  /** name as written after `@` (case-insensitive lookup) */
  readonly name: string;
  compile(param: string, ctx: CompileContext): OperatorFn;
  /**
   * Optional: lower-cased (String#toLowerCase) literals such that a match implies the input's
   * lower-cased form contains one of them; undefined when no such set is known. Lets the engine
   * skip a rule without running it (engine/prefilter-groups.ts).
   */
  literals?(param: string, ctx: CompileContext): string[] | undefined;
}

/** When the parameter holds macros it is expanded per transaction, else used as is. */
export function withMacros(param: string, fn: (p: string, input: string) => boolean): OperatorFn {
  if (!param.includes('%{')) return (input) => fn(param, input);
  return (input, tx) => fn(tx.expand(param), input);
}

/** C atoi(): leading whitespace, optional sign, digits; anything else → 0. */
export function atoi(s: string): number {
  // fast path: a short plain decimal (CRS scores and levels) needs no regex
  if (s.length > 0 && s.length < 10) {
    let v = 0;
    let i = 0;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      v = v * 10 + c;
    }
    if (i === s.length) return v;
  }
  const m = /^[\t\n\v\f\r ]*([+-]?\d+)/.exec(s);
  if (!m) return 0;
  const v = Number.parseInt(m[1]!, 10);
  return Number.isFinite(v) ? v : 0;
}
