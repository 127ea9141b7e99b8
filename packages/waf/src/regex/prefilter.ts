/**
 * Literal prefilter for translated patterns: a set of lower-cased strings such that every match
 * of the regex contains at least one of them (after the same lower-casing). When a value holds
 * none, the regex cannot match and is not run — on benign traffic most CRS patterns are skipped
 * this way. Sound by construction: anything the analysis does not understand (large classes,
 * optional parts, backreferences) contributes "no requirement", never a guess.
 *
 * Works on the JS source produced by pcre.ts (no inline flags: caseless parts are already
 * `[aA]` classes), so the grammar is small.
 *
 * Example: prefilterFor('(?:un[iI]on\\s+se[lL]ect)') → ['select'] (the longest required run)
 */

const MAX_SET = 48;
const MAX_LEN = 24;
const MAX_CLASS = 6;

interface Info {
  /** every string the node can match, when small enough */
  exact: Set<string> | undefined;
  /** at least one of these occurs in any match; undefined = no requirement known */
  req: Set<string> | undefined;
}

const NONE: Info = { exact: undefined, req: undefined };
const EMPTY: Info = { exact: new Set(['']), req: undefined };

class Parser {
  i = 0;
  readonly s: string;
  constructor(s: string) {
    this.s = s;
  }

  alt(): Info {
    const branches = [this.seq()];
    while (this.s[this.i] === '|') {
      this.i++;
      branches.push(this.seq());
    }
    if (branches.length === 1) return branches[0]!;
    let exact: Set<string> | undefined = new Set();
    let req: Set<string> | undefined = new Set();
    for (const b of branches) {
      if (exact && b.exact && exact.size + b.exact.size <= MAX_SET) for (const x of b.exact) exact.add(x);
      else exact = undefined;
      const r = reqOf(b);
      if (req && r && req.size + r.size <= MAX_SET) for (const x of r) req.add(x);
      else req = undefined;
    }
    return { exact, req };
  }

  seq(): Info {
    const candidates: Set<string>[] = [];
    let cur: Set<string> | undefined = new Set(['']);
    let whole = true;
    const flush = () => {
      if (cur && !cur.has('')) candidates.push(cur);
    };
    while (this.i < this.s.length && this.s[this.i] !== '|' && this.s[this.i] !== ')') {
      const a = this.quantified();
      if (a.exact) {
        const prod: Set<string> | undefined = cur ? product(cur, a.exact) : undefined;
        if (prod) {
          cur = prod;
          continue;
        }
        flush();
        whole = false;
        cur = a.exact;
        continue;
      }
      flush();
      whole = false;
      if (a.req) candidates.push(a.req);
      cur = new Set(['']);
    }
    flush();
    const best = pickBest(candidates);
    return { exact: whole ? cur : undefined, req: best };
  }

