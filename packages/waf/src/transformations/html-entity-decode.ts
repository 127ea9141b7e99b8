import { hexVal, type Transformation } from './types.ts';

const NAMED: Record<string, string> = { quot: '"', amp: '&', lt: '<', gt: '>', nbsp: '\xa0' };

/**
 * ModSecurity 2's html_entities_decode_inplace: `&#DDD;`, `&#xHH;` (semicolon optional, value
 * truncated to a byte) and the five named entities quot/amp/lt/gt/nbsp; everything else stays.
 */
function apply(s: string): string {
  if (s.indexOf('&') < 0) return s;
  let out = '';
  const n = s.length;
  let i = 0;
  while (i < n) {
    const c = s[i]!;
    if (c !== '&' || i + 1 >= n) {
      out += c;
      i++;
      continue;
    }
    if (s[i + 1] === '#') {
      let j = i + 2;
      let val = 0;
      let digits = 0;
      if (s[j] === 'x' || s[j] === 'X') {
        j++;
        while (j < n && hexVal(s.charCodeAt(j)) >= 0) {
          val = (val * 16 + hexVal(s.charCodeAt(j))) & 0xffffff;
          j++;
          digits++;
        }
      } else {
        while (j < n && s.charCodeAt(j) >= 48 && s.charCodeAt(j) <= 57) {
          val = (val * 10 + s.charCodeAt(j) - 48) % 0x1000000;
          j++;
          digits++;
        }
      }
      if (digits > 0) {
        out += String.fromCharCode(val & 0xff);
        if (s[j] === ';') j++;
        i = j;
        continue;
      }
      out += c;
      i++;
      continue;
    }
    let j = i + 1;
    while (j < n && /[A-Za-z0-9]/.test(s[j]!)) j++;
    const name = s.slice(i + 1, j).toLowerCase();
    const rep = NAMED[name];
    if (rep !== undefined) {
      out += rep;
      if (s[j] === ';') j++;
      i = j;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

export const htmlEntityDecode: Transformation = { name: 'htmlEntityDecode', apply };
