import type { Transformation } from './types.ts';

/** Removes C isspace() and NBSP (0xa0). */
export const removeWhitespace: Transformation = {
  name: 'removeWhitespace',
  apply: (s) => (/[\t\n\v\f\r \xa0]/.test(s) ? s.replace(/[\t\n\v\f\r \xa0]+/g, '') : s),
};
