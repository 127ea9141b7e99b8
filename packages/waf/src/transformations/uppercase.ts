import type { Transformation } from './types.ts';

export const uppercase: Transformation = {
  name: 'uppercase',
  apply: (s) => (/[a-z]/.test(s) ? s.replace(/[a-z]+/g, (m) => m.toUpperCase()) : s),
};
