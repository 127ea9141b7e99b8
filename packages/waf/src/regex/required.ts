/**
 * Cheap necessary conditions for a translated pattern (pcre.ts output, flags `s`) to match:
 * - `minLength`: no match is shorter, so shorter inputs cannot match;
 * - `bytes`: a set of bytes every match contains at least one of (undefined = none known).
 * CRS patterns without a required literal (regex/prefilter.ts) often still need one of a few
 * bytes (`<`, `=`, `(`, `;`…): values without any of them skip the regex. Sound by
 * construction: anything the analysis does not understand contributes "no requirement"
 * (length 0, no byte set), never a guess.
 *
 * Example: requiredOf('[<>][a-z]+=') → { minLength: 3, bytes: {'<','>'} } (or the `=`)
 */

export interface Required {
  minLength: number;
  /** bytes[c] === 1 for the required bytes; undefined when no byte set is required */
  bytes: Uint8Array | undefined;
}

interface Node {
  min: number;
  /** one of these bytes occurs in every match, or undefined */
  req: Set<number> | undefined;
}

const ANY: Node = { min: 0, req: undefined };
const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);
const DIGIT = range(48, 57);
const WORD = [...DIGIT, ...range(65, 90), ...range(97, 122), 95];
// JS \s on latin1 input: TAB LF VT FF CR SPACE NBSP
const SPACE = [9, 10, 11, 12, 13, 32, 0xa0];
const complement = (xs: number[]): number[] => {
  const s = new Set(xs);
  return range(0, 255).filter((c) => !s.has(c));
};
const SIMPLE: Record<string, number> = { n: 10, r: 13, t: 9, f: 12, v: 11, '0': 0 };

class Parser {
  i = 0;
  readonly s: string;
  constructor(s: string) {
    this.s = s;
  }

  alt(): Node {
    const branches = [this.seq()];
    while (this.s[this.i] === '|') {
      this.i++;
      branches.push(this.seq());
    }
    if (branches.length === 1) return branches[0]!;
    let min = Number.POSITIVE_INFINITY;
    let req: Set<number> | undefined = new Set();
    for (const b of branches) {
      min = Math.min(min, b.min);
      if (req && b.req) for (const c of b.req) req.add(c);
      else req = undefined;
    }
    return { min, req };
  }

  seq(): Node {
    let min = 0;
    let req: Set<number> | undefined;
    while (this.i < this.s.length && this.s[this.i] !== '|' && this.s[this.i] !== ')') {
      const a = this.quantified();
      min += a.min;
      // any element's requirement holds for the sequence: keep the most selective
      if (a.req && (!req || a.req.size < req.size)) req = a.req;
    }
    return { min, req };
  }

  quantified(): Node {
    const a = this.atom();
    const c = this.s[this.i];
    let lo = 1;
    if (c === '*' || c === '+' || c === '?') {
      this.i++;
      lo = c === '+' ? 1 : 0;
    } else if (c === '{') {
      const m = /^\{(\d+)(,\d*)?\}/.exec(this.s.slice(this.i));
      if (!m) return a; // a literal `{`
      this.i += m[0].length;
      lo = Number(m[1]);
    } else return a;
    if (this.s[this.i] === '?') this.i++;
    return lo === 0 ? ANY : { min: a.min * lo, req: a.req };
  }

  atom(): Node {
    const c = this.s[this.i]!;
    if (c === '(') {
      this.i++;
      let look = false;
      if (this.s[this.i] === '?') {
        const m = /^\?(:|=|!|<=|<!|<[A-Za-z_]\w*>)/.exec(this.s.slice(this.i));
        if (!m) throw new Error('unknown group');
        this.i += m[0].length;
        look = m[1] === '=' || m[1] === '!' || m[1] === '<=' || m[1] === '<!';
      }
      const inner = this.alt();
      if (this.s[this.i] !== ')') throw new Error('missing )');
      this.i++;
      // lookarounds consume nothing (the atomic-group emulation's backreference is opaque too)
      return look ? ANY : inner;
    }
    if (c === ')' || c === '*' || c === '+' || c === '?') throw new Error(`unexpected ${c}`);
    if (c === '[') return this.cls();
    if (c === '.') {
      this.i++;
      return { min: 1, req: undefined };
    }
    if (c === '^' || c === '$') {
      this.i++;
      return ANY;
    }
    if (c === '\\') {
      const e = this.s[this.i + 1];
      if (e === undefined) throw new Error('trailing \\');
      if (e === 'b' || e === 'B') {
        this.i += 2;
        return ANY;
      }
      if (/[1-9]/.test(e)) {
        this.i += 2;
        while (/[0-9]/.test(this.s[this.i] ?? '')) this.i++;
        return ANY;
      }
      if (e === 'k') throw new Error('named backreference');
      return this.set(this.escape());
    }
    this.i++;
    return this.set([c.charCodeAt(0)]);
  }

