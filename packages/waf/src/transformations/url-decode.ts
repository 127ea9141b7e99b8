import { hexVal, type Transformation } from './types.ts';

/** ModSecurity's urldecode_nonstrict: `+` → space, valid `%XX` → byte, anything else kept. */
export function urlDecodeNonStrict(s: string): string {
  if (s.indexOf('%') < 0 && s.indexOf('+') < 0) return s;
  let out = '';
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 43) {
      out += ' ';
    } else if (c === 37 && i + 2 < n) {
      const h = hexVal(s.charCodeAt(i + 1));
      const l = hexVal(s.charCodeAt(i + 2));
      if (h >= 0 && l >= 0) {
        out += String.fromCharCode(h * 16 + l);
        i += 2;
      } else out += '%';
    } else out += s[i];
  }
  return out;
}

export const urlDecode: Transformation = { name: 'urlDecode', apply: urlDecodeNonStrict };
