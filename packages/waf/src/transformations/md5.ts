import { hash } from 'node:crypto';
import type { Transformation } from './types.ts';

// one-shot hash(): no Hash object per call (3–4× faster than createHash on short values)
export const md5: Transformation = {
  name: 'md5',
  apply: (s) => hash('md5', Buffer.from(s, 'latin1'), 'binary'),
};
