import { createHash } from 'node:crypto';
import type { Transformation } from './types.ts';

export const md5: Transformation = {
  name: 'md5',
  apply: (s) => createHash('md5').update(s, 'latin1').digest().toString('latin1'),
};
