import { createHash } from 'node:crypto';
import type { Transformation } from './types.ts';

export const sha1: Transformation = {
  name: 'sha1',
  apply: (s) => createHash('sha1').update(s, 'latin1').digest().toString('latin1'),
};
