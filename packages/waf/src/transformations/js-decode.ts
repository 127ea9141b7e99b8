import { hexVal, type Transformation } from './types.ts';

/** JavaScript escapes: \uHHHH (low byte, full-width ASCII +0x20), \xHH, octal, \b\f\n\r\t\v, `\c` → c. */
function apply(s: string): string {
  if (s.indexOf('\\') < 0) return s;
  let out = '';
  const n = s.length;
  let i = 0;
  const isHex = (k: number) => k < n && hexVal(s.charCodeAt(k)) >= 0;
  while (i < n) {
    const c = s[i]!;
    if (c !== '\\' || i + 1 >= n) {
      out += c;
      i++;
      continue;
    }
    const e = s[i + 1]!;
    if ((e === 'u' || e === 'U') && isHex(i + 2) && isHex(i + 3) && isHex(i + 4) && isHex(i + 5)) {
      let b = hexVal(s.charCodeAt(i + 4)) * 16 + hexVal(s.charCodeAt(i + 5));
      if (b > 0 && b < 0x5f && s.slice(i + 2, i + 4).toLowerCase() === 'ff') b += 0x20;
      out += String.fromCharCode(b);
      i += 6;
      continue;
    }
    if ((e === 'x' || e === 'X') && isHex(i + 2) && isHex(i + 3)) {
      out += String.fromCharCode(hexVal(s.charCodeAt(i + 2)) * 16 + hexVal(s.charCodeAt(i + 3)));
      i += 4;
      continue;
    }
    if (e >= '0' && e <= '7') {
      let j = i + 1;
      let v = 0;
      let k = 0;
      while (j < n && k < 3 && s[j]! >= '0' && s[j]! <= '7') {
        v = v * 8 + s.charCodeAt(j) - 48;
        j++;
        k++;
      }
      // ModSecurity: a 3-digit value above 0377 only takes 2 digits
      if (v > 0xff) {
        v = v >> 3;
        j--;
      }
      out += String.fromCharCode(v);
      i = j;
      continue;
    }
    const simple: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
    out += simple[e] ?? e;
    i += 2;
  }
  return out;
}

export const jsDecode: Transformation = { name: 'jsDecode', apply };
