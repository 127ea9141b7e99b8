import type { Transformation } from './types.ts';

export const removeNulls: Transformation = { name: 'removeNulls', apply: (s) => (s.includes('\0') ? s.replaceAll('\0', '') : s) };
