/**
 * Search/replace inside PHP-serialized values without running PHP — what `wp search-replace`
 * does, done on bytes.
 *
 * A value that parses completely as PHP serialize() output is walked: every string VALUE
 * (array element or object property, at any depth) is replaced, and re-serialized with its
 * `s:N:` length recounted in UTF-8 bytes. A string value that itself holds serialized data
 * (WordPress double-serializes through maybe_serialize) is walked again, recursively.
 * Everything else is reproduced byte for byte: array keys, object class names, property
 * names (incl. the NUL-wrapped private/protected ones), i:/d:/b:/N; and r:/R: references,
 * E: enums and C: custom-serialized payloads (opaque: their format is class-defined).
 * Keys are not replaced, like wp-cli.
 *
 * A value that LOOKS serialized (starts like WordPress's is_serialized shapes) but does not
 * parse — truncated, wrong lengths — and contains a match is left unchanged and counted in
 * stats.malformed: wp-cli would str_replace it and break it further. Anything else is plain
 * text and gets a plain replace.
 *
 * Everything works on byte strings (see replacer.ts): `s:N` counts bytes, so a value with
 * multibyte characters gets the right length.
 *
 * Example:
 *   replaceInPhpValue('a:1:{s:3:"url";s:24:"https://old.example/x/yz";}', [['https://old.example', 'https://n.example']])
 *   // → 'a:1:{s:3:"url";s:22:"https://n.example/x/yz";}'
 */
import { compileReplacer, fromBytes, type ReplacePair, type Replacer, type RewriteStats, toBytes } from './replacer.ts';

/** Nesting (arrays + serialized-in-string) deeper than this is treated as not parseable. */
export const MAX_SERIALIZED_DEPTH = 256;

