import { digest } from './digest.ts';
import type { Transformation } from './types.ts';

const memo = new Map<string, string>();

export const md5: Transformation = {
  name: 'md5',
  apply: (s) => digest('md5', memo, s),
};
