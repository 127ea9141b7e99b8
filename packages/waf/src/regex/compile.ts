import { installRegexGuard, isLinearSafe } from './guard.ts';
import { translatePcre } from './pcre.ts';
import { prefilterFor } from './prefilter.ts';

export interface CompiledPcre {
  pattern: string;
  re: RegExp;
  /** groupMap[n] = JS group index of PCRE group n */
  groupMap: number[];
  /** the backtracking guard covers this pattern */
  linearSafe: boolean;
  /** lower-cased literals a match must contain one of (prefilter.ts), if any */
  prefilter: string[] | undefined;
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
  c = { pattern, re, groupMap: t.groupMap, linearSafe: isLinearSafe(t.source, t.flags), prefilter: prefilterFor(t.source) };
  cache.set(pattern, c);
  return c;
}
