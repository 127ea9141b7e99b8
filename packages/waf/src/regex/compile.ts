import { installRegexGuard, isLinearSafe } from './guard.ts';
import { translatePcre } from './pcre.ts';
import { prefilterFor } from './prefilter.ts';
import { requiredOf } from './required.ts';

export interface CompiledPcre {
  pattern: string;
  re: RegExp;
  /** groupMap[n] = JS group index of PCRE group n */
  groupMap: number[];
  /** the backtracking guard covers this pattern */
  linearSafe: boolean;
  /** lower-cased literals a match must contain one of (prefilter.ts), if any */
  prefilter: string[] | undefined;
  /** no match is shorter (required.ts) */
  minLength: number;
  /** bytes a match contains one of (required.ts), if known */
  requiredBytes: Uint8Array | undefined;
}

const cache = new Map<string, CompiledPcre>();

/** Compiles a PCRE pattern (ModSecurity @rx semantics) once; identical patterns share a RegExp. */
export function compilePcre(pattern: string): CompiledPcre {
  let c = cache.get(pattern);
  if (c) return c;
  installRegexGuard();
  const t = translatePcre(pattern);
  const re = new RegExp(t.source, t.flags);
  // patterns built from macros at request time must not grow the cache without bound
  if (cache.size >= 10_000) cache.clear();
  const req = requiredOf(t.source, t.flags);
  c = {
    pattern,
    re,
    groupMap: t.groupMap,
    linearSafe: isLinearSafe(t.source, t.flags),
    prefilter: prefilterFor(t.source),
    minLength: req.minLength,
    requiredBytes: req.bytes,
  };
  cache.set(pattern, c);
  return c;
}
