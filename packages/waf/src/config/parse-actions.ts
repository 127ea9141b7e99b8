/**
 * Action lists (`"id:1,phase:2,t:none,msg:'x'"`) split like ModSecurity 2's msre_parse_actions:
 * name up to `:`/`,`/space; a value is either single-quoted (`\'` and `\\` unescaped) or runs to
 * the next comma or whitespace.
 */
import { configError, type SourcePos } from '../errors.ts';

export interface RawAction {
  name: string;
  value: string | undefined;
}

export function parseActions(s: string, pos: SourcePos): RawAction[] {
  const out: RawAction[] = [];
  let i = 0;
  const n = s.length;
  const ws = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v';
  while (i < n) {
    while (i < n && (ws(s[i]) || s[i] === ',')) i++;
    if (i >= n) break;
    let j = i;
    while (j < n && s[j] !== ':' && s[j] !== ',' && !ws(s[j])) j++;
    const name = s.slice(i, j).toLowerCase();
    if (name === '') throw configError(pos, `empty action name in "${s}"`);
    i = j;
    while (i < n && ws(s[i])) i++;
    if (s[i] !== ':') {
      out.push({ name, value: undefined });
      continue;
    }
    i++;
    while (i < n && ws(s[i])) i++;
    let value = '';
    if (s[i] === "'") {
      i++;
      let closed = false;
      while (i < n) {
        const c = s[i]!;
        if (c === '\\' && (s[i + 1] === "'" || s[i + 1] === '\\')) {
          value += s[i + 1];
          i += 2;
          continue;
        }
        if (c === "'") {
          closed = true;
          i++;
          break;
        }
        value += c;
        i++;
      }
      if (!closed) throw configError(pos, `unterminated quoted value for action ${name}`);
    } else {
      const st = i;
      while (i < n && s[i] !== ',' && !ws(s[i])) i++;
      value = s.slice(st, i);
    }
    out.push({ name, value });
  }
  return out;
}
