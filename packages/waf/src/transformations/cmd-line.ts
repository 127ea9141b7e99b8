import { asciiLower } from './lowercase.ts';
import type { Transformation } from './types.ts';

/**
 * ModSecurity's cmdLine: drop `\ " ' ^`, turn runs of space/tab/CR/LF/`,`/`;` into one space,
 * drop a space before `/` or `(`, lowercase (ASCII).
 */
function apply(s: string): string {
  // nothing to drop, collapse or lower-case: the value is its own result
  if (!/[A-Z"'\\^ ,;\t\r\n]/.test(s)) return s;
  // kept runs are copied as slices; case does not affect the rest, so lower-case at the end
  let out = '';
  let last = 0;
  let space = false;
  for (let i = 0; i < s.length; i++) {
    switch (s.charCodeAt(i)) {
      case 34: // "
      case 39: // '
      case 92: // \
      case 94: // ^
        out += s.slice(last, i);
        last = i + 1;
        break;
      case 32:
      case 44: // ,
      case 59: // ;
      case 9:
      case 13:
      case 10:
        out += s.slice(last, i);
        last = i + 1;
        if (!space) {
          out += ' ';
          space = true;
        }
        break;
      case 47: // /
      case 40: // (
        if (space) {
          // only dropped bytes since the space: nothing pending
          out = out.slice(0, -1);
          last = i;
        }
        space = false;
        break;
      default:
        space = false;
    }
  }
  return asciiLower(last === 0 ? s : out + s.slice(last));
}

export const cmdLine: Transformation = { name: 'cmdLine', apply };
