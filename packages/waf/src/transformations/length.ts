import type { Transformation } from './types.ts';

export const length: Transformation = { name: 'length', apply: (s) => String(s.length) };
