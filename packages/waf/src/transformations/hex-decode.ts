import type { Transformation } from './types.ts';

export const hexDecode: Transformation = { name: 'hexDecode', apply: (s) => Buffer.from(s, 'hex').toString('latin1') };
