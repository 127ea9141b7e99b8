import type { Transformation } from './types.ts';

/** ASCII-only, like tolower() in the C locale ModSecurity runs in (0xc0 stays 0xc0). */
export const lowercase: Transformation = {
  name: 'lowercase',
  apply: (s) => (/[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s),
};
