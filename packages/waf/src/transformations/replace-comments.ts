import type { Transformation } from './types.ts';

/** Each C comment `/* … *\/` (also an unterminated one) becomes a single space. */
function apply(s: string): string {
  if (s.indexOf('/*') < 0) return s;
  let out = '';
  let i = 0;
  for (;;) {
    const st = s.indexOf('/*', i);
    if (st < 0) return out + s.slice(i);
    out += s.slice(i, st) + ' ';
    const en = s.indexOf('*/', st + 2);
    if (en < 0) return out;
    i = en + 2;
  }
}

export const replaceComments: Transformation = { name: 'replaceComments', apply };
