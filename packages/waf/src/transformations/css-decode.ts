import { hexVal, isCSpace, type Transformation } from './types.ts';

/**
 * CSS 2 escapes as ModSecurity decodes them: `\` + 1–6 hex digits (one following whitespace
 * eaten) → low byte (full-width ASCII +0x20), `\` + newline removed, `\` + other char → char.
 */
function apply(s: string): string {
  if (s.indexOf('\\') < 0) return s;
  let out = '';
  const n = s.length;
  let i = 0;
  while (i < n) {
    const c = s[i]!;
    if (c !== '\\') {
      out += c;
      i++;
      continue;
    }
    if (i + 1 >= n) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < n && j - i - 1 < 6 && hexVal(s.charCodeAt(j)) >= 0) j++;
    const len = j - i - 1;
    if (len > 0) {
      const hex = s.slice(i + 1, j);
      let b = Number.parseInt(hex.slice(-2), 16);
      if (len >= 3 && len <= 6 && b > 0 && b < 0x5f) {
        // full-width: ff01..ff5e (possibly with leading zeros)
        const full = Number.parseInt(hex, 16);
        if (full >= 0xff01 && full <= 0xff5e) b += 0x20;
      }
      out += String.fromCharCode(b);
      if (j < n && isCSpace(s.charCodeAt(j))) j++;
      i = j;
      continue;
    }
    if (s[i + 1] === '\n') {
      i += 2;
      continue;
    }
    out += s[i + 1];
    i += 2;
  }
  return out;
}

export const cssDecode: Transformation = { name: 'cssDecode', apply };
