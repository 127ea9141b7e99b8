import type { Transformation } from './types.ts';

/** Decodes up to the first character outside the base64 alphabet, like apr_base64_decode. */
export const base64Decode: Transformation = {
  name: 'base64Decode',
  apply: (s) => {
    const m = /^[A-Za-z0-9+/]*/.exec(s)![0];
    return Buffer.from(m, 'base64').toString('latin1');
  },
};
