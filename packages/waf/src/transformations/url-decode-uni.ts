import { hexVal, type Transformation } from './types.ts';

/**
 * urlDecode plus IIS `%uXXXX`: without a unicode map ModSecurity keeps the low byte, and adds
 * 0x20 for full-width ASCII (U+FF01–U+FF5E) so `%uff0e` reads as `.`.
 */
function apply(s: string): string {
  if (s.indexOf('%') < 0 && s.indexOf('+') < 0) return s;
  let out = '';
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 43) {
      out += ' ';
      continue;
    }
    if (c === 37) {
      const u = s.charCodeAt(i + 1);
      if ((u === 117 || u === 85) && i + 5 < n) {
        const h = [2, 3, 4, 5].map((k) => hexVal(s.charCodeAt(i + k)));
        if (h.every((x) => x >= 0)) {
          let b = h[2]! * 16 + h[3]!;
          const hi = s.slice(i + 2, i + 4).toLowerCase();
          if (b > 0 && b < 0x5f && hi === 'ff') b += 0x20;
          out += String.fromCharCode(b);
          i += 5;
          continue;
        }
      } else if (i + 2 < n) {
        const h = hexVal(s.charCodeAt(i + 1));
        const l = hexVal(s.charCodeAt(i + 2));
        if (h >= 0 && l >= 0) {
          out += String.fromCharCode(h * 16 + l);
          i += 2;
          continue;
        }
      }
    }
    out += s[i];
  }
  return out;
}

export const urlDecodeUni: Transformation = { name: 'urlDecodeUni', apply };
