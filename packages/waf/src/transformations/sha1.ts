import { digest } from './digest.ts';
import type { Transformation } from './types.ts';

const memo = new Map<string, string>();

export const sha1: Transformation = {
  name: 'sha1',
  apply: (s) => digest('sha1', memo, s),
};
