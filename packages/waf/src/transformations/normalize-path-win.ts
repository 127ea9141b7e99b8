import { normalizePathStr } from './normalize-path.ts';
import type { Transformation } from './types.ts';

export const normalizePathWin: Transformation = {
  name: 'normalizePathWin',
  apply: (s) => normalizePathStr(s.includes('\\') ? s.replaceAll('\\', '/') : s),
};
export const normalisePathWin: Transformation = { name: 'normalisePathWin', apply: normalizePathWin.apply };
