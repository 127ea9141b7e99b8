/**
 * Rule targets: `ARGS|!ARGS:foo|&TX:bar|REQUEST_COOKIES:/^__utm/|XML:/*`.
 * A key starting with `/` and closed by an unescaped `/` is a regex selector; `XML:/*`
 * (no closing slash) is a literal XPath.
 */
import { configError, type SourcePos } from '../errors.ts';

export interface VarSpec {
  /** Upper-cased collection or variable name, e.g. `ARGS`. */
  name: string;
  /** Literal key (compared case-insensitively), if any. */
  key: string | undefined;
  /** Regex selector source (without slashes), if any. */
  keyRegex: string | undefined;
  count: boolean;
  exclude: boolean;
}

export function parseVariables(s: string, pos: SourcePos): VarSpec[] {
  const out: VarSpec[] = [];
  let i = 0;
  const n = s.length;
  while (i < n) {
    while (i < n && (s[i] === '|' || s[i] === ',' || s[i] === ' ' || s[i] === '\t')) i++;
    if (i >= n) break;
    let count = false;
    let exclude = false;
    if (s[i] === '!') {
      exclude = true;
      i++;
    } else if (s[i] === '&') {
      count = true;
      i++;
    }
    let j = i;
    while (j < n && s[j] !== ':' && s[j] !== '|' && s[j] !== ',') j++;
    const name = s.slice(i, j).trim().toUpperCase();
    if (!/^[A-Z0-9_]+$/.test(name)) throw configError(pos, `bad variable name "${s.slice(i, j)}" in "${s}"`);
    i = j;
    let key: string | undefined;
    let keyRegex: string | undefined;
    if (s[i] === ':') {
      i++;
      if (s[i] === '/') {
        let k = i + 1;
        while (k < n && s[k] !== '/') k += s[k] === '\\' ? 2 : 1;
        if (k < n && (k + 1 >= n || s[k + 1] === '|' || s[k + 1] === ',')) {
          keyRegex = s.slice(i + 1, k);
          i = k + 1;
        }
      } else if (s[i] === "'") {
        const k = s.indexOf("'", i + 1);
        if (k < 0) throw configError(pos, `unterminated quoted key in "${s}"`);
        key = s.slice(i + 1, k);
        i = k + 1;
      }
      if (key === undefined && keyRegex === undefined) {
        let k = i;
        while (k < n && s[k] !== '|') k++;
        key = s.slice(i, k);
        i = k;
      }
    }
    if (exclude && key === undefined && keyRegex === undefined) throw configError(pos, `exclusion !${name} needs a key`);
    out.push({ name, key, keyRegex, count, exclude });
  }
  if (out.length === 0) throw configError(pos, 'rule has no variables');
  return out;
}

export function formatVarSpec(v: VarSpec): string {
  return (
    (v.exclude ? '!' : v.count ? '&' : '') +
    v.name +
    (v.keyRegex !== undefined ? `:/${v.keyRegex}/` : v.key !== undefined ? `:${v.key}` : '')
  );
}
