import type { Transformation } from './types.ts';

/**
 * ModSecurity's cmdLine: drop `\ " ' ^`, turn runs of space/tab/CR/LF/`,`/`;` into one space,
 * drop a space before `/` or `(`, lowercase (ASCII).
 */
function apply(s: string): string {
  // nothing to drop, collapse or lower-case: the value is its own result
  if (!/[A-Z"'\\^ ,;\t\r\n]/.test(s)) return s;
  let out = '';
  let space = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    switch (ch) {
      case '"':
      case "'":
      case '\\':
      case '^':
        break;
      case ' ':
      case ',':
      case ';':
      case '\t':
      case '\r':
      case '\n':
        if (!space) {
          out += ' ';
          space = true;
        }
        break;
      case '/':
      case '(':
        if (space) out = out.slice(0, -1);
        space = false;
        out += ch;
        break;
      default: {
        const c = ch.charCodeAt(0);
        out += c >= 65 && c <= 90 ? String.fromCharCode(c + 32) : ch;
        space = false;
      }
    }
  }
  return out;
}

export const cmdLine: Transformation = { name: 'cmdLine', apply };
