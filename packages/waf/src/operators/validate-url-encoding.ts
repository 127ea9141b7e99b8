import type { Operator } from './types.ts';

const HEX = /[0-9a-fA-F]/;

/** Matches on a `%` not followed by two hex digits (invalid or truncated URL encoding). */
export const validateUrlEncoding: Operator = {
  name: 'validateUrlEncoding',
  compile: () => (input) => {
    let i = input.indexOf('%');
    while (i >= 0) {
      if (i + 2 >= input.length) return true;
      if (!HEX.test(input[i + 1]!) || !HEX.test(input[i + 2]!)) return true;
      i = input.indexOf('%', i + 3);
    }
    return false;
  },
};
