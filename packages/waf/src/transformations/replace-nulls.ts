import type { Transformation } from './types.ts';

export const replaceNulls: Transformation = {
  name: 'replaceNulls',
  apply: (s) => (s.includes('\0') ? s.replaceAll('\0', ' ') : s),
};
