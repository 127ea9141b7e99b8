import type { Operator } from './types.ts';

/** Matches on invalid UTF-8: bad/missing continuation bytes, overlong forms, > U+10FFFF, 0xC0/0xC1/0xF5+. */
export const validateUtf8Encoding: Operator = {
  name: 'validateUtf8Encoding',
  compile: () => (input) => {
    const n = input.length;
    for (let i = 0; i < n; ) {
      const c = input.charCodeAt(i);
      if (c < 0x80) {
        i++;
        continue;
      }
      let len: number;
      let min: number;
      if ((c & 0xe0) === 0xc0) {
        len = 2;
        min = 0x80;
      } else if ((c & 0xf0) === 0xe0) {
        len = 3;
        min = 0x800;
      } else if ((c & 0xf8) === 0xf0) {
        len = 4;
        min = 0x10000;
      } else return true;
      if (i + len > n) return true;
      let cp = c & (0xff >> (len + 1));
      for (let k = 1; k < len; k++) {
        const cc = input.charCodeAt(i + k);
        if ((cc & 0xc0) !== 0x80) return true;
        cp = (cp << 6) | (cc & 0x3f);
      }
      if (cp < min || cp > 0x10ffff) return true;
      i += len;
    }
    return false;
  },
};
