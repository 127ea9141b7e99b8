import { hexVal, type Transformation } from './types.ts';

/**
 * urlDecode plus IIS `%uXXXX`: without a unicode map ModSecurity keeps the low byte, and adds
 * 0x20 for full-width ASCII (U+FF01–U+FF5E) so `%uff0e` reads as `.`.
 */
function apply(s: string): string {
  if (s.indexOf('%') < 0 && s.indexOf('+') < 0) return s;
  // unchanged runs are copied as slices: one allocation per escape, not per byte
  let out = '';
  let last = 0;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 43) {
      out += s.slice(last, i) + ' ';
      last = i + 1;
      continue;
    }
    if (c !== 37) continue;
    const u = s.charCodeAt(i + 1);
    if ((u === 117 || u === 85) && i + 5 < n) {
      const h2 = hexVal(s.charCodeAt(i + 4));
      const h3 = hexVal(s.charCodeAt(i + 5));
      if (hexVal(s.charCodeAt(i + 2)) >= 0 && hexVal(s.charCodeAt(i + 3)) >= 0 && h2 >= 0 && h3 >= 0) {
        let b = h2 * 16 + h3;
        const hi = s.slice(i + 2, i + 4).toLowerCase();
        if (b > 0 && b < 0x5f && hi === 'ff') b += 0x20;
        out += s.slice(last, i) + String.fromCharCode(b);
        i += 5;
        last = i + 1;
      }
    } else if (i + 2 < n) {
      const h = hexVal(s.charCodeAt(i + 1));
      const l = hexVal(s.charCodeAt(i + 2));
      if (h >= 0 && l >= 0) {
        out += s.slice(last, i) + String.fromCharCode(h * 16 + l);
        i += 2;
        last = i + 1;
      }
    }
  }
  return last === 0 ? s : out + s.slice(last);
}

export const urlDecodeUni: Transformation = { name: 'urlDecodeUni', apply };