  set(bytes: number[]): Node {
    const req = new Set(bytes.filter((b) => b <= 0xff));
    return { min: 1, req: req.size === 0 ? undefined : req };
  }

  /** An escape at this.i (outside or inside a class) → the bytes it matches. */
  escape(inClass = false): number[] {
    const e = this.s[this.i + 1]!;
    if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(this.s.slice(this.i + 2, this.i + 4))) {
      this.i += 4;
      return [Number.parseInt(this.s.slice(this.i - 2, this.i), 16)];
    }
    if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(this.s.slice(this.i + 2, this.i + 6))) {
      this.i += 6;
      return [Number.parseInt(this.s.slice(this.i - 4, this.i), 16)];
    }
    if (e === 'c' || e === 'x' || e === 'u' || /[1-9]/.test(e)) throw new Error(`escape \\${e}`);
    this.i += 2;
    if (e === '0' && /[0-9]/.test(this.s[this.i] ?? '')) throw new Error('octal escape');
    if (inClass && e === 'b') return [8];
    if (e === 'd') return DIGIT;
    if (e === 'D') return complement(DIGIT);
    if (e === 'w') return WORD;
    if (e === 'W') return complement(WORD);
    if (e === 's') return SPACE;
    if (e === 'S') return complement(SPACE);
    const simple = SIMPLE[e];
    if (simple !== undefined) return [simple];
    if (/[A-Za-z]/.test(e)) throw new Error(`escape \\${e}`);
    return [e.charCodeAt(0)];
  }

  cls(): Node {
    this.i++;
    let neg = false;
    if (this.s[this.i] === '^') {
      neg = true;
      this.i++;
    }
    const bytes = new Set<number>();
    const one = (): number[] => {
      if (this.s[this.i] === '\\') return this.escape(true);
      return [this.s.charCodeAt(this.i++)];
    };
    let first = true;
    while (this.i < this.s.length && (this.s[this.i] !== ']' || first)) {
      if (first && this.s[this.i] === ']') throw new Error('empty class');
      first = false;
      const lo = one();
      if (lo.length === 1 && this.s[this.i] === '-' && this.s[this.i + 1] !== ']' && this.i + 1 < this.s.length) {
        this.i++;
        const hi = one();
        if (hi.length !== 1) throw new Error('class range to a set');
        for (let k = lo[0]!; k <= hi[0]!; k++) bytes.add(k);
        continue;
      }
      for (const b of lo) bytes.add(b);
    }
    if (this.s[this.i] !== ']') throw new Error('unterminated class');
    this.i++;
    const list = neg ? complement([...bytes]) : [...bytes].filter((b) => b <= 0xff);
    if (list.length === 0) throw new Error('class matching nothing');
    return this.set(list);
  }
}

/** Requirements of a translated (JS) pattern; flags other than `s` give no requirement. */
export function requiredOf(jsSource: string, flags: string): Required {
  if (flags.replace('s', '') !== '') return { minLength: 0, bytes: undefined };
  try {
    const p = new Parser(jsSource);
    const n = p.alt();
    if (p.i !== jsSource.length) return { minLength: 0, bytes: undefined };
    let bytes: Uint8Array | undefined;
    // a set of (nearly) every byte filters nothing: not worth a scan
    if (n.req && n.req.size <= 128) {
      bytes = new Uint8Array(256);
      for (const b of n.req) bytes[b] = 1;
    }
    return { minLength: Number.isFinite(n.min) ? n.min : 0, bytes };
  } catch {
    return { minLength: 0, bytes: undefined };
  }
}

/** True when s holds at least one byte of the set (chars above 0xff never count). */
export function hasAnyByte(s: string, bytes: Uint8Array): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0xff && bytes[c] === 1) return true;
  }
  return false;
}
