import type { Transformation } from './types.ts';

export const base64Encode: Transformation = { name: 'base64Encode', apply: (s) => Buffer.from(s, 'latin1').toString('base64') };