const RE_INT = /i:[+-]?[0-9]+;/y;
const RE_FLOAT = /d:(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|-?INF|NAN);/y;
const RE_BOOL = /b:[01];/y;
const RE_REF = /[rR]:[0-9]+;/y;
const RE_LEN_QUOTE = /([sCOE]):([0-9]+):"/y;
const RE_COUNT_BRACE = /([0-9]+):\{/y;
const RE_ARRAY = /a:([0-9]+):\{/y;

// "Looks serialized" = WordPress's is_serialized() shapes, judged on the start only: a
// truncated value (no closing `}`/`";`) is still serialized data to protect, not text.
const RE_LOOKS_SERIALIZED = /^(?:N;$|[bid]:[0-9.E+-]+;$|[sS]:[0-9]+:"|[aOCE]:[0-9]+:)/;
// PHP trim()'s default set, ASCII only: a JS trim() would also eat 0xA0, a UTF-8 continuation byte.
const WS_SET = '[ \\t\\r\\n\\0\\x0b]';
const WS = new RegExp(`^${WS_SET}*`);
const ALL_WS = new RegExp(`^${WS_SET}*$`);

function sticky(re: RegExp, s: string, i: number): RegExpExecArray | null {
  re.lastIndex = i;
  return re.exec(s);
}

class Walker {
  private readonly s: string;
  private readonly r: Replacer;
  private readonly stats: RewriteStats | undefined;
  private readonly depth: number;

  constructor(s: string, r: Replacer, stats: RewriteStats | undefined, depth: number) {
    this.s = s;
    this.r = r;
    this.stats = stats;
    this.depth = depth;
  }

  /** Parse one value at i, appending its rewritten form to out. Returns the end index, or -1. */
  value(i: number, out: string[], depth: number): number {
    if (depth > MAX_SERIALIZED_DEPTH) return -1;
    const s = this.s;
    switch (s.charCodeAt(i)) {
      case 0x4e: // N;
        if (s.charCodeAt(i + 1) !== 0x3b) return -1;
        out.push('N;');
        return i + 2;
      case 0x69: // i:
        return this.raw(RE_INT, i, out);
      case 0x64: // d:
        return this.raw(RE_FLOAT, i, out);
      case 0x62: // b:
        return this.raw(RE_BOOL, i, out);
      case 0x72: // r:
      case 0x52: // R:
        return this.raw(RE_REF, i, out);
      case 0x73: // s:N:"…";
        return this.string(i, out, depth);
      case 0x61: // a:N:{…}
        return this.array(i, out, depth);
      case 0x4f: // O:N:"Class":M:{…}
        return this.object(i, out, depth);
      case 0x43: // C:N:"Class":M:{payload}
        return this.custom(i, out);
      case 0x45: {
        // E:N:"Enum:Case";
        const m = sticky(RE_LEN_QUOTE, s, i);
        if (m?.[1] !== 'E') return -1;
        const end = RE_LEN_QUOTE.lastIndex + Number(m[2]);
        if (s.charCodeAt(end) !== 0x22 || s.charCodeAt(end + 1) !== 0x3b) return -1;
        out.push(s.slice(i, end + 2));
        return end + 2;
      }
      default:
        return -1;
    }
  }

  private raw(re: RegExp, i: number, out: string[]): number {
    const m = sticky(re, this.s, i);
    if (!m) return -1;
    out.push(m[0]);
    return re.lastIndex;
  }

  /** s:N:"bytes"; → start index of the bytes and end (after `";`), or undefined. */
  private stringSpan(i: number): { start: number; end: number } | undefined {
    const s = this.s;
    const m = sticky(RE_LEN_QUOTE, s, i);
    if (m?.[1] !== 's') return undefined;
    const start = RE_LEN_QUOTE.lastIndex;
    const end = start + Number(m[2]);
    if (end + 2 > s.length || s.charCodeAt(end) !== 0x22 || s.charCodeAt(end + 1) !== 0x3b) return undefined;
    return { start, end: end + 2 };
  }

  private string(i: number, out: string[], depth: number): number {
    const span = this.stringSpan(i);
    if (!span) return -1;
    const v = this.s.slice(span.start, span.end - 2);
    const nv = rewriteBytes(v, this.r, this.stats, depth + 1);
    out.push(`s:${nv.length}:"`, nv, '";');
    return span.end;
  }

  /** An array key or object property name: i:N; or s:N:"…"; — reproduced unchanged. */
  private key(i: number, out: string[]): number {
    const c = this.s.charCodeAt(i);
    if (c === 0x69) return this.raw(RE_INT, i, out);
    if (c !== 0x73) return -1;
    const span = this.stringSpan(i);
    if (!span) return -1;
    out.push(this.s.slice(i, span.end));
    return span.end;
  }

  private entries(i: number, n: number, out: string[], depth: number): number {
    let p = i;
    for (let k = 0; k < n; k++) {
      p = this.key(p, out);
      if (p < 0) return -1;
      p = this.value(p, out, depth + 1);
      if (p < 0) return -1;
    }
    if (this.s.charCodeAt(p) !== 0x7d) return -1;
    out.push('}');
    return p + 1;
  }

  private array(i: number, out: string[], depth: number): number {
    const m = sticky(RE_ARRAY, this.s, i);
    if (!m) return -1;
    out.push(m[0]);
    return this.entries(RE_ARRAY.lastIndex, Number(m[1]), out, depth);
  }

  /** `X:N:"Class":` → index after it, or -1 (class name kept as is). */
  private classHead(i: number, kind: string): number {
    const s = this.s;
    const m = sticky(RE_LEN_QUOTE, s, i);
    if (!m || m[1] !== kind) return -1;
    const end = RE_LEN_QUOTE.lastIndex + Number(m[2]);
    if (s.charCodeAt(end) !== 0x22 || s.charCodeAt(end + 1) !== 0x3a) return -1;
    return end + 2;
  }

  private object(i: number, out: string[], depth: number): number {
    const p = this.classHead(i, 'O');
    if (p < 0) return -1;
    const m = sticky(RE_COUNT_BRACE, this.s, p);
    if (!m) return -1;
    out.push(this.s.slice(i, RE_COUNT_BRACE.lastIndex));
    return this.entries(RE_COUNT_BRACE.lastIndex, Number(m[1]), out, depth);
  }

  private custom(i: number, out: string[]): number {
    const s = this.s;
    const p = this.classHead(i, 'C');
    if (p < 0) return -1;
    const m = sticky(RE_COUNT_BRACE, s, p);
    if (!m) return -1;
    const start = RE_COUNT_BRACE.lastIndex;
    const end = start + Number(m[1]);
    if (end >= s.length || s.charCodeAt(end) !== 0x7d) return -1;
    if (this.stats && this.r.test(s.slice(start, end))) this.stats.opaque++;
    out.push(s.slice(i, end + 1));
    return end + 1;
  }

  /** The whole string as one serialized value (ASCII whitespace around it kept), or undefined. */
  whole(): string | undefined {
    const s = this.s;
    const lead = WS.exec(s)?.[0].length ?? 0;
    const out: string[] = [s.slice(0, lead)];
    const end = this.value(lead, out, this.depth);
    if (end < 0) return undefined;
    const rest = s.slice(end);
    if (!ALL_WS.test(rest)) return undefined;
    out.push(rest);
    return out.join('');
  }
}

/** Does a byte string start like a serialized value (see RE_LOOKS_SERIALIZED)? */
export function looksSerialized(bytes: string): boolean {
  let i = 0;
  let j = bytes.length;
  while (i < j && isWs(bytes.charCodeAt(i))) i++;
  while (j > i && isWs(bytes.charCodeAt(j - 1))) j--;
  // The exact forms (N; b: i: d:) are short; for a long value only its start matters.
  return RE_LOOKS_SERIALIZED.test(j - i > 64 ? bytes.slice(i, i + 64) : bytes.slice(i, j));
}

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0 || c === 0x0b;
}

function rewriteBytes(bytes: string, r: Replacer, stats: RewriteStats | undefined, depth: number): string {
  if (!r.test(bytes)) return bytes;
  if (looksSerialized(bytes)) {
    const walked = depth <= MAX_SERIALIZED_DEPTH ? new Walker(bytes, r, stats, depth).whole() : undefined;
    if (walked !== undefined) return walked;
    if (stats) stats.malformed++;
    return bytes;
  }
  return r.replace(bytes, stats);
}

/**
 * The byte-level entry point (used by the SQL dump stream): `bytes` is a byte string (char
 * codes 0–255, e.g. `buf.toString('latin1')`); returns a byte string. Unchanged input is returned
 * as the same string (`===`), so callers can cheaply detect "nothing changed".
 */
export function replaceInPhpBytes(bytes: string, replacer: Replacer, stats?: RewriteStats): string {
  if (replacer.empty) return bytes;
  return rewriteBytes(bytes, replacer, stats, 0);
}

/**
 * The same on an ordinary JS string (its UTF-8 encoding is what `s:N` lengths count).
 * Pass a compiled Replacer when calling it many times.
 */
export function replaceInPhpValue(s: string, pairs: ReadonlyArray<ReplacePair> | Replacer, stats?: RewriteStats): string {
  const r = compileReplacer(pairs);
  if (r.empty) return s;
  const b = toBytes(s);
  const out = replaceInPhpBytes(b, r, stats);
  return out === b ? s : fromBytes(out);
}
