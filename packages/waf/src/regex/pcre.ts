/**
 * PCRE (as ModSecurity 2 compiles @rx: PCRE_DOTALL | PCRE_DOLLAR_ENDONLY, no UTF) → JavaScript
 * RegExp, exactly, on latin1 strings.
 *
 * Why latin1: ModSecurity matches bytes. Every input and every pattern is held as a JS string
 * whose char codes are the bytes (0–255), so `.` is one byte, `\xff` is byte 0xff, and UTF-8
 * sequences in patterns match the same UTF-8 bytes in input. JS's non-unicode mode works on
 * UTF-16 code units, which for such strings are exactly the bytes.
 *
 * Translation (nothing widened, nothing dropped):
 * - `(?i)` etc. anywhere: PCRE applies it to the rest of the enclosing group, *including later
 *   alternatives*; we open a scoped `(?i:` and close/reopen it around each later `|` at that
 *   level (`a(?i)b|c` → `a(?i:b)|(?i:c)`). Scoped `(?i:…)` is native in Node 24.
 * - DOTALL → flag `s`; DOLLAR_ENDONLY → JS `$` without `m` already means end of input.
 * - `\s` → `[\t\n\x0b\f\r ]` (JS `\s` also matches 0xa0), `\h \v \R \A \z \Z \e \Q…\E \x{…}`,
 *   octal escapes, POSIX classes `[[:alpha:]]`, `[]…]`.
 * - possessive `X*+` and atomic `(?>X)` → `(?=(X))\N` (the standard exact emulation); every
 *   group is numbered after translation, so backreferences and `capture` (TX.0–TX.9) keep
 *   PCRE's numbering through `groupMap`.
 * Unsupported constructs (branch reset, recursion, callouts, `\p`, `\X`, conditionals, `(?x)`)
 * throw, and the rule that uses them fails to compile with file/line.
 */

export interface TranslatedRegex {
  source: string;
  flags: string;
  /** groupMap[n] = JS group index of PCRE group n (groupMap[0] = 0). */
  groupMap: number[];
}

type Seg = string | { open: 'pcre' | 'synth'; id: number } | { ref: 'pcre' | 'synth'; id: number };

const S_CLASS = '\\t\\n\\x0b\\f\\r ';
const H_CLASS = '\\t \\xa0';
const V_CLASS = '\\n\\x0b\\f\\r\\x85';
const POSIX: Record<string, string> = {
  alpha: 'a-zA-Z',
  digit: '0-9',
  alnum: 'a-zA-Z0-9',
  upper: 'A-Z',
  lower: 'a-z',
  space: S_CLASS,
  blank: ' \\t',
  punct: '!-\\/:-@\\[-`{-~',
  xdigit: '0-9A-Fa-f',
  word: '\\w',
  cntrl: '\\x00-\\x1f\\x7f',
  print: ' -~',
  graph: '!-~',
  ascii: '\\x00-\\x7f',
};

export class PcreError extends Error {}

function hex2(code: number): string {
  return '\\x' + code.toString(16).padStart(2, '0');
}

function literalChar(code: number): string {
  if (code > 0xff) throw new PcreError(`code point ${code.toString(16)} outside byte range`);
  const ch = String.fromCharCode(code);
  if (/[A-Za-z0-9_]/.test(ch)) return ch;
  return hex2(code);
}

const classChar = literalChar;

interface GroupFrame {
  /** index in out[] where the group's own text starts (for atom quantifiers) */
  start: number;
  /** how this group must be closed in the output */
  close: string;
  /** synthetic group for atomic emulation */
  atomicId: number | undefined;
  /** caseless matching in effect (PCRE_CASELESS, scoped) */
  ci: boolean;
}

