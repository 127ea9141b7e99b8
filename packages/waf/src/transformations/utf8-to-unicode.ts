import type { Transformation } from './types.ts';

/** Valid multi-byte UTF-8 sequences become `%uHHHH` (ModSecurity's utf8toUnicode); others stay. */
function apply(s: string): string {
  if (!/[\x80-\xff]/.test(s)) return s;
  let out = '';
  const n = s.length;
  let i = 0;
  const cont = (k: number) => k < n && (s.charCodeAt(k) & 0xc0) === 0x80;
  while (i < n) {
    const c = s.charCodeAt(i);
    let cp = -1;
    let len = 1;
    if (c >= 0xc2 && c <= 0xdf && cont(i + 1)) {
      cp = ((c & 0x1f) << 6) | (s.charCodeAt(i + 1) & 0x3f);
      len = 2;
    } else if (c >= 0xe0 && c <= 0xef && cont(i + 1) && cont(i + 2)) {
      cp = ((c & 0x0f) << 12) | ((s.charCodeAt(i + 1) & 0x3f) << 6) | (s.charCodeAt(i + 2) & 0x3f);
      len = 3;
    } else if (c >= 0xf0 && c <= 0xf4 && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
      cp =
        ((c & 0x07) << 18) |
        ((s.charCodeAt(i + 1) & 0x3f) << 12) |
        ((s.charCodeAt(i + 2) & 0x3f) << 6) |
        (s.charCodeAt(i + 3) & 0x3f);
      len = 4;
    }
    if (cp >= 0) {
      out += '%u' + cp.toString(16).padStart(4, '0');
      i += len;
    } else {
      out += s[i];
      i++;
    }
  }
  return out;
}

export const utf8toUnicode: Transformation = { name: 'utf8toUnicode', apply };
