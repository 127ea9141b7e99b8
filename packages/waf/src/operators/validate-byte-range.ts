import type { Operator } from './types.ts';

/** Matches when the input holds a byte outside the allowed list ("1-255", "9,10,13,32-126"). */
export const validateByteRange: Operator = {
  name: 'validateByteRange',
  compile(param) {
    const allowed = new Uint8Array(256);
    for (const part of param.split(',')) {
      const t = part.trim();
      if (t === '') continue;
      const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(t);
      if (!m) throw new Error(`bad byte range "${t}"`);
      const lo = Number(m[1]);
      const hi = m[2] === undefined ? lo : Number(m[2]);
      if (lo > 255 || hi > 255 || lo > hi) throw new Error(`bad byte range "${t}"`);
      for (let b = lo; b <= hi; b++) allowed[b] = 1;
    }
    return (input) => {
      for (let i = 0; i < input.length; i++) if (allowed[input.charCodeAt(i) & 0xff] === 0) return true;
      return false;
    };
  },
};
