import type { Transformation } from './types.ts';

/** Runs of C isspace() or NBSP (0xa0) become one space. */
export const compressWhitespace: Transformation = {
  name: 'compressWhitespace',
  apply: (s) => (/[\t\n\v\f\r \xa0]/.test(s) ? s.replace(/[\t\n\v\f\r \xa0]+/g, ' ') : s),
};
