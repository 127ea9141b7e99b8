import { hexVal, type Transformation } from './types.ts';

/** ModSecurity's urldecode_nonstrict: `+` → space, valid `%XX` → byte, anything else kept. */
export function urlDecodeNonStrict(s: string): string {
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
    } else if (c === 37 && i + 2 < n) {
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

export const urlDecode: Transformation = { name: 'urlDecode', apply: urlDecodeNonStrict };
