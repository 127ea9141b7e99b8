import { type Operator, withMacros } from './types.ts';

/** The parameter appears in the input delimited by non-word characters (or the ends). */
function containsWord(p: string, input: string): boolean {
  if (p === '') return true;
  let i = input.indexOf(p);
  while (i >= 0) {
    const before = i === 0 ? '' : input[i - 1]!;
    const after = input[i + p.length] ?? '';
    if (!/\w/.test(before) && !/\w/.test(after)) return true;
    i = input.indexOf(p, i + 1);
  }
  return false;
}

export const containsWordOp: Operator = { name: 'containsWord', compile: (param) => withMacros(param, containsWord) };
