import type { Transformation } from './types.ts';

export const hexEncode: Transformation = { name: 'hexEncode', apply: (s) => Buffer.from(s, 'latin1').toString('hex') };