  quantified(): Info {
    const a = this.atom();
    const c = this.s[this.i];
    let min = 1;
    let max = 1;
    if (c === '*' || c === '+' || c === '?') {
      this.i++;
      min = c === '+' ? 1 : 0;
      max = c === '?' ? 1 : Number.POSITIVE_INFINITY;
    } else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.s.slice(this.i));
      if (m) {
        this.i += m[0].length;
        min = Number(m[1]);
        max = m[2] === undefined ? min : m[3] === '' ? Number.POSITIVE_INFINITY : Number(m[3]);
      }
    } else return a;
    if (this.s[this.i] === '?') this.i++;
    if (min === 0)
      return { exact: max === 1 && a.exact && a.exact.size < MAX_SET ? new Set(['', ...a.exact]) : undefined, req: undefined };
    if (min === 1 && max === 1) return a;
    return { exact: undefined, req: reqOf(a) };
  }

  atom(): Info {
    const c = this.s[this.i]!;
    if (c === '(') {
      this.i++;
      let kind = 'group';
      if (this.s[this.i] === '?') {
        const m = /^\?(:|=|!|<=|<!|<[A-Za-z_]\w*>)/.exec(this.s.slice(this.i));
        if (!m) throw new Error('prefilter: unknown group');
        this.i += m[0].length;
        const g = m[1]!;
        kind = g === '=' || g === '!' || g === '<=' || g === '<!' ? 'look' : 'group';
      }
      const inner = this.alt();
      if (this.s[this.i] !== ')') throw new Error('prefilter: missing )');
      this.i++;
      return kind === 'look' ? EMPTY : inner;
    }
    if (c === '[') return this.cls();
    if (c === '.') {
      this.i++;
      return NONE;
    }
    if (c === '^' || c === '$') {
      this.i++;
      return EMPTY;
    }
    if (c === '\\') {
      const e = this.s[this.i + 1]!;
      if (e === 'x') {
        const ch = String.fromCharCode(Number.parseInt(this.s.slice(this.i + 2, this.i + 4), 16));
        this.i += 4;
        return lit(ch);
      }
      this.i += 2;
      if (e === 'b' || e === 'B') return EMPTY;
      if (/[dDwWsS]/.test(e)) return NONE;
      if (/[1-9]/.test(e)) {
        while (/[0-9]/.test(this.s[this.i] ?? '')) this.i++;
        return NONE;
      }
      const simple: Record<string, string> = { n: '\n', r: '\r', t: '\t', f: '\f', v: '\v', '0': '\0' };
      return lit(simple[e] ?? e);
    }
    this.i++;
    return lit(c);
  }

  cls(): Info {
    this.i++;
    let neg = false;
    if (this.s[this.i] === '^') {
      neg = true;
      this.i++;
    }
    const chars = new Set<string>();
    let big = neg;
    const one = (): string | undefined => {
      const c = this.s[this.i]!;
      if (c === '\\') {
        const e = this.s[this.i + 1]!;
        if (e === 'x') {
          const ch = String.fromCharCode(Number.parseInt(this.s.slice(this.i + 2, this.i + 4), 16));
          this.i += 4;
          return ch;
        }
        this.i += 2;
        if (/[dDwWsS]/.test(e)) {
          big = true;
          return undefined;
        }
        const simple: Record<string, string> = { n: '\n', r: '\r', t: '\t', f: '\f', v: '\v', '0': '\0' };
        return simple[e] ?? e;
      }
      this.i++;
      return c;
    };
    while (this.i < this.s.length && this.s[this.i] !== ']') {
      const lo = one();
      if (lo !== undefined && this.s[this.i] === '-' && this.s[this.i + 1] !== ']') {
        this.i++;
        const hi = one();
        if (hi === undefined) {
          big = true;
          continue;
        }
        const a = lo.charCodeAt(0);
        const b = hi.charCodeAt(0);
        if (b - a > 52) big = true;
        else for (let k = a; k <= b; k++) chars.add(String.fromCharCode(k).toLowerCase());
        continue;
      }
      if (lo !== undefined) chars.add(lo.toLowerCase());
    }
    this.i++;
    if (big || chars.size === 0 || chars.size > MAX_CLASS) return NONE;
    return { exact: chars, req: chars };
  }
}

function lit(ch: string): Info {
  const s = new Set([ch.toLowerCase()]);
  return { exact: s, req: s };
}

function reqOf(a: Info): Set<string> | undefined {
  if (a.req) return a.req;
  if (a.exact && !a.exact.has('')) return a.exact;
  return undefined;
}

function product(a: Set<string>, b: Set<string>): Set<string> | undefined {
  if (a.size * b.size > MAX_SET) return undefined;
  const out = new Set<string>();
  for (const x of a)
    for (const y of b) {
      const s = x + y;
      if (s.length > MAX_LEN) return undefined;
      out.add(s);
    }
  return out;
}

function score(s: Set<string>): number {
  let min = Number.POSITIVE_INFINITY;
  for (const x of s) min = Math.min(min, x.length);
  return min * 100 - s.size;
}

function pickBest(c: Set<string>[]): Set<string> | undefined {
  let best: Set<string> | undefined;
  for (const s of c) if (!best || score(s) > score(best)) best = s;
  return best;
}

/** Lower-cased literals a match must contain one of, or undefined when nothing is required. */
export function prefilterFor(jsSource: string): string[] | undefined {
  try {
    const p = new Parser(jsSource);
    const info = p.alt();
    if (p.i !== jsSource.length) return undefined;
    const r = reqOf(info);
    if (!r || r.size === 0 || r.has('')) return undefined;
    return [...r];
  } catch {
    return undefined;
  }
}