export function translatePcre(pattern: string): TranslatedRegex {
  const out: Seg[] = [];
  const stack: GroupFrame[] = [{ start: 0, close: '', atomicId: undefined, ci: false }];
  const flags = 's';
  let pcreGroups = 0;
  let synth = 0;
  let lastAtom = -1;
  let i = 0;
  const n = pattern.length;
  const top = () => stack[stack.length - 1]!;

  const parseEscapeCode = (): number | undefined => {
    // at pattern[i] === '\\'; returns a byte value for literal escapes, advancing i
    const c = pattern[i + 1];
    if (c === undefined) throw new PcreError('trailing backslash');
    if (c === 'x') {
      if (pattern[i + 2] === '{') {
        const end = pattern.indexOf('}', i + 3);
        if (end < 0) throw new PcreError('bad \\x{');
        const code = Number.parseInt(pattern.slice(i + 3, end), 16);
        i = end + 1;
        return code;
      }
      const m = /^[0-9a-fA-F]{0,2}/.exec(pattern.slice(i + 2))![0];
      i += 2 + m.length;
      return m === '' ? 0 : Number.parseInt(m, 16);
    }
    if (c === '0') {
      const m = /^[0-7]{0,2}/.exec(pattern.slice(i + 2))![0];
      i += 2 + m.length;
      return Number.parseInt('0' + m, 8);
    }
    const simple: Record<string, number> = { n: 10, r: 13, t: 9, f: 12, a: 7, e: 27 };
    if (c in simple) {
      i += 2;
      return simple[c];
    }
    if (c === 'c') {
      const x = pattern[i + 2];
      if (x === undefined) throw new PcreError('bad \\c');
      i += 3;
      return x.toUpperCase().charCodeAt(0) ^ 0x40;
    }
    if (!/[A-Za-z0-9]/.test(c)) {
      i += 2;
      return c.charCodeAt(0);
    }
    return undefined;
  };

  const classContent = (): string => {
    // pattern[i] === '['; ranges are collected so caseless classes can add the other case
    const ci = top().ci;
    let neg = false;
    i++;
    if (pattern[i] === '^') {
      neg = true;
      i++;
    }
    const ranges: Array<[number, number]> = [];
    let extra = '';
    let first = true;
    // one class atom: a byte value, or undefined when it was a set (\d, [:alpha:], …) added to `extra`
    const atom = (): number | undefined => {
      const c = pattern[i]!;
      if (c === '[' && pattern[i + 1] === ':') {
        const end = pattern.indexOf(':]', i + 2);
        if (end > 0) {
          const name = pattern.slice(i + 2, end);
          const exp = POSIX[name];
          if (exp === undefined) throw new PcreError(`unsupported POSIX class ${name}`);
          extra += exp;
          i = end + 2;
          return undefined;
        }
      }
      if (c === '\\') {
        const e = pattern[i + 1];
        const sets: Record<string, string> = {
          s: S_CLASS,
          h: H_CLASS,
          v: V_CLASS,
          d: '\\d',
          w: '\\w',
          D: '\\D',
          W: '\\W',
          S: '\\S',
        };
        // \S in a class differs from JS only on 0xa0
        if (e !== undefined && e in sets) {
          extra += sets[e];
          i += 2;
          return undefined;
        }
        if (e === 'b') {
          i += 2;
          return 8;
        }
        const code = parseEscapeCode();
        if (code === undefined) throw new PcreError(`unsupported escape \\${e} in class`);
        return code;
      }
      i++;
      return c.charCodeAt(0);
    };
    for (;;) {
      if (i >= n) throw new PcreError('unterminated character class');
      if (pattern[i] === ']' && !first) {
        i++;
        break;
      }
      first = false;
      if (pattern[i] === '\\' && pattern[i + 1] === 'Q') {
        const end = pattern.indexOf('\\E', i + 2);
        for (const ch of pattern.slice(i + 2, end < 0 ? n : end)) ranges.push([ch.charCodeAt(0), ch.charCodeAt(0)]);
        i = end < 0 ? n : end + 2;
        continue;
      }
      if (pattern[i] === '\\' && pattern[i + 1] === 'E') {
        i += 2;
        continue;
      }
      const lo = atom();
      if (lo === undefined) continue;
      if (pattern[i] === '-' && pattern[i + 1] !== ']' && i + 1 < n) {
        const save = i;
        i++;
        const hi = atom();
        if (hi === undefined) {
          // "a-\d": literal '-' then the set
          ranges.push([lo, lo], [45, 45]);
          continue;
        }
        if (hi < lo) throw new PcreError('range out of order in character class');
        ranges.push([lo, hi]);
        void save;
        continue;
      }
      ranges.push([lo, lo]);
    }
    if (ci) {
      for (const [lo, hi] of [...ranges]) {
        const a = Math.max(lo, 97);
        const b = Math.min(hi, 122);
        if (a <= b) ranges.push([a - 32, b - 32]);
        const c = Math.max(lo, 65);
        const d = Math.min(hi, 90);
        if (c <= d) ranges.push([c + 32, d + 32]);
      }
    }
    let body = '';
    for (const [lo, hi] of ranges) body += lo === hi ? classChar(lo) : `${classChar(lo)}-${classChar(hi)}`;
    body += extra;
    if (body === '') return neg ? '[\\s\\S]' : '[^\\s\\S]';
    return (neg ? '[^' : '[') + body + ']';
  };

  const lit = (code: number): string => {
    if (top().ci) {
      if (code >= 97 && code <= 122) return `[${String.fromCharCode(code - 32)}${String.fromCharCode(code)}]`;
      if (code >= 65 && code <= 90) return `[${String.fromCharCode(code)}${String.fromCharCode(code + 32)}]`;
    }
    return literalChar(code);
  };

  const setOptions = (opts: string, frame: GroupFrame): void => {
    // "i", "-i", "s", "is-m"…: caseless is applied by expansion; DOTALL is always on in
    // ModSecurity and multiline is never used by CRS
    const [on = '', off = ''] = opts.split('-');
    for (const f of on + off) if (!'ims'.includes(f)) throw new PcreError(`unsupported option ${f}`);
    if (off.includes('s') || on.includes('m')) throw new PcreError(`unsupported option change (?${opts})`);
    if (on.includes('i')) frame.ci = true;
    if (off.includes('i')) frame.ci = false;
  };

  while (i < n) {
    const c = pattern[i]!;
    if (c === '\\') {
      const e = pattern[i + 1];
      const start = out.length;
      const map: Record<string, string> = {
        s: `[${S_CLASS}]`,
        S: `[^${S_CLASS}]`,
        h: `[${H_CLASS}]`,
        H: `[^${H_CLASS}]`,
        v: `[${V_CLASS}]`,
        V: `[^${V_CLASS}]`,
        R: `(?:\\r\\n|[${V_CLASS}])`,
        A: '(?<![\\s\\S])',
        z: '(?![\\s\\S])',
        Z: '(?=\\n?(?![\\s\\S]))',
        G: '',
        d: '\\d',
        D: '\\D',
        w: '\\w',
        W: '\\W',
        b: '\\b',
        B: '\\B',
      };
      if (e !== undefined && e in map) {
        if (e === 'G') throw new PcreError('\\G unsupported');
        out.push(map[e]!);
        i += 2;
        lastAtom = 'AzZbB'.includes(e) ? -1 : start;
        continue;
      }
      if (e === 'Q') {
        const end = pattern.indexOf('\\E', i + 2);
        const quoted = pattern.slice(i + 2, end < 0 ? n : end);
        for (const ch of quoted) {
          lastAtom = out.length;
          out.push(lit(ch.charCodeAt(0)));
        }
        i = end < 0 ? n : end + 2;
        continue;
      }
      if (e === 'E') {
        i += 2;
        continue;
      }
      if (e !== undefined && /[1-9]/.test(e)) {
        const m = /^[1-9][0-9]*/.exec(pattern.slice(i + 1))![0];
        if (top().ci) out.push('(?i:', { ref: 'pcre', id: Number(m) }, ')');
        else out.push({ ref: 'pcre', id: Number(m) });
        lastAtom = start;
        i += 1 + m.length;
        continue;
      }
      if (e === 'g' || e === 'k') {
        const m = /^\\[gk](?:\{(\d+)\}|(\d+))/.exec(pattern.slice(i));
        if (!m) throw new PcreError(`unsupported escape \\${e}`);
        out.push({ ref: 'pcre', id: Number(m[1] ?? m[2]) });
        lastAtom = start;
        i += m[0].length;
        continue;
      }
      const code = parseEscapeCode();
      if (code === undefined) throw new PcreError(`unsupported escape \\${e}`);
      out.push(lit(code));
      lastAtom = start;
      continue;
    }
    if (c === '[') {
      lastAtom = out.length;
      out.push(classContent());
      continue;
    }
    if (c === '(') {
      if (pattern[i + 1] === '?') {
        const rest = pattern.slice(i + 2);
        if (rest.startsWith('#')) {
          const end = pattern.indexOf(')', i);
          if (end < 0) throw new PcreError('unterminated comment');
          i = end + 1;
          continue;
        }
        const opt = /^([a-zA-Z]*(?:-[a-zA-Z]*)?)(\)|:)/.exec(rest);
        if (opt && opt[1] !== undefined) {
          i += 2 + opt[0].length;
          if (opt[2] === ')') {
            // PCRE: the option holds for the rest of the enclosing group, later alternatives included
            setOptions(opt[1], top());
            continue;
          }
          const frame: GroupFrame = { start: out.length, close: ')', atomicId: undefined, ci: top().ci };
          setOptions(opt[1], frame);
          stack.push(frame);
          out.push('(?:');
          continue;
        }
        const simple = /^(:|=|!|<=|<!)/.exec(rest);
        if (simple) {
          stack.push({ start: out.length, close: ')', atomicId: undefined, ci: top().ci });
          out.push('(?' + simple[1]);
          i += 2 + simple[1]!.length;
          continue;
        }
        if (rest.startsWith('>')) {
          const id = ++synth;
          stack.push({ start: out.length, close: '))', atomicId: id, ci: top().ci });
          out.push('(?=');
          out.push({ open: 'synth', id });
          i += 3;
          continue;
        }
        const named = /^(?:P?<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)')/.exec(rest);
        if (named) {
          pcreGroups++;
          stack.push({ start: out.length, close: ')', atomicId: undefined, ci: top().ci });
          out.push({ open: 'pcre', id: pcreGroups });
          i += 2 + named[0].length;
          continue;
        }
        throw new PcreError(`unsupported group (?${rest.slice(0, 3)}`);
      }
      pcreGroups++;
      stack.push({ start: out.length, close: ')', atomicId: undefined, ci: top().ci });
      out.push({ open: 'pcre', id: pcreGroups });
      i++;
      continue;
    }
    if (c === ')') {
      if (stack.length === 1) throw new PcreError('unmatched )');
      const f = stack.pop()!;
      out.push(f.close);
      if (f.atomicId !== undefined) out.push({ ref: 'synth', id: f.atomicId });
      lastAtom = f.start;
      i++;
      continue;
    }
    if (c === '|') {
      out.push('|');
      lastAtom = -1;
      i++;
      continue;
    }
    if (c === '*' || c === '+' || c === '?' || (c === '{' && /^\{\d+(,\d*)?\}/.test(pattern.slice(i)))) {
      let q = c;
      if (c === '{') q = /^\{\d+(,\d*)?\}/.exec(pattern.slice(i))![0];
      i += q.length;
      if (lastAtom < 0) throw new PcreError(`quantifier ${q} without operand`);
      if (pattern[i] === '+') {
        // possessive: X*+ ≡ (?=(X*))\N
        i++;
        const id = ++synth;
        const atom = out.splice(lastAtom);
        out.push('(?=', { open: 'synth', id }, ...atom, q, '))', { ref: 'synth', id });
      } else {
        if (pattern[i] === '?') {
          q += '?';
          i++;
        }
        out.push(q);
      }
      lastAtom = -1;
      continue;
    }
    if (c === '.' || c === '^' || c === '$') {
      lastAtom = c === '.' ? out.length : -1;
      out.push(c);
      i++;
      continue;
    }
    lastAtom = out.length;
    out.push(lit(c.charCodeAt(0)));
    i++;
  }
  if (stack.length !== 1) throw new PcreError('missing )');

  // number groups in output order
  const pcreToJs: number[] = [0];
  const synthToJs: number[] = [];
  let js = 0;
  for (const s of out) {
    if (typeof s !== 'string' && 'open' in s) {
      js++;
      if (s.open === 'pcre') pcreToJs[s.id] = js;
      else synthToJs[s.id] = js;
    }
  }
  let source = '';
  for (const s of out) {
    if (typeof s === 'string') source += s;
    else if ('open' in s) source += '(';
    else {
      const target = s.ref === 'pcre' ? pcreToJs[s.id] : synthToJs[s.id];
      if (target === undefined) throw new PcreError(`backreference to missing group ${s.id}`);
      // (?:) stops a following digit from extending the backreference number
      source += `\\${target}(?:)`;
    }
  }
  return { source, flags, groupMap: pcreToJs };
}
