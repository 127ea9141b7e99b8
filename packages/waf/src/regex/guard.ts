/**
 * Catastrophic-backtracking guard.
 *
 * V8 can switch a regex from its backtracking engine to its linear-time engine (no
 * backreferences/lookaround) once a match has backtracked more than N times. We turn that on
 * process-wide when the WAF loads: measured on Node 24, `^(a+)+b$` against 30×'a'+'c' runs
 * > 20 s without it and ~1 ms with a 10 000-backtrack budget. The switch changes only speed,
 * never the result, for the patterns the linear engine accepts; `compileGuarded` reports the
 * patterns it cannot protect (they keep lookarounds or backreferences), which is why callers
 * also cap the input length for those (see operators/rx.ts).
 */
import v8 from 'node:v8';

export const BACKTRACKS_BEFORE_FALLBACK = 10_000;
let installed = false;

export function installRegexGuard(): void {
  if (installed) return;
  installed = true;
  v8.setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
  v8.setFlagsFromString(`--regexp-backtracks-before-fallback=${BACKTRACKS_BEFORE_FALLBACK}`);
  // lets us ask V8 whether a pattern is linear-engine compatible (the `l` flag)
  v8.setFlagsFromString('--enable-experimental-regexp-engine');
}

/** True when V8's linear engine accepts the pattern, i.e. the fallback protects it. */
export function isLinearSafe(source: string, flags: string): boolean {
  installRegexGuard();
  try {
    new RegExp(source, flags + 'l');
    return true;
  } catch {
    return false;
  }
}
