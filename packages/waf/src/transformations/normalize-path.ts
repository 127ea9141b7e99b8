import type { Transformation } from './types.ts';

/**
 * ModSecurity's normalize_path_inplace: collapse `//`, drop `/./`, resolve `/../` (never above
 * the start of the path; a relative path keeps its leading `../`), keep a trailing slash.
 */
export function normalizePathStr(s: string): string {
  // no separator: nothing to collapse or resolve (only `.` and `..` change)
  if (s.indexOf('/') < 0 && s !== '.' && s !== '..') return s;
  const absolute = s.startsWith('/');
  const trailing = s.endsWith('/') || s.endsWith('/.') || s.endsWith('/..') || s === '.' || s === '..';
  const parts = s.split('/');
  const stack: string[] = [];
  for (const p of parts) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (stack.length > 0 && stack[stack.length - 1] !== '..') stack.pop();
      else if (!absolute) stack.push('..');
      continue;
    }
    stack.push(p);
  }
  let out = (absolute ? '/' : '') + stack.join('/');
  if (trailing && stack.length > 0) out += '/';
  return out;
}

export const normalizePath: Transformation = { name: 'normalizePath', apply: normalizePathStr };
export const normalisePath: Transformation = { name: 'normalisePath', apply: normalizePathStr };
